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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bpsn.base.clock import Clock
from bpsn.integration.clients.batch import BatchError, BatchWrite, WriteCoalescer
from bpsn.integration.clients.bigpanda import BigPandaClient
from bpsn.integration.clients.import_set import share_columns, ticket_writer
from bpsn.integration.clients.lookups import ReferenceCache, TagDirectory
from bpsn.integration.clients.servicenow import ServiceNowClient, ServiceNowError
from bpsn.integration.config.settings import WritePath
from bpsn.integration.engine.incidents import IncidentEngine
from bpsn.integration.engine.mapping import references
from bpsn.integration.engine.messages import (
    Command,
    CreateTicket,
    Event,
    SendCallback,
    ShareReceived,
    TicketRef,
    TicketWriteFailed,
    TicketWritten,
    UpdateTicket,
)
from bpsn.integration.rules.in_force import RulesInForce

from .modules.companion import TicketCompanion, WrittenTicket, run_companions
from .outage import OutageGate, answers, is_outage
from .privacy import PrivacyPolicy, Pseudonymiser, to_bigpanda, to_servicenow
from .rules import Rule, RuleStore
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
    skipped: int = 0  # a transform rule kept the share out of ServiceNow
    errors: int = 0
    has_more: bool = False
    servicenow_down: bool = False  # the outage gate was closed: no share was taken
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    written: list[WrittenTicket] = field(default_factory=list)


class IntegrationRunner:
    def __init__(self, bigpanda: BigPandaClient, servicenow: ServiceNowClient, engine: IncidentEngine,
                 clock: Clock, *, instance_url: str, retrieval_count: int = 30, poll_interval: float = 15.0,
                 concurrency: int = 100, servicenow_user: str = "", write_path: WritePath = "import_set") -> None:
        self.bigpanda, self.servicenow, self.engine, self.clock = bigpanda, servicenow, engine, clock
        self.instance_url = instance_url.rstrip("/")
        self.retrieval_count = retrieval_count
        self.poll_interval = poll_interval
        self._limit = asyncio.Semaphore(concurrency)
        # ticket writes of one poll leave together: as staging rows through the Import Set API
        # (one insertMultiple and one read of the rows), or through the Batch API (one per 100)
        self.write_path = write_path
        self.writes = WriteCoalescer(ticket_writer(write_path, servicenow, self._ticket_fields))
        self.totals = PollReport()
        self.privacy: tuple[PrivacyPolicy, Pseudonymiser] | None = None
        self.rule_store = RuleStore(servicenow)
        self.rules = RulesInForce(self.rule_store, clock)
        self.companions: list[TicketCompanion] = []
        self._companion_run: asyncio.Task[None] | None = None
        self._callback_run: asyncio.Task[None] | None = None
        self.callback_failures = 0
        self.outage = OutageGate(first_wait=poll_interval)
        self.ticket_link: Callable[[str, str], str] | None = None  # (instance url, sys_id) -> URL
        # the wait between polls, (stop, poll_interval); None: sleep the interval
        self.between_cycles: Callable[[asyncio.Event, float], Awaitable[None]] | None = None
        self.references = ReferenceCache(servicenow, clock.now)
        self.directory = TagDirectory(bigpanda)
        self.watch = ServiceNowWatch(servicenow, bigpanda, engine, clock, user_name=servicenow_user,
                                     poll_interval=poll_interval, references=self.references,
                                     directory=self.directory)

    def _ticket_fields(self) -> list[str]:
        """The ticket fields the core reads: the lookup's, the updated ones and the tag-mapped ones."""
        return sorted(set(LOOKUP_FIELDS) | set(self.engine.settings.update_fields) | set(self.engine.tags.fields))

    def protect(self, policy: PrivacyPolicy, pseudonymiser: Pseudonymiser | None = None) -> None:
        """Clean personal data both ways: shares before the engine sees them, every body to BigPanda."""
        key = pseudonymiser or Pseudonymiser.from_env()
        self.privacy = (policy, key)
        self.bigpanda.outbound = lambda body: to_bigpanda(policy, body, key, self.directory.by_id)

    async def _cleaned(self, shares: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self.privacy is None:
            return shares
        policy, key = self.privacy
        await self.directory.named([t for s in shares for t in s["incident"].get("incident_tags") or []])
        return [to_servicenow(policy, s, key, self.directory.by_id) for s in shares]

    async def watch_once(self) -> int:
        """One pass of the ServiceNow delta watch (tickets changed by others -> BigPanda)."""
        if not self.engine.settings.active:
            return 0
        return await self.watch.poll_once()

    async def poll_once(self) -> PollReport:
        if not self.engine.settings.active:  # the module is off: shares wait in BigPanda's queue
            return PollReport()
        if self.outage.closed and not await self._servicenow_back():
            return PollReport(servicenow_down=True)  # shares wait in BigPanda, their deliveries unspent
        shares, has_more = await self.bigpanda.retrieve_shares(self.retrieval_count)
        report = PollReport(shares=len(shares), has_more=has_more)
        if not shares:
            await self._start_companions(report)  # a quiet poll: companions with due work of their own (RCC)
            return report
        try:
            return await self._handle(shares, report)
        except Exception as exc:
            if not is_outage(exc):
                raise
            self._servicenow_failed(exc)
            report.errors = len(shares)  # handed back at once: one delivery each, then they wait
            report.callbacks = [{"share_id": s["share_id"], "status": "error",
                                 "error": f"ServiceNow is unavailable: {exc}"[:4000]} for s in shares]
            await self._start_callbacks(report.callbacks)
            return report

    async def _servicenow_back(self) -> bool:
        """Is ServiceNow answering again? One probe when one is due."""
        now = self.clock.now()
        if not self.outage.probe_due(now):
            return False
        if not await answers(self.servicenow.api.http):
            self.outage.failed(now)
            log.warning("ServiceNow still unavailable; next probe in %.0f s (shares wait in BigPanda)",
                        self.outage.wait)
            return False
        log.info("ServiceNow answers again after %.0f s of outage; polling resumes", self.outage.opened(now))
        return True

    def _servicenow_failed(self, exc: BaseException) -> None:
        if not self.outage.closed:
            log.error("ServiceNow is unavailable (%s): the core takes no more shares until it answers", exc)
        self.outage.failed(self.clock.now())

    async def _handle(self, shares: list[dict[str, Any]], report: PollReport) -> PollReport:
        shares = await self._cleaned(shares)
        rules = await self.rules.current(self.engine.settings.namespace)
        existing = await self._existing_tickets([s["incident_id"] for s in shares])
        s = self.engine.settings
        named = bool(self.engine.tags.mappings or s.description_incident_tags or s.priority_in_short_description
                     or s.aia_in_description or s.aia_replaces_alert_summary)
        tags = {sh["share_id"]: await self.directory.named(sh["incident"].get("incident_tags") or [])
                if named else {} for sh in shares}
        for sh in shares:  # tags by name for the mapping (BigPanda sends ids)
            sh["incident"] = {**sh["incident"], "tag_values": tags[sh["share_id"]]}
        sys_ids = await self._references(shares, tags.values())
        outcomes = await asyncio.gather(*(self._process(s, existing.get(s["incident_id"]), report,
                                                        tags[s["share_id"]], sys_ids, rules) for s in shares))
        report.callbacks = [c for c in outcomes if c is not None]
        self._add_to_totals(report)
        await self._start_callbacks(report.callbacks)
        await self._start_companions(report)
        return report

    async def _references(self, shares: list[dict[str, Any]], tags: Any) -> dict[tuple[str, str], str]:
        """(table, name or email) -> sys_id for this batch: the settings' group, users and CIs, and
        the values of inbound reference tags; one query per table at most, cached."""
        wanted: dict[str, set[str]] = {}
        for share in shares:
            for table, key in references(share["incident"], self.engine.settings):
                wanted.setdefault(table, set()).add(key)
        for tag, table in self.engine.tags.references():
            wanted.setdefault(table, set()).update(t.get(tag, "") for t in tags)
        out: dict[tuple[str, str], str] = {}
        for table, keys in wanted.items():
            for key, sys_id in (await self.references.sys_ids(table, keys)).items():
                out[(table, key)] = sys_id
        return out

    async def _existing_tickets(self, incident_ids: list[str]) -> dict[str, TicketRef]:
        fields = self._ticket_fields()
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
                         url=self.ticket_url(row["sys_id"]), fields={k: str(v) for k, v in row.items()})

    def ticket_url(self, sys_id: str) -> str:
        """The link BigPanda shows for a ticket (the alert module may point it at the BigPanda view)."""
        return self.ticket_link(self.instance_url, sys_id) if self.ticket_link else \
            f"{self.instance_url}/nav_to.do?uri=incident.do?sys_id={sys_id}"

    async def _start_callbacks(self, callbacks: list[dict[str, Any]]) -> None:
        """The batch's acknowledgement leaves while the next batch is retrieved and written: at
        most one callback request in flight. A lost one is harmless: BigPanda hands the shares
        out again after their lease, and the tickets they find are the ones already written."""
        await self._settle_callbacks()
        if callbacks:
            self._callback_run = asyncio.create_task(self._send_callbacks(callbacks))

    async def _send_callbacks(self, callbacks: list[dict[str, Any]]) -> None:
        try:
            await self.bigpanda.send_callbacks(callbacks)
        except Exception as exc:  # the shares come back after their lease; nothing is lost
            log.error("callbacks for %d shares not delivered; BigPanda redelivers them: %s", len(callbacks), exc)
            self.callback_failures += 1

    async def _settle_callbacks(self) -> None:
        run, self._callback_run = self._callback_run, None
        if run is not None:
            await run

    async def _start_companions(self, report: PollReport) -> None:
        """The companions of this poll run together, beside the next retrieval: the tickets and
        their callbacks do not wait for them. One poll's companions at a time (`settle`)."""
        run, self._companion_run = self._companion_run, None
        if run is not None:
            await run
        if self.companions:
            self._companion_run = asyncio.create_task(self._companions(report.written))

    async def settle(self) -> None:
        """Wait until the last poll's callbacks and companions are done (tests, and before the
        core stops)."""
        await self._settle_callbacks()
        run, self._companion_run = self._companion_run, None
        if run is not None:
            await run

    async def _companions(self, written: list[WrittenTicket]) -> None:
        await run_companions(self.companions, written, self.servicenow)

    async def _process(self, share: dict[str, Any], existing: TicketRef | None, report: PollReport,
                       tags: dict[str, str], sys_ids: dict[tuple[str, str], str],
                       rules: list[Rule]) -> dict[str, Any] | None:
        self.watch.environment_of[share["incident_id"]] = share["environment_id"]
        event: Event | None = ShareReceived(share["share_id"], share["incident"], share["environment_id"],
                                            share["trigger"], existing, tuple(share.get("triggers") or ()),
                                            tags, sys_ids)
        callback: SendCallback | None = None
        wrote = skipped = False
        async with self._limit:
            first = True
            while event is not None:
                commands = self.engine.handle(event, self.clock.now())
                if first and rules:  # the share's own writes, not the link note that may follow
                    commands, skipped = await self.rules.apply(rules, share, commands, self.bigpanda.set_incident_tags)
                event, first = None, False
                for command in commands:
                    if isinstance(command, SendCallback):
                        callback = command
                    else:
                        event = await self._write(command, report, share)
                        wrote = True
        if callback is None:
            return None
        if callback.ticket is not None and not callback.error:
            report.written.append(WrittenTicket(share, callback.ticket))
        if callback.error:
            report.errors += 1
        elif skipped:
            report.skipped += 1
        elif not wrote:
            report.unchanged += 1
        return self._callback(callback)

    async def _write(self, command: Command, report: PollReport, share: dict[str, Any]) -> Event:
        try:
            previous = successor = None
            if isinstance(command, CreateTicket):
                row = await self._create(command, share)
                report.created += 1
                previous = command.previous
            elif isinstance(command, UpdateTicket):
                row = await self._update(command, share)
                report.updated += 1
                successor = command.successor
            else:  # pragma: no cover - the engine only emits the commands above
                raise TypeError(f"unknown command {command!r}")
        except (ServiceNowError, BatchError, OSError) as exc:
            if is_outage(exc):
                self._servicenow_failed(exc)
            log.warning("ServiceNow refused a write for incident %s: %s", command.incident_id, exc)
            return TicketWriteFailed(command.share_id, command.incident_id, str(exc))
        ticket = self._ref(row)
        log.info("ticket %s: incident=%s ticket=%s sys_id=%s", "created" if isinstance(command, CreateTicket)
                 else "updated", command.incident_id, ticket.number, ticket.sys_id)
        return TicketWritten(command.share_id, command.incident_id, ticket, previous, successor)

    async def _create(self, command: CreateTicket, share: dict[str, Any]) -> dict[str, Any]:
        try:
            return _result(await self.writes.write("POST", "incident", command.fields, command.sys_id,
                                                   share_columns(share)))
        except ServiceNowError as exc:
            # a create that reached ServiceNow before its answer was lost: the ticket is there
            existing = await self.servicenow.get("incident", command.sys_id) if exc.status_code == 403 else None
            if existing is None:
                raise
            return existing

    async def _update(self, command: UpdateTicket, share: dict[str, Any]) -> dict[str, Any]:
        return _result(await self.writes.write("PATCH", "incident", command.fields, command.ticket.sys_id,
                                               share_columns(share)))

    @staticmethod
    def _callback(command: SendCallback) -> dict[str, Any]:
        if command.error:
            return {"share_id": command.share_id, "status": "error", "error": command.error[:4000]}
        if command.ticket is None:  # a transform rule kept it out of ServiceNow: acknowledged
            return {"share_id": command.share_id, "status": "ok"}
        return {"share_id": command.share_id, "status": "ok",
                "ticket": {"number": command.ticket.number, "sys_id": command.ticket.sys_id,
                           "url": command.ticket.url}}

    def _add_to_totals(self, report: PollReport) -> None:
        t = self.totals
        t.shares += report.shares
        t.created += report.created
        t.updated += report.updated
        t.unchanged += report.unchanged
        t.skipped += report.skipped
        t.errors += report.errors

    async def cycle(self, extra: dict[str, Any] | None = None) -> PollReport | None:
        """The delta watch, then one poll; errors are logged (with `extra`) and the cycle goes on:
        the watch's cursor stays put and the share queue redelivers what was not acknowledged.
        The report, or None when the poll failed. While ServiceNow is out (the outage gate is
        closed) the watch waits too: the poll's probe says when it is back."""
        try:
            if not self.outage.closed:
                await self.watch_once()
        except Exception as exc:
            log.error("ServiceNow watch failed: %s", exc, extra=extra)
        try:
            return await self.poll_once()
        except Exception as exc:
            log.error("poll failed: %s", exc, extra=extra)
            return None

    def again(self, report: PollReport | None) -> bool:
        """Poll again at once: the last batch was full."""
        return report is not None and (report.has_more or report.shares >= self.retrieval_count)

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set: at once again after a full batch, else after the interval."""
        while not stop.is_set():
            if self.again(await self.cycle()):
                continue
            if self.between_cycles is not None:  # e.g. ServiceNow's change notifications (notifications.py)
                await self.between_cycles(stop, self.poll_interval)
                continue
            try:
                await asyncio.wait_for(stop.wait(), self.poll_interval)
            except TimeoutError:
                pass
        await self.settle()


def _result(write: BatchWrite) -> dict[str, Any]:
    """A batch item's record, or its refusal as the error a direct call would raise."""
    if write.ok and write.result is not None:
        return write.result
    raise ServiceNowError.from_status(write.status, write.error)
