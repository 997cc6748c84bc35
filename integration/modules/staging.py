"""Inbound shares staged in x_bip_panda_shareincident, as the v3 app stages them: ONE Import Set
API request per poll (`POST /api/now/import/x_bip_panda_shareincident/insertMultiple`) carrying
every share the poll wrote, whatever their number.

A row holds the share as the seed's "additional data fields" list it (incident id, status,
alert statuses and counts, environment, the incident / timeline / preview links, the event
type, the whole incident JSON) plus the organisation and the ticket's sys_id. The instance's
transform map "BigPanda ShareIncident" (simulator/servicenow/import_sets/transform_maps.yaml) then keeps
x_bip_panda_incident_metadata up to date: one record per (incident id, organisation), bound
to the ticket, with the UI actions' targets (the BigPanda incident and its timeline), runbook
and external URLs, flapping, snoozed, status, the last share id and the AIA summary. The
metadata is written by the transform, so the core needs no write right on it.

The UI-action buttons ("Show UI Action Button to Incident in BP", "... to Incident Timeline in
BP", Incidents settings) open the metadata's URLs: a button that is off gets no target.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bpsn.base.clock import glide
from bpsn.integration.clients.lookups import TagDirectory
from bpsn.integration.clients.servicenow import ServiceNowClient, ServiceNowError
from bpsn.integration.engine.mapping import alert_tag, console_links, primary_alert

from .alert_config import AIA_TAG
from .companion import CompanionHost, WrittenTicket

STAGING_TABLE = "x_bip_panda_shareincident"
IMPORT_PATH = f"/api/now/import/{STAGING_TABLE}/insertMultiple"
STATUS_ORDER = ("critical", "warning", "unknown", "ok")


@dataclass(frozen=True)
class StagingSettings:
    organisation: str
    incident_button: bool = True  # Show UI Action Button to Incident in BP
    timeline_button: bool = True  # Show UI Action Button to Incident Timeline in BP
    ci_lookup_tag: str = ""  # u_ci_lookup: the CMDB CI Field of the Incidents settings (e.g. host)
    runbook_tag: str = "runbook_url"  # the primary alert's tag holding a runbook link
    aia_tag: str = AIA_TAG  # the incident tag carrying the AIA summary (alert_config.py)
    console_url: str = ""  # the Incident URL base the links are rebased on ("": as BigPanda sends them)

    def __post_init__(self) -> None:
        if not self.organisation:
            raise ValueError("staging: the organisation must be named (it keeps metadata apart per organisation)")


def alert_statuses(alerts: list[dict[str, Any]]) -> str:
    """The text summary of the alerts' statuses: "critical: 2, ok: 1"."""
    counts = {s: sum(1 for a in alerts if a.get("status") == s) for s in STATUS_ORDER}
    return ", ".join(f"{s}: {n}" for s, n in counts.items() if n)


def _flag(value: Any) -> str:
    return "true" if value else "false"


def staging_row(share: dict[str, Any], ticket_sys_id: str, settings: StagingSettings,
                tags: dict[str, str]) -> dict[str, str]:
    """One staging row for a share; `tags`: the incident's tags by name. Pure."""
    incident = share["incident"]
    alerts = incident.get("alerts") or []
    links = console_links(incident, settings.console_url)
    primary = primary_alert(incident) or {}
    externals = [{"system": t.get("system", ""), "number": t.get("number", ""), "url": t.get("url", "")}
                 for t in incident.get("external_tickets") or []]
    return {
        "u_bp_incident_id": str(share.get("incident_id") or incident.get("id", "")),
        "u_bp_incident_status": str(incident.get("status", "")),
        "u_bp_alerts_statuses": alert_statuses(alerts),
        "u_bp_alerts_count": str(len(alerts)),
        "u_bp_active_alerts_count": str(sum(1 for a in alerts if a.get("status") != "ok")),
        "u_bp_environment_name": str(share.get("environment_name", "")),
        "u_bp_environment_id": str(share.get("environment_id", "")),
        "u_bp_incident_url": str(links.get("incident", "")) if settings.incident_button else "",
        "u_bp_timeline_url": str(links.get("timeline", "")) if settings.timeline_button else "",
        "u_bp_preview_url": str(links.get("preview", "")),
        "u_bp_event_type": str(share.get("trigger", "")),
        "u_bp_share_id": str(share.get("share_id", "")),
        "u_bp_organization": settings.organisation,
        # BigPanda's object, without what the runner adds (tags by name)
        "u_bp_incident_json": json.dumps({k: v for k, v in incident.items() if k != "tag_values"},
                                         sort_keys=True, default=str),
        "u_ci_lookup": settings.ci_lookup_tag,
        "u_ticket_sys_id": ticket_sys_id,
        "u_bp_flapping": _flag(incident.get("flapping")),
        "u_bp_snoozed": _flag((incident.get("snooze") or {}).get("snoozed")),
        "u_bp_changed_at": glide(float(incident["changedOn"])) if incident.get("changedOn") else "",
        "u_bp_runbook_url": alert_tag(primary, settings.runbook_tag) if settings.runbook_tag and primary else "",
        "u_bp_external_urls": json.dumps(externals) if externals else "",
        "u_bp_aia_summary": tags.get(settings.aia_tag, "") if settings.aia_tag else "",
    }


class ShareStaging:
    """The companion: every share the poll wrote, staged with one insertMultiple."""

    def __init__(self, servicenow: ServiceNowClient, directory: TagDirectory, settings: StagingSettings) -> None:
        self.servicenow, self.directory, self.settings = servicenow, directory, settings
        self.requests = 0
        self.last_import_set = ""  # sys_id of the last import set (its rows: sys_import_set = it)

    async def after_poll(self, written: list[WrittenTicket]) -> None:
        if not written:
            return
        # tags by name through the runner's directory: listed once, again only for an unknown tag
        records = [staging_row(w.share, w.ticket.sys_id, self.settings,
                               await self.directory.named(w.share["incident"].get("incident_tags") or []))
                   for w in written]
        self.requests += 1
        r = await self.servicenow.api.request("POST", IMPORT_PATH, json={"records": records})
        if r.status_code != 201:
            raise ServiceNowError(r)
        self.last_import_set = str(r.json().get("import_set_id", ""))


def attach(runner: CompanionHost, **options: Any) -> ShareStaging:
    """Add share staging to a runner's companions; `options`: StagingSettings fields but the
    organisation (the runner's) and the CI lookup tag (its CMDB CI Field)."""
    s = runner.engine.settings
    settings = StagingSettings(**{"organisation": s.namespace, "ci_lookup_tag": s.cmdb_ci_tag,
                                  "incident_button": s.incident_button, "timeline_button": s.timeline_button,
                                  "aia_tag": s.aia_tag, "console_url": s.console_url, **options})
    companion = ShareStaging(runner.servicenow, runner.directory, settings)
    runner.companions.append(companion)
    return companion
