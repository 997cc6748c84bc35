"""BigPanda incident -> ServiceNow incident fields: pure functions of the share and settings.

Defaults follow the v3 app's documented mapping: short description "BigPanda Incident:
{primary property of the primary alert} - {its status}", a description with alert counts,
tags and links, the BigPanda incident id in correlation_id.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from .tags import TagMapping

STATUS_RANK = {"critical": 3, "warning": 2, "unknown": 1, "ok": 0}
IMPACT_URGENCY = {"critical": ("1", "1"), "warning": ("2", "2"), "unknown": ("3", "2")}
CORRELATION_DISPLAY = "BigPanda"


@dataclass(frozen=True)
class IncidentSettings:
    update_fields: tuple[str, ...] = ("short_description", "description", "impact", "urgency")
    resolve_servicenow: bool = True
    close_code: str = "Solution provided"
    max_alerts_in_description: int = 10
    links_in_description: bool = True
    namespace: str = "demo"  # the BigPanda organisation: keeps ticket ids apart across organisations
    # lifecycle ("Configure the Incidents Module"), with the app's defaults
    block_resolve_while_flapping: bool = True  # Flapping - Block Resolve
    reopen_resolved: bool = True  # Re-open Resolved
    reopen_window_seconds: float = 1800.0  # Re-open Window (30 minutes); the edge itself is inside
    resolve_bigpanda: bool = True  # Resolve BigPanda Incident (ticket resolved in ServiceNow)
    send_closure_code: bool = True  # Send Closure Code (as a BigPanda comment)
    hold_reason: str = "4"  # Awaiting Vendor: the wait is on BigPanda's snooze, not on a caller
    hold_snooze_seconds: int = 24 * 3600  # On Hold in ServiceNow -> BigPanda snooze this long
    # Incident Tag Mapping: BigPanda Text tags <-> incident fields, each with its direction
    tag_mappings: tuple[TagMapping, ...] = ()
    tag_coalesce_seconds: float = 5.0  # outbound changes of one incident leave together


def alert_tag(alert: dict[str, Any], name: str) -> str:
    for tag in alert.get("tags", []):
        if tag.get("name") == name:
            return str(tag.get("value", ""))
    return ""


def primary_alert(incident: dict[str, Any]) -> dict[str, Any] | None:
    """The worst alert; the earliest of equals."""
    alerts = incident.get("alerts") or []
    if not alerts:
        return None
    return min(alerts, key=lambda a: (-STATUS_RANK.get(a.get("status", "ok"), 0), a.get("startedOn") or 0))


def short_description(incident: dict[str, Any]) -> str:
    alert = primary_alert(incident)
    if alert is None:
        return f"BigPanda Incident: {incident.get('id', '')} - {incident.get('status', '')}"
    primary = alert_tag(alert, alert.get("primary_property", "")) or alert.get("primary_property", "")
    return f"BigPanda Incident: {primary} - {alert.get('status', '')}"[:160]


def description(incident: dict[str, Any], settings: IncidentSettings) -> str:
    alerts = incident.get("alerts") or []
    counts = {s: sum(1 for a in alerts if a.get("status") == s) for s in ("critical", "warning", "unknown", "ok")}
    lines = [f"{counts['critical']} Critical, {counts['warning']} Warning, {counts['unknown']} Unknown, "
             f"{counts['ok']} Resolved", ""]
    for alert in alerts[: settings.max_alerts_in_description]:
        primary = alert_tag(alert, alert.get("primary_property", ""))
        secondary = alert_tag(alert, alert.get("secondary_property") or "")
        lines.append(f"[{alert.get('status', '').upper()}] {primary}" + (f" / {secondary}" if secondary else "")
                     + (f": {alert['description']}" if alert.get("description") else ""))
    if len(alerts) > settings.max_alerts_in_description:
        lines.append(f"... and {len(alerts) - settings.max_alerts_in_description} more alerts")
    links = incident.get("links") or {}
    if settings.links_in_description and links:
        lines += ["", f"BigPanda incident: {links.get('incident', '')}",
                  f"Timeline: {links.get('timeline', '')}", f"Preview: {links.get('preview', '')}"]
    return "\n".join(lines)[:4000]


def ticket_fields(incident: dict[str, Any], settings: IncidentSettings) -> dict[str, str]:
    impact, urgency = IMPACT_URGENCY.get(incident.get("severity") or incident.get("status", ""), ("3", "3"))
    return {
        "short_description": short_description(incident),
        "description": description(incident, settings),
        "impact": impact, "urgency": urgency,
        "correlation_id": str(incident.get("id", "")),
        "correlation_display": CORRELATION_DISPLAY,
    }


def ticket_sys_id(namespace: str, incident_id: str, generation: int = 0) -> str:
    """The ServiceNow sys_id of an incident's ticket, derived so a retried create is refused.
    Generation n > 0 is the n-th ticket that follows a closed or expired one."""
    key = incident_id if generation == 0 else f"{incident_id}#{generation}"
    return hashlib.sha256(f"bpsn:{namespace}:{key}".encode()).hexdigest()[:32]


def ticket_generation(namespace: str, incident_id: str, sys_id: str, limit: int = 1000) -> int:
    """Which generation a ticket's sys_id is; 0 for a ticket we did not derive."""
    for n in range(limit):
        if ticket_sys_id(namespace, incident_id, n) == sys_id:
            return n
    return 0
