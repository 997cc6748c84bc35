"""The similar incidents' history, read back from the instance after a (re)start.

The history lives in ServiceNow, not in the core's memory: every share the core writes is
staged in x_bip_panda_shareincident with the whole incident (`u_bp_incident_json`), the
organisation and the ticket's sys_id (staging.py), and the similar rows it wrote are in
x_bip_panda_similar_incident. So a fresh core reads, once before its first similar-incident
pass: the newest staged rows of its organisation (`max_history` incidents at most, from at
most `ROWS_PER_INCIDENT` x that many rows, newest first), their tickets' numbers, and the
similar rows of those tickets (what it wrote, so rows no longer similar are still deleted).
Requests: one staging query, one incident query and one similar-row query per 100 tickets.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from bpsn.integration.clients.servicenow import ServiceNowClient

log = logging.getLogger("bpsn.integration.modules")
STAGING_TABLE = "x_bip_panda_shareincident"
SIMILAR_TABLE = "x_bip_panda_similar_incident"
ROWS_PER_INCIDENT = 4  # staged rows read per incident kept: an incident is staged once per share
CHUNK = 100


@dataclass
class StoredHistory:
    incidents: list[tuple[dict[str, Any], str, str]] = field(default_factory=list)  # (incident, ticket, number)
    matched: dict[str, set[str]] = field(default_factory=dict)  # ticket sys_id -> similar incident ids


def _chunks(values: list[str]) -> list[list[str]]:
    return [values[i:i + CHUNK] for i in range(0, len(values), CHUNK)]


async def read_history(servicenow: ServiceNowClient, organization: str, max_history: int,
                       skip: frozenset[str] | set[str] = frozenset()) -> StoredHistory:
    """The organisation's incidents as last staged, oldest first, with their tickets and similar rows;
    the incidents in `skip` (the poll's own, staged a moment ago) are left out."""
    rows = await servicenow.query(
        STAGING_TABLE, f"u_bp_organization={organization}^u_ticket_sys_id!=^ORDERBYDESCsys_created_on",
        fields=["u_bp_incident_id", "u_bp_incident_json", "u_ticket_sys_id"],
        limit=max(1, min(max_history * ROWS_PER_INCIDENT, 10_000)))
    newest: dict[str, tuple[dict[str, Any], str]] = {}
    for row in rows:
        incident_id = row.get("u_bp_incident_id", "")
        if not incident_id or incident_id in skip or incident_id in newest or len(newest) >= max_history:
            continue
        try:
            incident = json.loads(row.get("u_bp_incident_json") or "{}")
        except ValueError:
            continue  # a row edited by hand: that incident is left out, the others are kept
        if isinstance(incident, dict) and incident.get("alerts") is not None:
            newest[incident_id] = ({**incident, "id": incident.get("id") or incident_id}, row["u_ticket_sys_id"])
    tickets = sorted({ticket for _, ticket in newest.values()})
    numbers: dict[str, str] = {}
    matched: dict[str, set[str]] = {}
    for chunk in _chunks(tickets):
        for t in await servicenow.query("incident", "sys_idIN" + ",".join(chunk), fields=["sys_id", "number"],
                                        limit=len(chunk)):
            numbers[t["sys_id"]] = t.get("number", "")
        for s in await servicenow.query(SIMILAR_TABLE, "u_incidentIN" + ",".join(chunk),
                                        fields=["u_incident", "u_similar_bp_incident_id"], limit=10_000):
            matched.setdefault(s["u_incident"], set()).add(s["u_similar_bp_incident_id"])
    ordered = list(reversed(newest.values()))  # oldest first, as the history is kept
    return StoredHistory([(incident, ticket, numbers.get(ticket, "")) for incident, ticket in ordered], matched)
