"""The BigPanda alerts table (x_bip_panda_bp_alerts): one record per BigPanda alert, bound to
the ticket, its CMDB CI and assignment group, with priority and severity as the Alert
Configuration module says (alert_config.py).

Idempotent: a record's sys_id is derived from (organisation, alert id), and it is planned whole
from the share, so a second share of the incident, a replayed share or a restarted core updates
the record instead of adding one (record_writes.RecordWriter: POST once, PATCH after, nothing
when unchanged). An alert that moves to another incident keeps its record, pointed at the new
ticket.

Requests per poll: hosts and group names -> sys_ids through the runner's cached ReferenceCache
(one IN query per table, only for names not seen within its TTL), then ONE Batch API request
for every alert record of the poll and any CI to create (more only past 100 records a batch,
or once after a restart, for records that exist but this core has not written yet).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bpsn.base.clock import glide
from bpsn.integration.clients.lookups import ReferenceCache
from bpsn.integration.clients.servicenow import ServiceNowClient
from bpsn.integration.engine.mapping import alert_tag

from .alert_config import AlertConfigSettings, CiBinder, alert_host, alert_severity, lookable
from .companion import CompanionHost, WrittenTicket
from .record_writes import PlannedRecord, RecordWriter, WriteOutcome, record_sys_id

TABLE = "x_bip_panda_bp_alerts"
GROUP_TABLE = "sys_user_group"
MAX_DESCRIPTION = 2048
log = logging.getLogger("bpsn.integration.alerts")


def alert_record_sys_id(organisation: str, alert_id: str) -> str:
    return record_sys_id("bp_alert", organisation, alert_id)


@dataclass
class AlertPlan:
    records: list[PlannedRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the settings could not do, alert by alert


def _when(epoch: Any) -> str:
    try:
        return glide(float(epoch)) if epoch not in (None, "") else ""
    except (TypeError, ValueError):
        return ""


def alert_fields(alert: dict[str, Any], incident_id: str, ticket_sys_id: str, organisation: str,
                 settings: AlertConfigSettings, ci_ids: dict[str, str],
                 group_ids: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """One alert's record fields, and notes on what could not be bound."""
    alert_id = str(alert.get("id", ""))
    notes: list[str] = []
    host = alert_host(alert, settings)
    group = alert_tag(alert, settings.assignment_group_tag).strip() if settings.assignment_group_tag else ""
    if host and host not in ci_ids:
        notes.append(f"alert {alert_id}: no cmdb_ci named {host!r}")
    if group and group not in group_ids:
        notes.append(f"alert {alert_id}: no sys_user_group named {group!r}")
    severity, why = alert_severity(alert, settings)
    if why:
        notes.append(f"alert {alert_id}: {why}")
    tags = {str(t.get("name", "")): str(t.get("value", "")) for t in alert.get("tags") or []}
    fields = {
        "u_alert_id": alert_id,
        "u_organization": organisation,
        "u_bp_incident_id": incident_id,
        "u_incident": ticket_sys_id,
        "u_status": str(alert.get("status", "")),
        "u_primary_property": alert_tag(alert, str(alert.get("primary_property") or "")),
        "u_secondary_property": alert_tag(alert, str(alert.get("secondary_property") or "")),
        "u_description": str(alert.get("description") or "")[:MAX_DESCRIPTION],
        "u_source_system": str(alert.get("source_system") or ""),
        "u_tags": json.dumps(tags, sort_keys=True),
        "u_cmdb_ci": ci_ids.get(host, ""),
        "u_assignment_group": group_ids.get(group, ""),
        "u_priority": alert_tag(alert, settings.priority_tag).strip() if settings.priority_tag else "",
        "u_severity": severity,
        "u_start": _when(alert.get("startedOn")),
        "u_end": _when(alert.get("endedOn")),
    }
    return fields, notes


def plan_alert_records(written: Iterable[tuple[dict[str, Any], str]], organisation: str,
                       settings: AlertConfigSettings, ci_ids: dict[str, str],
                       group_ids: dict[str, str]) -> AlertPlan:
    """The records of every alert of every (share incident, ticket sys_id); pure."""
    plan = AlertPlan()
    if not (settings.processing and settings.alerts_table):
        return plan
    for incident, ticket_sys_id in written:
        incident_id = str(incident.get("id", ""))
        for alert in incident.get("alerts") or []:
            if not alert.get("id"):
                plan.notes.append(f"incident {incident_id}: an alert without an id has no record")
                continue
            fields, notes = alert_fields(alert, incident_id, ticket_sys_id, organisation, settings, ci_ids,
                                         group_ids)
            plan.records.append(PlannedRecord(TABLE, alert_record_sys_id(organisation, str(alert["id"])), fields))
            plan.notes += notes
    return plan


def wanted_names(incidents: Iterable[dict[str, Any]], settings: AlertConfigSettings) -> tuple[set[str], set[str]]:
    """(hosts, group names) the alerts of these incidents name: what to look up."""
    hosts: set[str] = set()
    groups: set[str] = set()
    for incident in incidents:
        for alert in incident.get("alerts") or []:
            if host := alert_host(alert, settings):
                hosts.add(host)
            if settings.assignment_group_tag and (group := alert_tag(alert, settings.assignment_group_tag).strip()):
                groups.add(group)
    return hosts, groups


class AlertRecords:
    """The companion: after each poll, the alert records of every ticket written, in one batch."""

    def __init__(self, servicenow: ServiceNowClient, references: ReferenceCache, settings: AlertConfigSettings,
                 organisation: str) -> None:
        self.references, self.settings, self.organisation = references, settings, organisation
        self.writer = RecordWriter(servicenow)
        self.cis = CiBinder(references, settings)
        self.last: WriteOutcome | None = None
        self.last_plan = AlertPlan()

    async def after_poll(self, written: list[WrittenTicket]) -> None:
        s = self.settings
        if not (s.processing and s.alerts_table) or not written:
            return
        incidents = [(w.share["incident"], w.ticket.sys_id) for w in written]
        hosts, groups = wanted_names((i for i, _ in incidents), s)
        binding = await self.cis.bind(hosts)
        group_ids = await self.references.sys_ids(GROUP_TABLE, {g for g in groups if lookable(g)}) if groups else {}
        plan = plan_alert_records(incidents, self.organisation, s, binding.sys_ids, group_ids)
        self.last_plan = plan
        if s.logging:
            for host, record in binding.creates.items():
                log.info("alert processing: creating cmdb_ci %r (install_status %s, sys_id %s)", host,
                         s.new_ci_status, record.sys_id)
            for record in plan.records:
                f = record.fields
                log.info("alert processing: alert %s of incident %s -> %s (ci %s, group %s, priority %s, "
                         "severity %s)", f["u_alert_id"], f["u_bp_incident_id"], record.sys_id,
                         f["u_cmdb_ci"] or "-", f["u_assignment_group"] or "-", f["u_priority"] or "-",
                         f["u_severity"])
            for note in plan.notes:
                log.info("alert processing: %s", note)
        # the CIs first: the alert records that reference them follow in the same batch
        self.last = await self.writer.write([*binding.creates.values(), *plan.records])
        self.cis.confirm(binding, self.last)


def attach(runner: CompanionHost, settings: AlertConfigSettings) -> AlertRecords:
    """Add the alert records to a runner's companions (its ServiceNow client, lookups, organisation)."""
    companion = AlertRecords(runner.servicenow, runner.references, settings, runner.engine.settings.namespace)
    runner.companions.append(companion)
    return companion
