"""What the Root Cause Changes companion follows, read back from the instance after a (re)start.

The instance holds it: x_bip_panda_incident_metadata names every incident the core ticketed
for the organisation (u_bp_incident_id, u_incident, u_bp_status from the last share), and
x_bip_panda_related_change holds the changes it copied. A fresh core therefore follows again
the incidents whose last status was not `ok` (newest first, `max_tracked` at most; they are
due at once, read `max_reads_per_poll` at a time), and knows which `caused_by` it set: a ticket
whose `caused_by` is the change of its one MATCH row, exactly as the core would set it.
Requests: one metadata query, then per 100 tickets one related-change and one incident query.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bpsn.integration.clients.servicenow import ServiceNowClient

METADATA_TABLE = "x_bip_panda_incident_metadata"
RELATED_TABLE = "x_bip_panda_related_change"
CHUNK = 100


@dataclass
class StoredRcc:
    open_incidents: list[tuple[str, str]] = field(default_factory=list)  # (incident id, ticket), oldest first
    caused_by: dict[str, str] = field(default_factory=dict)  # ticket -> the change the core set as cause


async def read_rcc_state(servicenow: ServiceNowClient, organization: str, max_tracked: int,
                         skip: frozenset[str] | set[str] = frozenset()) -> StoredRcc:
    """The open incidents to follow, oldest first, and the causes the core set; the incidents in
    `skip` (already followed from this poll's shares) are left out."""
    rows = await servicenow.query(
        METADATA_TABLE, f"u_organization={organization}^u_incidentISNOTEMPTY^u_bp_status!=ok"
                        "^ORDERBYDESCsys_updated_on",
        fields=["u_bp_incident_id", "u_incident"], limit=max(1, min(max_tracked, 10_000)))
    pairs = [(r["u_bp_incident_id"], r["u_incident"]) for r in rows
             if r.get("u_bp_incident_id") and r.get("u_incident") and r["u_bp_incident_id"] not in skip]
    tickets = sorted({ticket for _, ticket in pairs})
    caused_by: dict[str, str] = {}
    for start in range(0, len(tickets), CHUNK):
        chunk = tickets[start:start + CHUNK]
        matches: dict[str, list[str]] = {}
        for row in await servicenow.query(RELATED_TABLE, "u_incidentIN" + ",".join(chunk) + "^u_match_certainty=MATCH",
                                          fields=["u_incident", "u_change_request"], limit=10_000):
            matches.setdefault(row["u_incident"], []).append(row.get("u_change_request", ""))
        for ticket in await servicenow.query("incident", "sys_idIN" + ",".join(chunk),
                                             fields=["sys_id", "caused_by"], limit=len(chunk)):
            match = matches.get(ticket["sys_id"], [])
            if len(match) == 1 and match[0] and ticket.get("caused_by") == match[0]:
                caused_by[ticket["sys_id"]] = match[0]
    return StoredRcc(list(reversed(pairs)), caused_by)
