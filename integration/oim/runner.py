"""The OIM forwarder: selected ServiceNow records -> BigPanda alerts through OIM.

First it makes sure the OIM integration is configured as the core needs (events.py): it reads
the stored configuration and creates or updates it when it differs. Then each pass follows
the selected table with a delta cursor (integration/clients/delta_cursor.py), page after page until
nothing is new, finds each record's CI
with the changes module's four-level chain, and sends the events in bodies under 6 MB
(batching.py), at most `requests_per_second` requests a second on the core's clock.

Nothing is dropped in silence:
- a record too large for a body on its own is reported (record, size, limit) and skipped;
- a body BigPanda refuses with 400 or 413 is split in two and each half sent again, down to
  single records; a single record refused is reported with BigPanda's message;
- 429 / 5xx are retried by the HTTP client; if BigPanda still fails the pass stops and the
  cursor stays on the first record not sent (a body sent twice is harmless: OIM answers a
  repeated event with 204);
- a 404 (the configuration is gone) stops the pass and configures again on the next one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from bpsn.base.clock import Clock, glide
from bpsn.integration.changes.ci_resolution import resolve_ci
from bpsn.integration.changes.lookups import CiLookupGatherer, RecordSource
from bpsn.integration.clients.bigpanda import BigPandaError
from bpsn.integration.clients.delta_cursor import DeltaCursor, read_changed
from bpsn.integration.clients.rate_budget import RateBudget, Window
from bpsn.integration.clients.servicenow import ServiceNowClient, ServiceNowError

from .batching import MAX_EVENTS, MAX_OIM_BODY, Batch, TooLarge, body_bytes, encode, pack
from .client import OimApi
from .events import OimSelection, desired_config, record_event

log = logging.getLogger("bpsn.integration.oim")


class Unreachable(Exception):
    """BigPanda failed after the client's retries: stop the pass, send again next time."""


@dataclass
class OimReport:
    config: str = ""  # created / updated / unchanged, when checked in this pass
    records: int = 0  # records handled (sent or reported)
    requests: int = 0
    alerts: int = 0  # events BigPanda accepted
    largest_body: int = 0
    rejected: list[str] = field(default_factory=list)
    failure: str = ""  # BigPanda or ServiceNow failed (after retries): the pass stopped there


class OimForwarder:
    def __init__(self, servicenow: ServiceNowClient, api: OimApi, gatherer: CiLookupGatherer, clock: Clock,
                 selection: OimSelection, *, lookback: float = 3600.0, batch: int = 100,
                 poll_interval: float = 60.0, requests_per_second: int = 5, max_body: int = MAX_OIM_BODY,
                 max_events: int = MAX_EVENTS,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.servicenow, self.api, self.gatherer, self.clock = servicenow, api, gatherer, clock
        self.selection = selection
        self.batch, self.poll_interval = batch, poll_interval
        self.max_body, self.max_events = max_body, max_events
        self.cursor = DeltaCursor(glide(clock.now() - lookback))
        self.budget = RateBudget(Window(requests_per_second, 1.0, "OIM requests per second"))
        self._sleep = sleep
        self._configured = False

    async def ensure_config(self) -> str:
        """Create or update the OIM configuration; returns created, updated or unchanged."""
        desired = desired_config(self.selection)
        await self._paced()
        current = await self.api.get_config()
        if current is not None and current.get("config") == desired["config"]:
            outcome = "unchanged"
        else:
            await self._paced()
            await self.api.put_config(desired)
            outcome = "created" if current is None else "updated"
        self._configured = True
        return outcome

    async def poll_once(self) -> OimReport:
        report = OimReport()
        try:
            if not self._configured:
                report.config = await self.ensure_config()
            while rows := await read_changed(self.servicenow, self.selection.table, self.cursor,
                                             base=self.selection.query, fields=self.selection.fields,
                                             limit=self.batch):
                await self._forward(rows, report)
        except (Unreachable, BigPandaError, ServiceNowError, httpx.HTTPError, OSError) as exc:
            report.failure = str(exc) or type(exc).__name__
            log.warning("OIM pass stopped; the same records are read next pass: %s", report.failure)
        return report

    async def _forward(self, rows: list[dict[str, Any]], report: OimReport) -> None:
        gathered = await self.gatherer.gather(RecordSource(self.selection.table, True), rows)
        events = [(f"{self.selection.table} {row.get('number') or row['sys_id']}",
                   record_event(row, resolve_ci(gathered.lookups[str(row["sys_id"])]), self.selection))
                  for row in rows]
        for unit in pack(self.api.app_key, events, limit=self.max_body, max_events=self.max_events):
            if isinstance(unit, TooLarge):
                report.rejected.append(unit.message)
                log.error("%s", unit.message)
                indexes: tuple[int, ...] = (unit.index,)
            else:
                await self._send(unit, events, report)
                indexes = unit.indexes
            for i in indexes:
                self.cursor.advance(rows[i])
                report.records += 1

    async def _send(self, batch: Batch, events: list[tuple[str, dict[str, Any]]], report: OimReport) -> None:
        await self._paced()
        try:
            await self.api.send_alerts(batch.body)
        except BigPandaError as exc:
            if exc.status_code == 429 or exc.status_code >= 500:
                raise Unreachable(str(exc)) from exc
            if exc.status_code == 404:
                self._configured = False
                raise Unreachable(f"{exc} (configured again next pass)") from exc
            if exc.status_code in (400, 413) and len(batch.indexes) > 1:
                half = len(batch.indexes) // 2
                for part in (batch.indexes[:half], batch.indexes[half:]):
                    body = body_bytes(self.api.app_key, [encode(events[i][1]) for i in part])
                    await self._send(Batch(part, body), events, report)
                return
            message = f"BigPanda refused {events[batch.indexes[0]][0]} as an OIM alert: {exc}"
            report.rejected.append(message)
            log.error("%s", message)
            return
        report.requests += 1
        report.alerts += len(batch.indexes)
        report.largest_body = max(report.largest_body, batch.size)

    async def _paced(self) -> None:
        wait = self.budget.wait(self.clock.now())
        if wait > 0:
            await self._sleep(wait)
        self.budget.take(self.clock.now())

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.poll_once()
            except Exception as exc:  # the cursor stays put: the next pass reads the same records
                log.error("OIM pass failed: %s", exc)
            try:
                await asyncio.wait_for(stop.wait(), self.poll_interval)
            except TimeoutError:
                pass
