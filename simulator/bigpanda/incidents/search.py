"""Incident search: BPQL over an incident and its alerts, folders, time window, sorting, pages."""

from __future__ import annotations

from collections.abc import Iterable

from bpsn.simulator.bigpanda.bpql import Node, evaluate
from bpsn.simulator.bigpanda.models import STATUS_RANK, Incident
from bpsn.simulator.bigpanda.organization import Organization

from .lookup import incident_lookup
from .render import folders

MAX_RESULTS = 10_000  # BigPanda stops at the 10,000th result


def matches(org: Organization, incident: Incident, node: Node) -> bool:
    return evaluate(node, incident_lookup(org.alerts, incident))


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
