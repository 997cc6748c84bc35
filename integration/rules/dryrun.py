"""Dry runs against what BigPanda holds now, reading only.

The incidents come from BigPanda's Incidents API V2 (search, active folder, alerts expanded),
not from the share queue: retrieving shares would lease them away from the core. Each is put
in the share's shape and mapped to ticket fields as for a new ticket; the rules then run in
dry-run mode. Nothing is written to either system.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bpsn.integration.clients.http import ApiClient
from bpsn.integration.engine.mapping import IncidentSettings, ticket_fields

from .evaluator import RulesOutcome, evaluate
from .model import Rule

# an alert's own fields in API V2; every other key of a V2 alert is one of its tags
V2_ALERT_FIELDS = frozenset({"id", "status", "start", "end", "changed_at", "updated_at", "last_event_at", "active",
                             "primary_property", "secondary_property", "source_system", "incident_key",
                             "description", "maintenance_plans", "acknowledged"})
PAGE_SIZE = 10  # the most BigPanda returns per page with expand=alerts


class DryRunError(RuntimeError):
    pass


@dataclass(frozen=True)
class DryRunResult:
    incident_id: str
    outcome: RulesOutcome


def share_incident_from_v2(item: Mapping[str, Any]) -> dict[str, Any]:
    """A V2 incident (alerts expanded) in the share's shape: V1 alerts with a tags list."""
    alerts = []
    for a in item.get("alerts") or []:
        alerts.append({
            "id": a.get("id"), "status": a.get("status"), "active": a.get("active"),
            "primary_property": a.get("primary_property"), "secondary_property": a.get("secondary_property"),
            "source_system": a.get("source_system"), "description": a.get("description", ""),
            "incident_key": a.get("incident_key"), "startedOn": a.get("start"), "changedOn": a.get("changed_at"),
            "tags": [{"name": k, "value": v} for k, v in a.items() if k not in V2_ALERT_FIELDS]})
    return {"id": item.get("id"), "status": item.get("status"), "severity": item.get("severity"),
            "active": item.get("active"), "flapping": item.get("flapping"), "snooze": item.get("snooze") or {},
            "startedOn": item.get("start"), "changedOn": item.get("changed_at"), "alerts": alerts,
            "incident_tags": list(item.get("incident_tags") or []), "environments": item.get("environments") or []}


async def active_incidents(bigpanda: ApiClient, limit: int) -> list[dict[str, Any]]:
    """Up to `limit` active incidents, newest change first, over every environment (once each)."""
    r = await bigpanda.request("GET", "/resources/v2.0/environments")
    if r.status_code != 200:
        raise DryRunError(f"BigPanda answered {r.status_code} for the environments: {r.text[:200]}")
    found: dict[str, dict[str, Any]] = {}
    for env in r.json():
        page = 1
        while len(found) < limit:
            r = await bigpanda.request("GET", f"/resources/v2.0/environments/{env['id']}/incidents", params={
                "folder": "active", "expand": "alerts", "page_size": PAGE_SIZE, "page": page})
            if r.status_code != 200:
                raise DryRunError(f"BigPanda answered {r.status_code} searching environment {env['id']}: "
                                  f"{r.text[:200]}")
            items = r.json()["items"]
            for item in items:
                found.setdefault(str(item["id"]), share_incident_from_v2(item))
            if len(items) < PAGE_SIZE:
                break
            page += 1
    return list(found.values())[:limit]


def dry_run(rules: Iterable[Rule], incidents: Iterable[Mapping[str, Any]],
            settings: IncidentSettings | None = None, *, include_inactive: bool = True) -> list[DryRunResult]:
    """Every rule (inactive ones too, by default: dry runs are for rules not yet enabled) on the
    ticket each incident would get."""
    settings = settings or IncidentSettings()
    rules = list(rules)
    return [DryRunResult(str(incident.get("id", "")),
                         evaluate(rules, incident, ticket_fields(dict(incident), settings), dry_run=True,
                                  include_inactive=include_inactive))
            for incident in incidents]
