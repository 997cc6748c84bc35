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

AIA_TAG = "ai_summary"  # the BigPanda incident tag carrying the AIA summary (our choice: no public field)
AIA_HEADING = "AI summary:"
STATUS_RANK = {"critical": 3, "warning": 2, "unknown": 1, "ok": 0}
IMPACT_URGENCY = {"critical": ("1", "1"), "warning": ("2", "2"), "unknown": ("3", "2")}
CORRELATION_DISPLAY = "BigPanda"


@dataclass(frozen=True)
class IncidentSettings:
    active: bool = True  # Active: the Incidents module's master switch (off: shares wait in BigPanda)
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
    # Incidents settings of the seed's table; names and emails are resolved to sys_ids by the runner
    assignment_group: str = ""  # Assignment Group (a group name)
    caller_email: str = ""  # Caller ID Email
    opened_by_email: str = ""  # Opened By Email
    resolved_by_email: str = ""  # Resolved By Email (set when the core resolves the ticket)
    cmdb_ci_tag: str = ""  # CMDB CI Field: the primary alert's tag naming the CI (e.g. host)
    primary_alert_criteria: tuple[str, ...] = ()  # "tag=value" or "tag": the first alert meeting most
    priority_in_short_description: bool = False  # "[<priority tag>] " before the short description
    priority_tag: str = "priority"
    description_incident_tags: tuple[str, ...] = ()  # incident tags listed in the description
    description_alert_tags: tuple[str, ...] = ()  # alert tags listed under each alert
    description_to_work_notes: bool = False  # the description also as a work note when it changes
    incident_button: bool = True  # Show UI Action Button to Incident in BP (its URL in the metadata)
    timeline_button: bool = True  # Show UI Action Button to Incident Timeline in BP
    aia_in_description: bool = False  # AIA in Description: the AI summary heads the description
    aia_replaces_alert_summary: bool = False  # (Alert Configuration) ... and the alert summary goes
    aia_tag: str = AIA_TAG
    # Incident Tag Mapping: BigPanda Text tags <-> incident fields, each with its direction
    tag_mappings: tuple[TagMapping, ...] = ()
    # Incident URL base (the connection page): the BigPanda console the links point at; "": the
    # links as BigPanda sends them
    console_url: str = ""
    tag_coalesce_seconds: float = 5.0  # outbound changes of one incident leave together


def alert_tag(alert: dict[str, Any], name: str) -> str:
    for tag in alert.get("tags", []):
        if tag.get("name") == name:
            return str(tag.get("value", ""))
    return ""


def _meets(alert: dict[str, Any], criterion: str) -> bool:
    name, has_value, value = criterion.partition("=")
    name, value = name.strip(), value.strip()
    actual = str(alert.get(name, "")) if name in ("status", "primary_property", "source_system") \
        else alert_tag(alert, name)
    return actual == value if has_value else bool(actual)


def primary_alert(incident: dict[str, Any], criteria: tuple[str, ...] = ()) -> dict[str, Any] | None:
    """The alert meeting most of `criteria` (Primary Alert); then the worst; then the earliest."""
    alerts = incident.get("alerts") or []
    if not alerts:
        return None
    return min(alerts, key=lambda a: (-sum(_meets(a, c) for c in criteria),
                                      -STATUS_RANK.get(a.get("status", "ok"), 0), a.get("startedOn") or 0))


def incident_tag(incident: dict[str, Any], name: str) -> str:
    """An incident tag by name (the runner adds `tag_values`) or by id as BigPanda sends it."""
    named = incident.get("tag_values") or {}
    if name in named:
        return str(named[name])
    for tag in incident.get("incident_tags") or []:
        if tag.get("tag_id") == name or tag.get("name") == name:
            return str(tag.get("value", ""))
    return ""


def short_description(incident: dict[str, Any], settings: IncidentSettings | None = None) -> str:
    s = settings or IncidentSettings()
    alert = primary_alert(incident, s.primary_alert_criteria)
    priority = incident_tag(incident, s.priority_tag) if s.priority_in_short_description else ""
    prefix = f"[{priority}] " if priority else ""
    if alert is None:
        return f"{prefix}BigPanda Incident: {incident.get('id', '')} - {incident.get('status', '')}"[:160]
    primary = alert_tag(alert, alert.get("primary_property", "")) or alert.get("primary_property", "")
    return f"{prefix}BigPanda Incident: {primary} - {alert.get('status', '')}"[:160]


def console_links(incident: dict[str, Any], console_url: str) -> dict[str, str]:
    """The share's incident / timeline / preview links, on `console_url` when it is set: the
    console's route (from `/#/`) is kept, its scheme and host are the configured base's."""
    links = {k: str(v) for k, v in (incident.get("links") or {}).items()}
    if not console_url:
        return links
    base = console_url.rstrip("/")
    return {k: base + v[v.index("/#/"):] if "/#/" in v else v for k, v in links.items()}


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
        lines += [f"    {name}: {value}" for name in settings.description_alert_tags
                  if (value := alert_tag(alert, name))]
    if len(alerts) > settings.max_alerts_in_description:
        lines.append(f"... and {len(alerts) - settings.max_alerts_in_description} more alerts")
    tags = [f"{name}: {value}" for name in settings.description_incident_tags
            if (value := incident_tag(incident, name))]
    if tags:
        lines += ["", "Incident tags:", *tags]
    links = console_links(incident, settings.console_url)
    if settings.links_in_description and links:
        lines += ["", f"BigPanda incident: {links.get('incident', '')}",
                  f"Timeline: {links.get('timeline', '')}", f"Preview: {links.get('preview', '')}"]
    return "\n".join(lines)[:4000]


def description_with_aia(description: str, summary: str, *, replace_alert_summary: bool) -> str:
    """The ticket description with the AIA summary first. The alert summary is the description's
    first block (the counts line, a blank line, the alert lines) up to the next blank line;
    with `replace_alert_summary` it is left out. No summary: the description as it is."""
    summary = summary.strip()
    if not summary:
        return description
    lines = description.split("\n")
    if replace_alert_summary:
        blanks = [n for n, line in enumerate(lines) if not line.strip()]
        lines = lines[blanks[1] + 1:] if len(blanks) > 1 else []
    rest = "\n".join(lines).strip("\n")
    return (f"{AIA_HEADING}\n{summary}" + (f"\n\n{rest}" if rest else ""))[:4000]


def references(incident: dict[str, Any], settings: IncidentSettings) -> list[tuple[str, str]]:
    """(table, name or email) pairs the runner must resolve to sys_ids for this incident."""
    s = settings
    out = [("sys_user_group", s.assignment_group), ("sys_user", s.caller_email), ("sys_user", s.opened_by_email),
           ("sys_user", s.resolved_by_email)]
    if s.cmdb_ci_tag and (alert := primary_alert(incident, s.primary_alert_criteria)) is not None:
        out.append(("cmdb_ci", alert_tag(alert, s.cmdb_ci_tag)))
    return [(table, key) for table, key in out if key]


def ticket_fields(incident: dict[str, Any], settings: IncidentSettings,
                  sys_ids: dict[tuple[str, str], str] | None = None) -> dict[str, str]:
    """`sys_ids`: (table, name or email) -> sys_id; a name not found leaves its field out."""
    s, found = settings, sys_ids or {}
    impact, urgency = IMPACT_URGENCY.get(incident.get("severity") or incident.get("status", ""), ("3", "3"))
    fields = {
        "short_description": short_description(incident, s),
        "description": description(incident, s),
        "impact": impact, "urgency": urgency,
        "correlation_id": str(incident.get("id", "")),
        "correlation_display": CORRELATION_DISPLAY,
    }
    if s.aia_in_description or s.aia_replaces_alert_summary:
        fields["description"] = description_with_aia(fields["description"], incident_tag(incident, s.aia_tag),
                                                     replace_alert_summary=s.aia_replaces_alert_summary)
    for name, table, key in (("assignment_group", "sys_user_group", s.assignment_group),
                             ("caller_id", "sys_user", s.caller_email), ("opened_by", "sys_user", s.opened_by_email)):
        if key and found.get((table, key)):
            fields[name] = found[(table, key)]
    alert = primary_alert(incident, s.primary_alert_criteria)
    if s.cmdb_ci_tag and alert is not None and (ci := found.get(("cmdb_ci", alert_tag(alert, s.cmdb_ci_tag)))):
        fields["cmdb_ci"] = ci
    return fields


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


def owns_ticket(namespace: str, incident_id: str, sys_id: str, limit: int = 100) -> bool:
    """Whether the core of organisation `namespace` derived this ticket (any of its generations):
    how the ServiceNow watch keeps organisations sharing one instance apart, with no extra query."""
    return any(ticket_sys_id(namespace, incident_id, n) == sys_id for n in range(limit))
