"""Incident search: BPQL over an incident and its alerts, folders, time window, sorting, pages."""

from __future__ import annotations

from collections.abc import Iterable

from .bpql import Lookup, Node, evaluate
from .models import STATUS_RANK, Incident
from .organization import Organization
from .render import folders

MAX_RESULTS = 10_000  # BigPanda stops at the 10,000th result


def incident_lookup(org: Organization, incident: Incident) -> Lookup:
    alerts = [org.alerts[a] for a in incident.alert_ids]

    def lookup(field: str) -> list[str]:
        own = {"status": incident.status, "severity": incident.severity, "id": incident.id,
               "active": str(incident.active).lower(), "flapping": str(incident.flapping).lower(),
               "snoozed": str(incident.snooze.snoozed).lower(), "assignee": incident.assignee or ""}
        if field in own:
            return [own[field]]
        if field.startswith("incident_tags."):
            value = incident.incident_tags.get(field.split(".", 1)[1])
            return [] if value is None else value.split("|")
        name = field[len("tags."):] if field.startswith("tags.") else field
        out: list[str] = []
        for a in alerts:
            attrs = {"primary_property": a.primary_property, "secondary_property": a.secondary_property or "",
                     "source_system": a.source_system, "incident_key": a.incident_key,
                     "description": a.description, "alert_status": a.status}
            value = a.tags.get(name, attrs.get(name))
            if value:
                out.extend(value.split("|"))
        return out

    return lookup


def matches(org: Organization, incident: Incident, node: Node) -> bool:
    return evaluate(node, incident_lookup(org, incident))


def search(org: Organization, incidents: Iterable[Incident], node: Node, *, folder: str | None,
           start: float | None, end: float | None, sort_by: str) -> list[Incident]:
    found = []
    for incident in incidents:
        if folder and folder not in folders(incident) + (["unhandled"] if not incident.assignee else []):
            continue
        ended = incident.end if incident.end is not None else float("inf")
        if start is not None and ended < start:
            continue
        if end is not None and incident.start > end:
            continue
        if matches(org, incident, node):
            found.append(incident)
    key = {"last_change": lambda i: -i.changed_at, "status": lambda i: (-STATUS_RANK[i.status], -i.changed_at),
           "start": lambda i: -i.start, "alerts": lambda i: (-len(i.alert_ids), -i.changed_at)}[sort_by]
    return sorted(found, key=key)[:MAX_RESULTS]
