"""Root Cause Changes (RCC): BigPanda's related changes of an incident, in ServiceNow.

Source: `GET /resources/v2.0/rcc?incident_id=<id>&include=change` (user API key), which lists
the changes related to the incident, each with its match certainty (MATCH, SUSPECT, NONE) and
comment. Target: one `x_bip_panda_related_change` row per (ticket, change): u_incident,
u_change_request (the change_request whose number is the change's identifier, when there is
one), u_change_identifier, u_match_certainty, u_comment. When exactly one related change is a
MATCH and is a change_request in ServiceNow, the ticket's `caused_by` is set to it; when that
stops being so, the core clears `caused_by` again if it was the core that set it (a value an
analyst set is never cleared; after a restart the core knows what it set from the instance: a
`caused_by` equal to the ticket's one MATCH row).

When to read (our choice; BigPanda allows 5 requests a second and an RCC change does not
reach the core as a share): each incident the core writes a ticket for is tracked; it is read
at once the first time, then at most once every `refresh_seconds` while it is open; once it
is resolved it is read at its next due time one last time and dropped. At most
`max_reads_per_poll` incidents are read per pass (most overdue first), one call each, through
the runner's paced BigPanda client; a read that fails is tried again after `retry_seconds`.
A pass runs after each poll that wrote tickets (`after_poll`) and, for quiet incidents, from
`run`, a module loop beside the runner (the runner calls companions only when shares came).
So an RCC set in BigPanda reaches ServiceNow within `refresh_seconds` plus one loop interval,
and a quiet open incident costs one BigPanda call per `refresh_seconds`.

What it follows, and the causes it set, are kept in the instance (rcc_history.py): a restarted
core reads them back before its first pass and goes on where it stood.

Requests per poll: the RCC reads above (BigPanda); identifiers -> change_request sys_ids
through the runner's ReferenceCache (cached); one Batch API request for every row and
`caused_by` of the poll (ServiceNow).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import httpx

from bpsn.base.clock import Clock
from bpsn.integration.clients.bigpanda import BigPandaError
from bpsn.integration.clients.http import ApiClient
from bpsn.integration.clients.lookups import ReferenceCache
from bpsn.integration.clients.servicenow import ServiceNowClient, ServiceNowError

from .alert_config import AlertConfigSettings
from .companion import CompanionHost, WrittenTicket
from .rcc_history import read_rcc_state
from .record_writes import PlannedRecord, RecordWriter, WriteOutcome, record_sys_id

log = logging.getLogger("bpsn.integration.rcc")
TABLE = "x_bip_panda_related_change"
CERTAINTIES = ("MATCH", "SUSPECT", "NONE")


@dataclass(frozen=True)
class RootCauseSettings:
    enabled: bool = False  # "Enable the RCC tab on the BigPanda incidents view?"
    refresh_seconds: float = 300.0  # an open incident's RCC is read at most this often
    retry_seconds: float = 60.0  # after a failed read
    max_reads_per_poll: int = 5  # one second of BigPanda's 5 requests / second
    set_caused_by: bool = True
    max_tracked: int = 5000  # open incidents followed at once; the oldest beyond are dropped

    @classmethod
    def from_alert_config(cls, config: AlertConfigSettings, **tuning: Any) -> RootCauseSettings:
        """On when the Alert Configuration's "Enable the RCC tab" is; `tuning` sets the rest."""
        return cls(enabled=config.rcc_tab, **tuning)

    def __post_init__(self) -> None:
        if self.refresh_seconds <= 0 or self.retry_seconds <= 0:
            raise ValueError("RCC: refresh_seconds and retry_seconds must be positive "
                             f"(got {self.refresh_seconds}, {self.retry_seconds})")
        if self.max_reads_per_poll < 1 or self.max_tracked < 1:
            raise ValueError("RCC: max_reads_per_poll and max_tracked must be at least 1 "
                             f"(got {self.max_reads_per_poll}, {self.max_tracked})")


@dataclass(frozen=True)
class RelatedChange:
    identifier: str  # the change's upsert key in BigPanda, e.g. its CHG number
    match_certainty: str
    comment: str


def parse_related(body: Any) -> list[RelatedChange]:
    """BigPanda's `{totalRelatedCount, relatedChanges: [...]}`; a clear error for another shape."""
    if not isinstance(body, dict) or not isinstance(body.get("relatedChanges"), list):
        raise ValueError(f"RCC answer without a relatedChanges list: {str(body)[:200]}")
    out = []
    for n, rel in enumerate(body["relatedChanges"]):
        change = rel.get("change") if isinstance(rel, dict) else None
        identifier = (change or {}).get("identifier") or (rel.get("change_id") if isinstance(rel, dict) else "")
        certainty = rel.get("match_certainty") if isinstance(rel, dict) else None
        if not identifier or certainty not in CERTAINTIES:
            raise ValueError(f"RCC relation {n} lacks a change identifier or a match certainty "
                             f"({'/'.join(CERTAINTIES)}): {str(rel)[:200]}")
        out.append(RelatedChange(str(identifier), str(certainty), str(rel.get("comment") or "")))
    return out


async def read_related_changes(api: ApiClient, incident_id: str) -> list[RelatedChange] | None:
    """The incident's related changes; None when BigPanda knows no such incident (404)."""
    r = await api.request("GET", "/resources/v2.0/rcc", params={"incident_id": incident_id, "include": "change"})
    if r.status_code == 404:
        return None
    if r.status_code != 200:
        raise BigPandaError(r)
    return parse_related(r.json())


def cause(related: list[RelatedChange], change_sys_ids: dict[str, str]) -> str:
    """The change_request sys_id of the one MATCH, or "" when there is none or more than one."""
    matches = [c for c in related if c.match_certainty == "MATCH"]
    return change_sys_ids.get(matches[0].identifier, "") if len(matches) == 1 else ""


def plan_related_changes(ticket_sys_id: str, related: list[RelatedChange],
                         change_sys_ids: dict[str, str]) -> list[PlannedRecord]:
    return [PlannedRecord(TABLE, record_sys_id("related_change", ticket_sys_id, c.identifier), {
        "u_incident": ticket_sys_id,
        "u_change_request": change_sys_ids.get(c.identifier, ""),
        "u_change_identifier": c.identifier,
        "u_match_certainty": c.match_certainty,
        "u_comment": c.comment,
    }) for c in related]


@dataclass
class Tracked:
    incident_id: str
    ticket_sys_id: str
    active: bool
    next_read_at: float


class RootCauseChanges:
    """The companion: reads due incidents' RCC after each poll and writes them in one batch."""

    def __init__(self, bigpanda: ApiClient, servicenow: ServiceNowClient, references: ReferenceCache,
                 clock: Clock, settings: RootCauseSettings, organization: str = "") -> None:
        self.bigpanda, self.references, self.clock, self.settings = bigpanda, references, clock, settings
        self.servicenow = servicenow
        self.writer = RecordWriter(servicenow)
        self.organization = organization  # what it follows is read back from the instance ("": memory only)
        self.loaded = not organization
        self.tracked: OrderedDict[str, Tracked] = OrderedDict()
        self.caused_by: dict[str, str] = {}  # ticket sys_id -> the change the core set as its cause
        self.reads = 0
        self._lock = asyncio.Lock()  # after_poll and the module loop never read at once
        self.last: WriteOutcome | None = None

    def _track(self, written: list[WrittenTicket], now: float) -> None:
        for w in written:
            incident_id = w.share["incident_id"]
            known = self.tracked.get(incident_id)
            active = bool(w.share["incident"].get("active", True))
            if known is None or known.ticket_sys_id != w.ticket.sys_id:  # new, or a new ticket
                self.tracked[incident_id] = Tracked(incident_id, w.ticket.sys_id, active, now)
            else:
                known.active = active
        while len(self.tracked) > self.settings.max_tracked:
            self.tracked.popitem(last=False)

    def due(self, now: float) -> list[Tracked]:
        ready = sorted((t for t in self.tracked.values() if t.next_read_at <= now), key=lambda t: t.next_read_at)
        return ready[: self.settings.max_reads_per_poll]

    async def after_poll(self, written: list[WrittenTicket]) -> None:
        """Track the tickets written, then read the incidents that are due."""
        if not self.settings.enabled:
            return
        self._track(written, self.clock.now())
        await self.refresh()

    async def run(self, stop: asyncio.Event, interval: float = 15.0) -> None:
        """Read due incidents every `interval` seconds, also when no share arrives (a quiet
        incident's RCC still changes); a module loop beside the runner."""
        while not stop.is_set():
            try:
                await self.refresh()
            except Exception as exc:  # noqa: BLE001 - the next pass reads the same incidents again
                log.error("RCC refresh failed: %s", exc)
            try:
                await asyncio.wait_for(stop.wait(), interval)
            except TimeoutError:
                pass

    async def refresh(self) -> None:
        """Read the due incidents' RCC (one call each) and write them in one batch."""
        async with self._lock:
            await self._refresh()

    async def load(self) -> None:
        """Follow again what the instance says is open, and know the causes the core set; on
        failure the pass goes on with what is in memory and the next one reads again."""
        try:
            stored = await read_rcc_state(self.servicenow, self.organization, self.settings.max_tracked,
                                          set(self.tracked))
        except (ServiceNowError, httpx.HTTPError) as exc:
            log.warning("RCC: what to follow not read from the instance, next pass tries again: %s", exc)
            return
        now = self.clock.now()
        for incident_id, ticket in stored.open_incidents:
            self.tracked.setdefault(incident_id, Tracked(incident_id, ticket, True, now))
        for ticket, change in stored.caused_by.items():
            self.caused_by.setdefault(ticket, change)
        self.loaded = True

    async def _refresh(self) -> None:
        if not self.settings.enabled:
            return
        if not self.loaded:
            await self.load()
        now = self.clock.now()
        read: list[tuple[Tracked, list[RelatedChange]]] = []
        for t in self.due(now):
            try:
                related = await read_related_changes(self.bigpanda, t.incident_id)
            except (BigPandaError, ValueError, OSError) as exc:
                log.warning("RCC of incident %s not read; tried again in %gs: %s", t.incident_id,
                            self.settings.retry_seconds, exc)
                t.next_read_at = now + self.settings.retry_seconds
                continue
            finally:
                self.reads += 1
            if related is None or not t.active:  # gone, or resolved and now read one last time
                del self.tracked[t.incident_id]
            else:
                t.next_read_at = now + self.settings.refresh_seconds
            if related is not None:
                read.append((t, related))
        if read:
            self.last = await self._write(read)

    async def _write(self, read: list[tuple[Tracked, list[RelatedChange]]]) -> WriteOutcome:
        identifiers = {c.identifier for _, related in read for c in related}
        sys_ids = await self.references.sys_ids("change_request", identifiers) if identifiers else {}
        planned: list[PlannedRecord] = []
        for t, related in read:
            planned += plan_related_changes(t.ticket_sys_id, related, sys_ids)
            if not self.settings.set_caused_by:
                continue
            wanted, ours = cause(related, sys_ids), self.caused_by.get(t.ticket_sys_id, "")
            if wanted:  # planned each read: the writer sends it only when it changed or failed before
                self.caused_by[t.ticket_sys_id] = wanted
                planned.append(PlannedRecord("incident", t.ticket_sys_id, {"caused_by": wanted}, may_create=False))
            elif not wanted and ours:  # the core's cause is no longer the one MATCH: take it back
                del self.caused_by[t.ticket_sys_id]
                planned.append(PlannedRecord("incident", t.ticket_sys_id, {"caused_by": ""}, may_create=False))
        return await self.writer.write(planned)


def attach(runner: CompanionHost, settings: RootCauseSettings) -> RootCauseChanges:
    """Add RCC to a runner's companions: its paced BigPanda client, ServiceNow client and lookups."""
    companion = RootCauseChanges(runner.bigpanda.api, runner.servicenow, runner.references, runner.clock,
                                 settings, runner.engine.settings.namespace)
    runner.companions.append(companion)
    return companion
