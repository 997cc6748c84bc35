"""Parent-child incidents for multi-alert grouping.

The design (the seed names the feature, "Parent-child incident hierarchies for multi-alert
grouping", and nothing more):

- A BigPanda incident that groups alerts from several sources is one ticket, the parent.
  The source of an alert is the value of `group_tag` (e.g. a service or region tag), or, by
  default, the alert's primary property value: its CI (host).
- Once the incident spans at least `min_groups` (2) sources, each source gets a child
  incident with `parent_incident` set to the ticket, its own short description, the list of
  its alerts, the impact and urgency of its worst open alert, and its CI (`cmdb_ci`) when a
  CI of that name is in the CMDB. An incident with one source has no children.
- Children follow their alerts: a child whose alerts are all resolved is Resolved (with the
  configured resolution code), and it goes back to In Progress when one of them fires again.
- The parent's `child_incidents` is the number of its children, written with them (a ticket
  that follows a closed one also names that one in `parent_incident`; it is not counted).
- Children are the core's, not BigPanda's: their `correlation_display` is "BigPanda child"
  (the delta watch reads `correlation_display=BigPanda` only, so resolving a child by hand
  does not resolve the BigPanda incident) and their `correlation_id` is
  "<incident id>/<source>" (the runner looks tickets up by the bare incident id, so a child
  is never taken for the ticket).

Idempotent: a child's sys_id is derived from the ticket's sys_id and the source; a replayed
share plans the same children. Requests per poll: CI names -> sys_ids through the runner's
ReferenceCache (cached), then one Batch API request for every child and parent of the poll.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bpsn.integration.clients.lookups import ReferenceCache
from bpsn.integration.clients.servicenow import ServiceNowClient
from bpsn.integration.engine.mapping import STATUS_RANK, alert_tag

from .companion import CompanionHost, WrittenTicket
from .incident_tasks import alert_lines, impact_urgency
from .record_writes import PlannedRecord, RecordWriter, WriteOutcome, record_sys_id

TABLE = "incident"
NEW, IN_PROGRESS, RESOLVED = "1", "2", "6"
CHILD_DISPLAY = "BigPanda child"


@dataclass(frozen=True)
class ParentChildSettings:
    enabled: bool = False
    group_tag: str = ""  # the alert tag that names an alert's source; "" = its primary property (the CI)
    min_groups: int = 2  # sources an incident must span before it gets children
    close_code: str = "Solution provided"  # a child's resolution code when its alerts resolve
    ci_lookup: bool = True  # set the child's cmdb_ci from the source name (cmdb_ci by name)

    def __post_init__(self) -> None:
        if self.min_groups < 2:
            raise ValueError(f"parent-child: min_groups must be at least 2 (got {self.min_groups}); "
                             "one source is the ticket itself")


def alert_source(alert: dict[str, Any], settings: ParentChildSettings) -> str:
    if settings.group_tag:
        return alert_tag(alert, settings.group_tag).strip()
    return alert_tag(alert, alert.get("primary_property") or "").strip()


def sources(incident: dict[str, Any], settings: ParentChildSettings) -> dict[str, list[dict[str, Any]]]:
    """source -> its alerts, when the incident spans enough sources to have children; else {}."""
    out: dict[str, list[dict[str, Any]]] = {}
    for alert in incident.get("alerts") or []:
        name = alert_source(alert, settings)
        if name:
            out.setdefault(name, []).append(alert)
    return out if settings.enabled and len(out) >= settings.min_groups else {}


def child_sys_id(ticket_sys_id: str, source: str) -> str:
    return record_sys_id("child_incident", ticket_sys_id, source)


def plan_children(incident: dict[str, Any], ticket_sys_id: str, ticket_number: str,
                  settings: ParentChildSettings, ci_sys_ids: dict[str, str]) -> list[PlannedRecord]:
    """The children of one ticket, and the ticket's child count; [] for a one-source incident."""
    groups = sources(incident, settings)
    if not groups:
        return []
    incident_id = str(incident.get("id", ""))
    planned = []
    for name, alerts in sorted(groups.items()):
        open_count = sum(1 for a in alerts if a.get("status") != "ok")
        impact, urgency = impact_urgency(alerts)
        status = max((str(a.get("status", "")) for a in alerts if a.get("status") != "ok"),
                     key=lambda s: STATUS_RANK.get(s, 0), default="resolved")
        fields = {
            "parent_incident": ticket_sys_id,
            "short_description": f"BigPanda {ticket_number or incident_id} child: {name} - {status}"[:160],
            "description": "\n".join([f"Alerts of {name} in BigPanda incident {incident_id}:",
                                      *alert_lines(alerts)])[:4000],
            "impact": impact, "urgency": urgency,
            "correlation_id": f"{incident_id}/{name}",
            "correlation_display": CHILD_DISPLAY,
        }
        if ci_sys_ids.get(name):
            fields["cmdb_ci"] = ci_sys_ids[name]
        on_create: dict[str, str] = {}
        if open_count:
            fields["state"] = IN_PROGRESS
            on_create["state"] = NEW
        else:
            fields.update(state=RESOLVED, close_code=settings.close_code,
                          close_notes=f"All BigPanda alerts of {name} resolved.")
        planned.append(PlannedRecord(TABLE, child_sys_id(ticket_sys_id, name), fields, on_create))
    planned.append(PlannedRecord(TABLE, ticket_sys_id, {"child_incidents": str(len(groups))}, may_create=False))
    return planned


class ParentChildIncidents:
    """The companion: after each poll, the children of every ticket written, in one batch."""

    def __init__(self, servicenow: ServiceNowClient, references: ReferenceCache,
                 settings: ParentChildSettings) -> None:
        self.references, self.settings = references, settings
        self.writer = RecordWriter(servicenow)
        self.last: WriteOutcome | None = None

    async def after_poll(self, written: list[WrittenTicket]) -> None:
        if not self.settings.enabled or not written:
            return
        names = {n for w in written for n in sources(w.share["incident"], self.settings)}
        cis = await self.references.sys_ids("cmdb_ci", names) if names and self.settings.ci_lookup else {}
        planned = [r for w in written for r in plan_children(w.share["incident"], w.ticket.sys_id,
                                                             w.ticket.number, self.settings, cis)]
        self.last = await self.writer.write(planned)


def attach(runner: CompanionHost, settings: ParentChildSettings) -> ParentChildIncidents:
    """Add parent-child incidents to a runner's companions (its ServiceNow client and lookups)."""
    companion = ParentChildIncidents(runner.servicenow, runner.references, settings)
    runner.companions.append(companion)
    return companion
