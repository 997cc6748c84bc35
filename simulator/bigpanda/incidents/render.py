"""Incidents and alerts in BigPanda's published shapes: V2, V1, and the share (webhook) object."""

from __future__ import annotations

from typing import Any

from bpsn.simulator.bigpanda.models import Alert, Incident
from bpsn.simulator.bigpanda.organization import Organization


def alert_v2(a: Alert) -> dict[str, Any]:
    fields = {
        "id": a.id, "status": a.status, "start": int(a.start), "end": int(a.end) if a.end else None,
        "changed_at": int(a.changed_at), "updated_at": int(a.updated_at),
        "last_event_at": int(a.last_event_at), "active": a.active,
        "primary_property": a.primary_property, "secondary_property": a.secondary_property,
        "source_system": a.source_system, "incident_key": a.incident_key,
        "description": a.description, "maintenance_plans": list(a.maintenance_plans),
        "acknowledged": a.acknowledged,
    }
    # tags sit beside the alert's own fields, which win: a tag named "id" must not spoof the id
    return {**{k: v for k, v in a.tags.items() if k not in fields}, **fields}


def alert_v1(a: Alert) -> dict[str, Any]:
    return {
        "id": a.id, "status": a.status, "active": a.active, "incident_key": a.incident_key,
        "primary_property": a.primary_property, "secondary_property": a.secondary_property,
        "source_system": a.source_system, "description": a.description,
        "startedOn": int(a.start), "changedOn": int(a.changed_at), "updatedOn": int(a.updated_at),
        "endedOn": int(a.end) if a.end else None,
        "tags": [{"name": k, "value": v} for k, v in a.tags.items()],
    }


def _snooze_v2(i: Incident) -> dict[str, Any]:
    return {"snoozed": i.snooze.snoozed, "end_time": int(i.snooze.end_time) if i.snooze.end_time else None,
            "cancel_on_incident_updates": i.snooze.cancel_on_incident_updates}


def _tickets(i: Incident) -> list[dict[str, Any]]:
    return [{"system": t.system, "number": t.number, "sys_id": t.sys_id, "url": t.url,
             "updated_at": int(t.updated_at)} for t in i.tickets]


def _matcher(org: Organization, key: tuple[str, ...]) -> dict[str, Any]:
    pattern = next((p for p in org.patterns if p.id == key[0]), None)
    names = pattern.tags if pattern else []
    return {"correlation_id": key[0], "time_window": pattern.window if pattern else None,
            "tags": [{"name": n, "value": v} for n, v in zip(names, key[1:], strict=False)]}


def incident_v2(org: Organization, i: Incident, *, expand_alerts: bool = False) -> dict[str, Any]:
    alerts = [org.alerts[a] for a in i.alert_ids]
    return {
        "id": i.id, "status": i.status, "severity": i.severity, "active": i.active, "assignee": i.assignee,
        "flapping": i.flapping, "shared": bool(i.tickets) or any(a.type == "incident_shared" for a in i.activities),
        "snooze": _snooze_v2(i), "maintenance": maintenance(alerts),
        "start": int(i.start), "changed_at": int(i.changed_at), "updated_at": int(i.updated_at),
        "end": int(i.end) if i.end else None,
        "alerts": [alert_v2(a) for a in alerts] if expand_alerts else [{"alert_id": a.id} for a in alerts],
        "environments": list(i.environments), "folders": folders(i, maintenance(alerts)),
        "incident_tags": [{"tag_id": k, "value": v} for k, v in i.incident_tags.items()],
        "correlation_matchers_log": [[_matcher(org, k) for k in i.correlation_keys]],
        "external_tickets": _tickets(i),
    }


def incident_v1(org: Organization, i: Incident, *, expand_alerts: bool = False) -> dict[str, Any]:
    alerts = [org.alerts[a] for a in i.alert_ids]
    return {
        "id": i.id, "status": i.status, "active": i.active, "flapping": i.flapping, "resolved": not i.active,
        "snooze": {"snoozed": i.snooze.snoozed, "wake": int(i.snooze.end_time) if i.snooze.end_time else None,
                   "autoCancel": i.snooze.cancel_on_incident_updates},
        "startedOn": int(i.start), "changedOn": int(i.changed_at), "updatedOn": int(i.updated_at),
        "endedOn": int(i.end) if i.end else None,
        "alerts": [alert_v1(a) for a in alerts] if expand_alerts else [a.id for a in alerts],
    }


def incident_share(org: Organization, i: Incident, console_url: str, environment_id: str) -> dict[str, Any]:
    """What a share carries: the incident with expanded alerts, as BigPanda's webhook object."""
    alerts = [org.alerts[a] for a in i.alert_ids]
    body = incident_v1(org, i)
    body.update(
        severity=i.severity,
        snooze={"snoozed": i.snooze.snoozed, "end_time": int(i.snooze.end_time) if i.snooze.end_time else None,
                "autoCancel": i.snooze.cancel_on_incident_updates},
        alerts=[alert_v1(a) for a in alerts],
        incident_tags=[{"tag_id": k, "value": v} for k, v in i.incident_tags.items()],
        environments=list(i.environments), version=i.version, maintenance=maintenance(alerts),
        links={
            "incident": f"{console_url}/#/app/overview/{environment_id}/active/incidents/{i.id}",
            "timeline": f"{console_url}/#/app/overview/{environment_id}/active/incidents/{i.id}/timeline",
            "preview": f"{console_url}/#/app/overview/{environment_id}/active/incidents/{i.id}/preview",
        },
        external_tickets=_tickets(i),
        # the Incident object's correlation log too: the share is that object with expanded alerts
        correlation_matchers_log=[[_matcher(org, k) for k in i.correlation_keys]],
    )
    return body


def maintenance(alerts: list[Alert]) -> str | None:
    """The incident's maintenance: "active" when every active alert is in a plan, "partial" when
    some are, else None.
    Alerts' plans are matched at alert events (Organization), not re-evaluated as plans end."""
    active = [a for a in alerts if a.active]
    held = sum(1 for a in active if a.maintenance_plans)
    if not held:
        return None
    return "active" if held == len(active) else "partial"


def folders(i: Incident, maintenance: str | None = None) -> list[str]:
    out = ["active"] if i.active else ["resolved"]
    if maintenance is not None:
        out.append("maintenance")
    if i.tickets:
        out.append("shared")
    if i.snooze.snoozed:
        out.append("snoozed")
    return out
