"""The changes forwarder: ServiceNow change_request, change_task and cmdb_ci_outage records
-> BigPanda changes (for Root Cause Changes) and maintenance plans.

Each pass follows the three tables with a delta cursor each (integration/clients/delta_cursor.py),
page after page until nothing is new, gathers the CI lookups of a page at once, and for
every new row:

- change_request / change_task: upserts the change (`POST /data/changes`) unless the body
  is the one last sent for that identifier; a change request also gets its maintenance plan
  created, updated, stopped or deleted (maintenance.py decides);
- cmdb_ci_outage: the outage's maintenance plan only.

Rate: changes are counted in a budget of 400 a minute and 50,000 a week (BigPanda's limits).
When it is spent the change tables stop for this pass with their cursors on the first row not
sent, and the next pass goes on from there; nothing is skipped. 429s and 5xx are retried by
the HTTP client; when BigPanda still fails (or cannot be reached) the pass stops and the row
is read again next time. A 4xx that retrying cannot fix (a refused body) is reported with the
record's number and BigPanda's message, and the cursor moves on: the record is sent again
when it next changes.

Plans are found by `maintenance_key` (the record's number): all plans are listed once at
the first pass, and kept up to date from BigPanda's answers.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from bpsn.base.clock import Clock, glide
from bpsn.integration.clients.bigpanda import BigPandaError
from bpsn.integration.clients.delta_cursor import DeltaCursor, read_changed
from bpsn.integration.clients.rate_budget import RateBudget, Window
from bpsn.integration.clients.servicenow import ServiceNowClient, ServiceNowError

from .ci_resolution import CiResolution, resolve_ci
from .client import ChangesApi
from .lookups import SOURCES, CiLookupGatherer
from .maintenance import (
    CreatePlan,
    DeletePlan,
    KeepPlan,
    KnownPlan,
    NoPlan,
    PlanCommand,
    PlanWindow,
    StopPlan,
    UpdatePlan,
    decide,
    plan_for_change,
    plan_for_outage,
)
from .mapping import ChangeMappingError, ChangeSettings, change_body

log = logging.getLogger("bpsn.integration.changes")
COMMON = ["sys_id", "number", "short_description", "description", "cmdb_ci", "opened_at", "opened_by",
          "sys_created_on", "sys_updated_on", "sys_mod_count"]
FIELDS = {
    "change_request": COMMON + ["state", "type", "start_date", "end_date", "business_service"],
    "change_task": COMMON + ["state", "planned_start_date", "planned_end_date", "business_service", "change_request"],
    "cmdb_ci_outage": ["sys_id", "number", "short_description", "cmdb_ci", "type", "begin", "end", "task_number",
                       "sys_updated_on", "sys_mod_count"],
}
TABLES = ("change_request", "change_task", "cmdb_ci_outage")


class BudgetSpent(Exception):
    """The changes budget is spent: stop the change tables for this pass."""


class Unreachable(Exception):
    """BigPanda failed after the client's retries: stop the pass, read the row again next time."""


@dataclass
class ChangesReport:
    changes_sent: int = 0
    unchanged: int = 0
    plans: Counter[str] = field(default_factory=Counter)  # created / updated / stopped / deleted / kept
    ci_levels: Counter[str] = field(default_factory=Counter)  # ci / affected_ci / ... / none
    rejected: list[str] = field(default_factory=list)
    deferred: str = ""  # the changes budget stopped the change tables before the end
    budget_wait: float = 0.0  # seconds until the changes budget takes one more
    failure: str = ""  # BigPanda or ServiceNow failed (after retries): the pass stopped there

    def add(self, other: ChangesReport) -> None:
        self.changes_sent += other.changes_sent
        self.unchanged += other.unchanged
        self.plans.update(other.plans)
        self.ci_levels.update(other.ci_levels)
        self.rejected += other.rejected


def _retryable(exc: BigPandaError) -> bool:
    return exc.status_code == 429 or exc.status_code >= 500


class ChangesForwarder:
    def __init__(self, servicenow: ServiceNowClient, api: ChangesApi, gatherer: CiLookupGatherer, clock: Clock,
                 settings: ChangeSettings, *, lookback: float = 86400.0, batch: int = 100,
                 poll_interval: float = 60.0, changes_per_minute: int = 400, changes_per_week: int = 50_000) -> None:
        self.servicenow, self.api, self.gatherer, self.clock = servicenow, api, gatherer, clock
        self.settings = settings
        self.batch, self.poll_interval = batch, poll_interval
        start = glide(clock.now() - lookback)
        self.cursors = {table: DeltaCursor(start) for table in TABLES}
        self.budget = RateBudget(Window(changes_per_minute, 60.0, "changes per minute"),
                                 Window(changes_per_week, 7 * 86400.0, "changes per week"))
        self._sent: dict[str, str] = {}  # identifier -> the body last accepted, as JSON
        self._plans: dict[str, KnownPlan] | None = None
        self.totals = ChangesReport()

    async def poll_once(self) -> ChangesReport:
        report = ChangesReport()
        try:
            if self._plans is None:
                self._plans = {p["maintenance_key"]: KnownPlan.from_api(p)
                               for p in await self.api.maintenance_plans() if p.get("maintenance_key")}
            for table in TABLES:
                try:
                    await self._table(table, report)
                except BudgetSpent as spent:
                    report.deferred = str(spent)
                    log.info("changes budget spent (%s); %s goes on next pass", spent, table)
        except (Unreachable, BigPandaError, ServiceNowError, httpx.HTTPError, OSError) as exc:
            report.failure = str(exc) or type(exc).__name__
            log.warning("changes pass stopped; the same rows are read next pass: %s", report.failure)
        self.totals.add(report)
        return report

    async def _table(self, table: str, report: ChangesReport) -> None:
        """Page after page until the table has nothing new (or the budget or BigPanda stops it)."""
        while rows := await read_changed(self.servicenow, table, self.cursors[table], fields=FIELDS[table],
                                         limit=self.batch):
            await self._page(table, rows, report)

    async def _page(self, table: str, rows: list[dict[str, Any]], report: ChangesReport) -> None:
        cursor = self.cursors[table]
        gathered = await self.gatherer.gather(SOURCES[table], rows)
        for row in rows:
            lookups = gathered.lookups[str(row["sys_id"])]
            resolution = resolve_ci(lookups)
            try:
                if table == "cmdb_ci_outage":
                    await self._maintain(plan_for_outage(row, resolution, self.settings), report)
                else:
                    parent = gathered.parents.get(str(row.get("change_request") or ""), {})
                    await self._forward(table, row, resolution, str(parent.get("number") or ""), report)
                    if table == "change_request":  # the plan does not wait for BigPanda's yes to the change
                        await self._maintain(plan_for_change(row, resolution, self.settings), report)
            except ChangeMappingError as exc:
                report.rejected.append(str(exc))
                log.error("%s", exc)
            report.ci_levels[resolution.level or "none"] += 1
            cursor.advance(row)

    async def _forward(self, table: str, row: dict[str, Any], resolution: CiResolution, parent_number: str,
                       report: ChangesReport) -> None:
        """Upsert the change. A record that maps to no change raises ChangeMappingError; a body
        BigPanda refuses for good is reported."""
        body = change_body(table, row, resolution, self.settings, parent_number)
        fingerprint = json.dumps(body, sort_keys=True)
        if self._sent.get(body["identifier"]) == fingerprint:
            report.unchanged += 1
            return
        now = self.clock.now()
        wait = self.budget.wait(now)
        if wait > 0:
            report.budget_wait = wait
            raise BudgetSpent(f"{self.budget.blocking(now)} spent: the next change fits in {wait:.0f} s")
        self.budget.take(now)
        try:
            await self.api.upsert_change(body)
        except BigPandaError as exc:
            if _retryable(exc):
                raise Unreachable(str(exc)) from exc
            message = f"BigPanda refused change {body['identifier']} ({table}): {exc}"
            report.rejected.append(message)
            log.error("%s", message)
            return
        self._sent[body["identifier"]] = fingerprint
        report.changes_sent += 1

    async def _maintain(self, want: PlanWindow | NoPlan, report: ChangesReport) -> None:
        assert self._plans is not None
        command = decide(want, self._plans.get(want.key), self.clock.now())
        try:
            await self._carry_out(command, report)
        except BigPandaError as exc:
            if _retryable(exc):
                raise Unreachable(str(exc)) from exc
            if exc.status_code == 404 and not isinstance(command, (CreatePlan, KeepPlan)):
                # the plan was deleted in BigPanda: forget it and decide again from nothing
                self._plans.pop(want.key, None)
                await self._carry_out(decide(want, None, self.clock.now()), report)
                return
            message = f"BigPanda refused the maintenance plan of {want.key}: {exc}"
            report.rejected.append(message)
            log.error("%s", message)

    async def _carry_out(self, command: PlanCommand, report: ChangesReport) -> None:
        assert self._plans is not None
        if isinstance(command, CreatePlan):
            plan = await self.api.create_plan(command.want.body())
            self._plans[command.want.key] = KnownPlan.from_api(plan)
            report.plans["created"] += 1
        elif isinstance(command, UpdatePlan):
            plan = await self.api.update_plan(command.plan.id, command.changes)
            self._plans[command.plan.key] = KnownPlan.from_api(plan)
            report.plans["updated"] += 1
        elif isinstance(command, StopPlan):
            plan = await self.api.stop_plan(command.plan.id)
            self._plans[command.plan.key] = KnownPlan.from_api(plan)
            report.plans["stopped"] += 1
            log.info("maintenance plan %s stopped: %s", command.plan.id, command.reason)
        elif isinstance(command, DeletePlan):
            await self.api.delete_plan(command.plan.id)
            self._plans.pop(command.plan.key, None)
            report.plans["deleted"] += 1
            log.info("maintenance plan %s deleted: %s", command.plan.id, command.reason)
        else:
            assert isinstance(command, KeepPlan)
            report.plans["kept"] += 1
            log.debug("maintenance of %s unchanged: %s", command.key, command.reason)

    async def run(self, stop: asyncio.Event) -> None:
        """Pass after pass until `stop` is set; sooner again when the budget frees up."""
        while not stop.is_set():
            try:
                report = await self.poll_once()
            except Exception as exc:  # the cursors stay put: the next pass reads the same rows
                log.error("changes pass failed: %s", exc)
                report = ChangesReport()
            pause = self.poll_interval
            if report.budget_wait:
                pause = max(1.0, min(pause, report.budget_wait))
            try:
                await asyncio.wait_for(stop.wait(), pause)
            except TimeoutError:
                pass
