"""Similar incidents, with a score and a sentence of reasoning.

Where they come from (our choice): BigPanda publishes no similar-incidents API (the seed
speaks of "Similar Incidents detection using machine learning", but no endpoint is in the
reference), so the core computes them itself, from what it already holds and at no request
to BigPanda: the alert tags of the incidents it wrote tickets for before.

- An incident's signature is the set of its alerts' tags as "name=value" (host, check, and
  every other tag; `ignore_tags` leaves volatile ones out).
- Its score against an earlier incident is the Jaccard similarity of the two signatures
  (shared tags / all tags of both). Earlier incidents scoring at least `threshold` are
  similar; the best `limit` of them are kept, best first (ties: the more recent first).
- The reasoning says how many tags are shared, which ones (the first few), and whether the
  two share a CI (an alert's primary property value) and a check (its secondary one).
- One `x_bip_panda_similar_incident` row per (ticket, similar incident): u_incident,
  u_similar_bp_incident_id, u_similar_incident (the earlier ticket), u_score (two decimals),
  u_reasoning. When new alerts change a signature, the list is computed again; rows of
  incidents no longer similar are deleted.

History: the newest `max_history` incidents, kept in the instance (the staged shares and the
similar rows; similar_history.py): a restarted core reads it back before its first pass, so
a restart loses nothing. Requests per poll: one Batch API request for every row of the poll.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import httpx

from bpsn.integration.clients.servicenow import ServiceNowClient, ServiceNowError
from bpsn.integration.engine.mapping import alert_tag

from .alert_config import AlertConfigSettings
from .companion import CompanionHost, WrittenTicket
from .record_writes import PlannedRecord, RecordWriter, WriteOutcome, record_sys_id
from .similar_history import read_history

log = logging.getLogger("bpsn.integration.modules")

TABLE = "x_bip_panda_similar_incident"
SHOWN_TAGS = 5  # shared tags named in the reasoning


@dataclass(frozen=True)
class SimilarSettings:
    enabled: bool = False  # "Enable the similar incidents tab for the BigPanda incidents view?"
    threshold: float = 0.5
    limit: int = 5
    max_history: int = 1000
    ignore_tags: tuple[str, ...] = ()

    @classmethod
    def from_alert_config(cls, config: AlertConfigSettings, **tuning: Any) -> SimilarSettings:
        """On when the Alert Configuration's "Enable the similar incidents tab" is; `tuning` sets the rest."""
        return cls(enabled=config.similar_incidents_tab, **tuning)

    def __post_init__(self) -> None:
        if not 0 < self.threshold <= 1:
            raise ValueError(f"similar incidents: threshold must be in (0, 1] (got {self.threshold})")
        if self.limit < 1 or self.max_history < 1:
            raise ValueError(f"similar incidents: limit and max_history must be at least 1 "
                             f"(got {self.limit}, {self.max_history})")


@dataclass(frozen=True)
class Signature:
    incident_id: str
    ticket_sys_id: str
    ticket_number: str
    tags: frozenset[str]  # "name=value"
    cis: frozenset[str]  # primary property values
    checks: frozenset[str]  # secondary property values


@dataclass(frozen=True)
class Similar:
    other: Signature
    score: float
    reasoning: str


def signature(incident: dict[str, Any], ticket_sys_id: str, ticket_number: str,
              settings: SimilarSettings) -> Signature:
    alerts = incident.get("alerts") or []
    tags = frozenset(f"{t.get('name')}={t.get('value')}" for a in alerts for t in a.get("tags") or []
                     if t.get("name") and str(t.get("value", "")) and t.get("name") not in settings.ignore_tags)
    cis = frozenset(v for a in alerts if (v := alert_tag(a, a.get("primary_property") or "")))
    checks = frozenset(v for a in alerts if (v := alert_tag(a, a.get("secondary_property") or "")))
    return Signature(str(incident.get("id", "")), ticket_sys_id, ticket_number, tags, cis, checks)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    union = a | b
    return len(a & b) / len(union) if union else 0.0


def reasoning(this: Signature, other: Signature, score: float) -> str:
    shared = sorted(this.tags & other.tags)
    named = ", ".join(shared[:SHOWN_TAGS]) + (f" and {len(shared) - SHOWN_TAGS} more" if len(shared) > SHOWN_TAGS
                                              else "")
    text = (f"Shares {len(shared)} of {len(this.tags | other.tags)} alert tags with "
            f"{other.ticket_number or other.incident_id} (Jaccard {score:.2f}): {named}.")
    if this.cis & other.cis:
        text += f" Same CI: {', '.join(sorted(this.cis & other.cis))}."
    if this.checks & other.checks:
        text += f" Same check: {', '.join(sorted(this.checks & other.checks))}."
    return text[:4000]


def rank_similar(this: Signature, earlier: list[Signature], settings: SimilarSettings) -> list[Similar]:
    """The earlier incidents similar to `this`, best first; `earlier` is oldest first."""
    scored = [(jaccard(this.tags, o.tags), n, o) for n, o in enumerate(earlier) if o.incident_id != this.incident_id]
    kept = sorted((s for s in scored if s[0] >= settings.threshold), key=lambda s: (-s[0], -s[1]))
    return [Similar(o, score, reasoning(this, o, score)) for score, _, o in kept[: settings.limit]]


def row_sys_id(ticket_sys_id: str, other_incident_id: str) -> str:
    return record_sys_id("similar_incident", ticket_sys_id, other_incident_id)


def plan_rows(this: Signature, similar: list[Similar], dropped: set[str]) -> list[PlannedRecord]:
    """Rows for `similar`, and deletions for the incidents (ids) in `dropped`."""
    rows = [PlannedRecord(TABLE, row_sys_id(this.ticket_sys_id, s.other.incident_id), {
        "u_incident": this.ticket_sys_id,
        "u_similar_bp_incident_id": s.other.incident_id,
        "u_similar_incident": s.other.ticket_sys_id,
        "u_score": f"{s.score:.2f}",
        "u_reasoning": s.reasoning,
    }) for s in similar]
    rows += [PlannedRecord(TABLE, row_sys_id(this.ticket_sys_id, other), {}, delete=True) for other in sorted(dropped)]
    return rows


class SimilarIncidents:
    """The companion: after each poll, the similar incidents of every ticket whose alerts changed."""

    def __init__(self, servicenow: ServiceNowClient, settings: SimilarSettings, organization: str = "") -> None:
        self.settings = settings
        self.servicenow = servicenow
        self.writer = RecordWriter(servicenow)
        self.organization = organization  # the instance's history is read back for it ("": memory only)
        self.loaded = not organization
        self.history: OrderedDict[str, Signature] = OrderedDict()  # incident id -> signature, oldest first
        self.matched: dict[str, set[str]] = {}  # ticket sys_id -> similar incident ids written
        self.last: WriteOutcome | None = None

    async def after_poll(self, written: list[WrittenTicket]) -> None:
        if not self.settings.enabled or not written:
            return
        if not self.loaded:  # without this poll's incidents: staging has just staged them
            await self.load(skip={str(w.share["incident"].get("id", "")) for w in written})
        planned: list[PlannedRecord] = []
        for w in written:
            this = signature(w.share["incident"], w.ticket.sys_id, w.ticket.number, self.settings)
            if self.history.get(this.incident_id) == this:
                continue  # nothing new about this incident
            self.history.pop(this.incident_id, None)
            similar = rank_similar(this, list(self.history.values()), self.settings)
            now_ids = {s.other.incident_id for s in similar}
            planned += plan_rows(this, similar, self.matched.get(this.ticket_sys_id, set()) - now_ids)
            self.matched[this.ticket_sys_id] = now_ids
            self.history[this.incident_id] = this
            while len(self.history) > self.settings.max_history:
                gone = self.history.popitem(last=False)[1]
                self.matched.pop(gone.ticket_sys_id, None)
        if planned:
            self.last = await self.writer.write(planned)


    async def load(self, skip: frozenset[str] | set[str] = frozenset()) -> None:
        """The history as the instance keeps it, but the incidents in `skip`; on failure the pass goes on with what is in memory
        and the next pass reads again."""
        try:
            stored = await read_history(self.servicenow, self.organization, self.settings.max_history, skip)
        except (ServiceNowError, httpx.HTTPError) as exc:
            log.warning("similar incidents: history not read from the instance, next poll tries again: %s", exc)
            return
        for incident, ticket_sys_id, number in stored.incidents:
            sig = signature(incident, ticket_sys_id, number, self.settings)
            if sig.incident_id not in self.history and sig.incident_id not in skip:
                self.history[sig.incident_id] = sig
        for ticket, ids in stored.matched.items():
            self.matched.setdefault(ticket, set()).update(ids)
        self.loaded = True


def attach(runner: CompanionHost, settings: SimilarSettings) -> SimilarIncidents:
    """Add similar incidents to a runner's companions (its ServiceNow client); the history of the
    runner's organisation is read back from the instance."""
    companion = SimilarIncidents(runner.servicenow, settings, runner.engine.settings.namespace)
    runner.companions.append(companion)
    return companion
