"""The I/O half of the core: polls shares, feeds them to the engine, carries out its commands.

Its state lives in ServiceNow (the ticket's correlation_id is the BigPanda incident id) and
in BigPanda's share queue (unacknowledged shares come back), so a restarted core resumes
where it stopped and a share delivered twice finds the ticket the first delivery made.
An incident may have several tickets (a new one follows a closed or expired one): the
newest, by sys_created_on, is the incident's ticket. Each cycle also runs the ServiceNow
delta watch (integration/watch.py) first, so a ticket resolved by hand reaches BigPanda
before a share rendered after it could reopen it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from bpsn.clock import Clock

from .clients.bigpanda import BigPandaClient
from .clients.lookups import ReferenceCache, TagDirectory
from .clients.servicenow import ServiceNowClient, ServiceNowError
from .engine.incidents import IncidentEngine
from .engine.messages import (Command, CreateTicket, Event, SendCallback, ShareReceived, TicketRef,
                              TicketWriteFailed, TicketWritten, UpdateTicket)
from .watch import ServiceNowWatch

log = logging.getLogger("bpsn.integration")
LOOKUP_FIELDS = ["sys_id", "number", "state", "correlation_id", "resolved_at", "hold_reason", "parent_incident",
                 "sys_created_on"]


@dataclass
class PollReport:
    shares: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: int = 0
    has_more: bool = False
    callbacks: list[dict[str, Any]] = field(default_factory=list)


class IntegrationRunner:
    def __init__(self, bigpanda: BigPandaClient, servicenow: ServiceNowClient, engine: IncidentEngine,
                 clock: Clock, *, instance_url: str, retrieval_count: int = 30, poll_interval: float = 15.0,
                 concurrency: int = 8, servicenow_user: str = "") -> None:
        self.bigpanda, self.servicenow, self.engine, self.clock = bigpanda, servicenow, engine, clock
        self.instance_url = instance_url.rstrip("/")
        self.retrieval_count = retrieval_count
        self.poll_interval = poll_interval
        self._limit = asyncio.Semaphore(concurrency)
        self.totals = PollReport()
        self.references = ReferenceCache(servicenow, clock.now)
        self.directory = TagDirectory(bigpanda)
        self.watch = ServiceNowWatch(servicenow, bigpanda, engine, clock, user_name=servicenow_user,
                                     poll_interval=poll_interval, references=self.references,
                                     directory=self.directory)

    async def watch_once(self) -> int:
        """One pass of the ServiceNow delta watch (tickets changed by others -> BigPanda)."""
        return await self.watch.poll_once()

    async def poll_once(self) -> PollReport:
        shares, has_more = await self.bigpanda.retrieve_shares(self.retrieval_count)
        report = PollReport(shares=len(shares), has_more=has_more)
        if not shares:
            return report
        existing = await self._existing_tickets([s["incident_id"] for s in shares])
        mapped = bool(self.engine.tags.mappings)  # no mappings: no tag names needed, no BigPanda call
        tags = {s["share_id"]: await self.directory.named(s["incident"].get("incident_tags") or [])
                if mapped else {} for s in shares}
        sys_ids = await self._tag_references(tags.values())
        outcomes = await asyncio.gather(*(self._process(s, existing.get(s["incident_id"]), report,
                                                        tags[s["share_id"]], sys_ids) for s in shares))
        report.callbacks = [c for c in outcomes if c is not None]
        if report.callbacks:
            await self.bigpanda.send_callbacks(report.callbacks)
        self._add_to_totals(report)
        return report

    async def _tag_references(self, tags: Any) -> dict[tuple[str, str], str]:
        """(table, name) -> sys_id for the values of inbound reference tags in this batch."""
        out: dict[tuple[str, str], str] = {}
        for tag, table in self.engine.tags.references():
            names = {t.get(tag, "") for t in tags}
            for name, sys_id in (await self.references.sys_ids(table, names)).items():
                out[(table, name)] = sys_id
        return out

    async def _existing_tickets(self, incident_ids: list[str]) -> dict[str, TicketRef]:
        fields = sorted(set(LOOKUP_FIELDS) | set(self.engine.settings.update_fields) | set(self.engine.tags.fields))
        rows = await self.servicenow.query("incident", "correlation_idIN" + ",".join(incident_ids)
                                           + "^ORDERBYDESCsys_created_on",
                                           fields=fields, limit=max(100, len(incident_ids) * 4))
        by_incident: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_incident.setdefault(row["correlation_id"], []).append(row)
        found: dict[str, TicketRef] = {}
        for incident_id, tickets in by_incident.items():
            # newest first; within one second, the ticket no other ticket names as its parent
            parents = {t.get("parent_incident") for t in tickets}
            newest = [t for t in tickets if t["sys_id"] not in parents] or tickets
            found[incident_id] = self._ref(newest[0])
        return found

    def _ref(self, row: dict[str, Any]) -> TicketRef:
        return TicketRef(sys_id=row["sys_id"], number=row.get("number", ""), state=row.get("state", ""),
                         url=f"{self.instance_url}/nav_to.do?uri=incident.do?sys_id={row['sys_id']}",
                         fields={k: str(v) for k, v in row.items()})

    async def _process(self, share: dict[str, Any], existing: TicketRef | None, report: PollReport,
                       tags: dict[str, str], sys_ids: dict[tuple[str, str], str]) -> dict[str, Any] | None:
        self.watch.environment_of[share["incident_id"]] = share["environment_id"]
        event: Event | None = ShareReceived(share["share_id"], share["incident"], share["environment_id"],
                                            share["trigger"], existing, tuple(share.get("triggers") or ()),
                                            tags, sys_ids)
        callback: SendCallback | None = None
        wrote = False
        async with self._limit:
            while event is not None:
                commands = self.engine.handle(event, self.clock.now())
                event = None
                for command in commands:
                    if isinstance(command, SendCallback):
                        callback = command
                    else:
                        event = await self._write(command, report)
                        wrote = True
        if callback is None:
            return None
        if callback.error:
            report.errors += 1
        elif not wrote:
            report.unchanged += 1
        return self._callback(callback)

    async def _write(self, command: Command, report: PollReport) -> Event:
        try:
            previous = successor = None
            if isinstance(command, CreateTicket):
                row = await self._create(command)
                report.created += 1
                previous = command.previous
            elif isinstance(command, UpdateTicket):
                row = await self.servicenow.update("incident", command.ticket.sys_id, command.fields)
                report.updated += 1
                successor = command.successor
            else:  # pragma: no cover - the engine only emits the commands above
                raise TypeError(f"unknown command {command!r}")
        except ServiceNowError as exc:
            log.warning("ServiceNow refused a write for incident %s: %s", command.incident_id, exc)
            return TicketWriteFailed(command.share_id, command.incident_id, str(exc))
        return TicketWritten(command.share_id, command.incident_id, self._ref(row), previous, successor)

    async def _create(self, command: CreateTicket) -> dict[str, Any]:
        try:
            return await self.servicenow.create("incident", {**command.fields, "sys_id": command.sys_id})
        except ServiceNowError as exc:
            # a create that reached ServiceNow before its answer was lost: the ticket is there
            existing = await self.servicenow.get("incident", command.sys_id) if exc.status_code == 403 else None
            if existing is None:
                raise
            return existing

    @staticmethod
    def _callback(command: SendCallback) -> dict[str, Any]:
        if command.error:
            return {"share_id": command.share_id, "status": "error", "error": command.error[:4000]}
        assert command.ticket is not None
        return {"share_id": command.share_id, "status": "ok",
                "ticket": {"number": command.ticket.number, "sys_id": command.ticket.sys_id,
                           "url": command.ticket.url}}

    def _add_to_totals(self, report: PollReport) -> None:
        t = self.totals
        t.shares += report.shares
        t.created += report.created
        t.updated += report.updated
        t.unchanged += report.unchanged
        t.errors += report.errors

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set: at once again after a full batch, else after the interval."""
        while not stop.is_set():
            try:
                await self.watch_once()
            except Exception as exc:  # the watch's cursor stays put: the next pass reads the same rows
                log.error("ServiceNow watch failed: %s", exc)
            try:
                report = await self.poll_once()
                again = report.has_more or report.shares >= self.retrieval_count
            except Exception as exc:  # keep polling: the share queue redelivers what was not acknowledged
                log.error("poll failed: %s", exc)
                again = False
            if again:
                continue
            try:
                await asyncio.wait_for(stop.wait(), self.poll_interval)
            except TimeoutError:
                pass
