"""Correlation relationships and external tickets, from what BigPanda sends with each share.

- `x_bip_panda_correlation` ("correlation relationships between entities with type
  classification and confidence scores", the seed): one row per matcher of the incident's
  current correlation (the last entry of `correlation_matchers_log`). u_source is the BigPanda
  incident, u_target the entity it correlated on (the matcher's tags, "host=web-1"), u_type the
  correlation pattern (`correlation_id`, e.g. by_host) and u_confidence (our choice: BigPanda
  sends no score) the share of the incident's alerts that carry every one of those tag values,
  two decimals: 1.00 when all alerts correlate on it.
- `x_bip_panda_external_ticket`: one row per ticket BigPanda lists for the incident
  (`external_tickets`: the system, number and URL, the ServiceNow ticket included once its
  callback reached BigPanda), referencing the ticket.

Idempotent (sys_ids derived from the incident / ticket and the entity), the rows of every share
in the poll's one Batch API request (poll_batch.py), none when nothing changed (record_writes.py).
"""

from __future__ import annotations

from typing import Any

from bpsn.integration.engine.mapping import alert_tag

from .companion import CompanionHost, WrittenTicket
from .record_writes import PlannedRecord, RecordWriter, WriteOutcome, record_sys_id

CORRELATION_TABLE = "x_bip_panda_correlation"
EXTERNAL_TICKET_TABLE = "x_bip_panda_external_ticket"


def current_matchers(incident: dict[str, Any]) -> list[dict[str, Any]]:
    log = incident.get("correlation_matchers_log") or []
    return [m for m in (log[-1] if log else []) if isinstance(m, dict) and m.get("correlation_id")]


def confidence(alerts: list[dict[str, Any]], tags: list[dict[str, Any]]) -> float:
    if not alerts or not tags:
        return 0.0
    matching = [a for a in alerts if all(alert_tag(a, str(t.get("name", ""))) == str(t.get("value", ""))
                                         for t in tags)]
    return len(matching) / len(alerts)


def correlation_rows(incident: dict[str, Any]) -> list[PlannedRecord]:
    incident_id = str(incident.get("id", ""))
    alerts = incident.get("alerts") or []
    rows = []
    for matcher in current_matchers(incident):
        tags = matcher.get("tags") or []
        target = ", ".join(f"{t.get('name')}={t.get('value')}" for t in tags) or str(matcher["correlation_id"])
        pattern = str(matcher["correlation_id"])
        rows.append(PlannedRecord(CORRELATION_TABLE, record_sys_id("correlation", incident_id, pattern, target), {
            "u_source": incident_id, "u_target": target[:255], "u_type": pattern,
            "u_confidence": f"{confidence(alerts, tags):.2f}"}))
    return rows


def external_ticket_rows(incident: dict[str, Any], ticket_sys_id: str) -> list[PlannedRecord]:
    rows = []
    for t in incident.get("external_tickets") or []:
        system = str(t.get("system", ""))
        if not system:
            continue
        rows.append(PlannedRecord(EXTERNAL_TICKET_TABLE, record_sys_id("external_ticket", ticket_sys_id, system), {
            "u_incident": ticket_sys_id, "u_system": system, "u_ticket_number": str(t.get("number", "")),
            "u_ticket_url": str(t.get("url", ""))}))
    return rows


class CorrelationRecords:
    """The companion: after each poll, the correlation and external ticket rows of its shares."""

    def __init__(self, host: CompanionHost) -> None:
        self.writer = RecordWriter(host.servicenow)
        self.last: WriteOutcome | None = None

    async def after_poll(self, written: list[WrittenTicket]) -> None:
        planned: list[PlannedRecord] = []
        for w in written:
            incident = w.share.get("incident") or {}
            planned += correlation_rows(incident) + external_ticket_rows(incident, w.ticket.sys_id)
        if planned:
            self.last = await self.writer.write(planned)


def attach(runner: CompanionHost) -> CorrelationRecords:
    companion = CorrelationRecords(runner)
    runner.companions.append(companion)
    return companion
