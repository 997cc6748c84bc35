"""What BigPanda adds to the dashboard (simulator/common/dashboard): incidents with the state of
their share and the tickets their callbacks recorded, the share queue, and the per-token limit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .backend import BigPandaBackend
from .models import Incident
from .organization import Organization

NEWEST_INCIDENTS = 100


def bigpanda_panel(backend: BigPandaBackend) -> Callable[[], dict[str, Any]]:
    def panel() -> dict[str, Any]:
        incidents: list[dict[str, Any]] = []
        queue = {"pending": 0, "leased": 0, "dead_letters": 0}
        for org in backend.orgs.values():
            states = _share_states(org)
            queue["pending"] += len(org.shares.pending())
            queue["leased"] += len(org.shares.leased())
            queue["dead_letters"] += len(org.shares.dead_letters) + len(org.push.dead_letters)
            incidents += [_incident(org, incident, states.get(incident.id, "")) for incident in org.incidents.values()]
        incidents.sort(key=lambda i: i["updated_at"], reverse=True)
        limits = backend.default_rate_limits()
        return {"incidents": incidents[:NEWEST_INCIDENTS], "queue": queue,
                "rate_limit_per_second": limits.per_second if limits.enabled else None}
    return panel


def _share_states(org: Organization) -> dict[str, str]:
    """Incident id -> where its share is; the later states win (a redelivery pending after a dead one)."""
    states = {share.incident_id: "dead letter" for share in org.shares.dead_letters}
    states.update({share.incident_id: "pending" for share in org.shares.pending()})
    states.update({share.incident_id: "leased" for share in org.shares.leased()})
    return states


def _incident(org: Organization, incident: Incident, share: str) -> dict[str, Any]:
    first = org.alerts.get(incident.alert_ids[0]) if incident.alert_ids else None
    title = (first.description or first.primary_property) if first is not None else ""
    return {"id": incident.id, "organization": org.name, "status": incident.status, "severity": incident.severity,
            "active": incident.active, "flapping": incident.flapping, "title": title,
            "updated_at": incident.updated_at, "share": share or ("delivered" if incident.tickets else ""),
            "tickets": [{"system": t.system, "number": t.number, "sys_id": t.sys_id, "url": t.url}
                        for t in incident.tickets]}
