"""Ticket writes through the staging table, as the v3 app writes them: each write becomes one
row of `x_bip_panda_shareincident`, all of a moment's rows leave in ONE Import Set API request
(`POST /api/now/import/x_bip_panda_shareincident/insertMultiple`), and the instance's transform
map "BigPanda Incident" creates or updates the incident (business rules, data policy, audit and
the importing user's ACLs: the instance's business, not ours).

The core learns each ticket from its row, exactly as from a real instance: one Table API read of
the import set's rows returns each row's `sys_import_state` (inserted / updated / ignored /
skipped / error), `sys_target_sys_id` and `sys_row_error`, with the written ticket dot-walked
through the row's `u_ticket` reference in the same request. So a poll costs two requests
however many tickets it writes. A row answered anything but inserted / updated (or ignored with
a target: nothing to change) is that write's failure, so its share is not acknowledged.

The row names the ticket's sys_id in `u_ticket` (the map coalesces on it): a new ticket gets the
sys_id the engine chose, and a row sent twice updates the ticket the first one made. When an
admin changes the map's coalesce, `sys_target_sys_id` says which ticket was written, and the
core reads that one instead (one more request, only then).

Writes the staging table cannot carry (another table, or a field with no staging column: a tag
mapped to a custom incident field) go through the Batch API writer given as `fallback`, in
the same send().
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .batch import BatchError, BatchWrite, BatchWriter
from .servicenow import ServiceNowClient

STAGING_TABLE = "x_bip_panda_shareincident"
TICKET_TABLE = "incident"
TICKET_COLUMN = "u_ticket"  # reference to incident: the coalesce of the "BigPanda Incident" map
# incident field -> staging column, as the seeded "BigPanda Incident" map reads them
COLUMNS: dict[str, str] = {
    "correlation_id": "u_bp_incident_id",
    **{f: f"u_{f}" for f in (
        "correlation_display", "short_description", "description", "impact", "urgency", "state", "hold_reason",
        "close_code", "close_notes", "work_notes", "comments", "assignment_group", "assigned_to", "caller_id",
        "opened_by", "resolved_by", "cmdb_ci", "business_service", "location", "category", "subcategory",
        "parent_incident")},
}
ROW_FIELDS = ["sys_id", "sys_import_row", "sys_import_state", "sys_target_sys_id", "sys_row_error",
              "sys_import_state_comment", TICKET_COLUMN]
WRITTEN = ("inserted", "updated")
REFUSED = 400  # a row's transform said no: a refusal of this write (not an outage, not retried)


def carries(write: BatchWrite) -> bool:
    """Whether the staging table can carry this write (else it goes through the fallback)."""
    return (write.table == TICKET_TABLE and write.method in ("POST", "PATCH") and bool(write.sys_id)
            and all(f in COLUMNS for f in write.body if f != "sys_id"))


def share_columns(share: dict[str, Any]) -> dict[str, str]:
    """The share's own columns on a ticket row (what an admin's added field map can draw on).
    Never the organisation: without it the metadata map ("BigPanda ShareIncident") skips the row,
    which the share-staging companion stages on its own. Pure."""
    incident = share.get("incident") or {}
    alerts = incident.get("alerts") or []
    links = incident.get("links") or {}
    return {
        "u_bp_incident_id": str(share.get("incident_id") or incident.get("id", "")),
        "u_bp_share_id": str(share.get("share_id", "")),
        "u_bp_event_type": str(share.get("trigger", "")),
        "u_bp_incident_status": str(incident.get("status", "")),
        "u_bp_alerts_count": str(len(alerts)),
        "u_bp_active_alerts_count": str(sum(1 for a in alerts if a.get("status") != "ok")),
        "u_bp_environment_name": str(share.get("environment_name", "")),
        "u_bp_environment_id": str(share.get("environment_id", "")),
        "u_bp_incident_url": str(links.get("incident", "")),
        "u_bp_preview_url": str(links.get("preview", "")),
    }


def staging_row(write: BatchWrite) -> dict[str, str]:
    """The staging row of one ticket write: the share's columns, the ticket's fields. Pure."""
    row = dict(write.staging)
    row.update({COLUMNS[f]: "" if v is None else str(v) for f, v in write.body.items() if f != "sys_id"})
    row[TICKET_COLUMN] = write.sys_id
    return row


class ImportSetWriter:
    """Collect ticket writes with `add(...)`, then `send()`: the same interface as BatchWriter,
    so the runner's WriteCoalescer drives either."""

    def __init__(self, servicenow: ServiceNowClient, fallback: BatchWriter,
                 ticket_fields: Callable[[], list[str]], max_rows: int = 200) -> None:
        self.servicenow, self.fallback, self.ticket_fields, self.max_rows = servicenow, fallback, ticket_fields, max_rows
        self.pending: list[BatchWrite] = []
        self.requests = 0  # Import Set API and read-back requests (the fallback counts its own)

    def add(self, method: str, table: str, body: dict[str, Any] | None = None, sys_id: str = "") -> BatchWrite:
        write = BatchWrite(method.upper(), table, sys_id, dict(body or {}))
        if carries(write):
            self.pending.append(write)
            return write
        return self.fallback.add(method, table, body, sys_id)

    async def send(self) -> list[BatchWrite]:
        """Every pending write, answered from its staging row; raises BatchError only when the
        instance refuses a whole request (the runner treats it as it treats a refused batch)."""
        writes, self.pending = self.pending, []
        others = list(self.fallback.pending)
        try:
            for start in range(0, len(writes), self.max_rows):
                await self._import(writes[start:start + self.max_rows])
        except BaseException:
            self.fallback.pending = []  # the coalescer fails every write of the moment: none is left to leak
            raise
        if others:
            try:
                await self.fallback.send()
            except BatchError as exc:  # only the Batch API's own writes failed: the staged ones stand
                for w in others:
                    w.status, w.error = exc.status or 503, str(exc)
        return writes + others

    async def _import(self, chunk: list[BatchWrite]) -> None:
        for w in chunk:
            w.attempts += 1
        api = self.servicenow.api
        self.requests += 1
        r = await api.request("POST", f"/api/now/import/{STAGING_TABLE}/insertMultiple",
                              json={"records": [staging_row(w) for w in chunk]})
        if r.status_code != 201:
            raise BatchError(f"ServiceNow refused the import: {r.status_code} {r.text[:300]}", r.status_code)
        import_set = str(r.json().get("import_set_id", ""))
        fields = self.ticket_fields()
        self.requests += 1
        rows = await self.servicenow.query(
            STAGING_TABLE, f"sys_import_set={import_set}^ORDERBYsys_import_row",
            fields=ROW_FIELDS + [f"{TICKET_COLUMN}.{f}" for f in fields], limit=len(chunk))
        by_position = {str(row.get("sys_import_row", "")): row for row in rows}
        tickets = {str(row.get("sys_target_sys_id")): _walked(row) for row in rows
                   if row.get("sys_target_sys_id") and row.get("sys_target_sys_id") == row.get(TICKET_COLUMN)}
        moved = {str(row["sys_target_sys_id"]) for row in rows if row.get("sys_target_sys_id")} - set(tickets)
        if moved:  # the map coalesced elsewhere: read the tickets it wrote
            self.requests += 1
            for ticket in await self.servicenow.query(TICKET_TABLE, "sys_idIN" + ",".join(sorted(moved)),
                                                      fields=sorted(set(fields) | {"sys_id"}), limit=len(moved)):
                tickets[str(ticket["sys_id"])] = ticket
        for position, write in enumerate(chunk):
            _answer(write, by_position.get(str(position)), tickets)


def ticket_writer(write_path: str, servicenow: ServiceNowClient,
                  ticket_fields: Callable[[], list[str]]) -> BatchWriter | ImportSetWriter:
    """The writer of the core's tickets for a write path (`import_set` or `batch`)."""
    if write_path == "batch":
        return BatchWriter(servicenow)
    if write_path == "import_set":
        return ImportSetWriter(servicenow, BatchWriter(servicenow), ticket_fields)
    raise ValueError(f"write_path must be 'import_set' or 'batch', not {write_path!r}")


def _walked(row: dict[str, Any]) -> dict[str, Any]:
    """The ticket dot-walked through the row's u_ticket, as a record."""
    prefix = TICKET_COLUMN + "."
    ticket = {k[len(prefix):]: v for k, v in row.items() if k.startswith(prefix)}
    ticket["sys_id"] = row["sys_target_sys_id"]
    return ticket


def _answer(write: BatchWrite, row: dict[str, Any] | None, tickets: dict[str, dict[str, Any]]) -> None:
    if row is None:
        write.status, write.error = REFUSED, "the import set has no row for this write"
        return
    state, target = str(row.get("sys_import_state", "")), str(row.get("sys_target_sys_id", ""))
    ticket = tickets.get(target)
    if (state in WRITTEN or (state == "ignored" and target)) and ticket:
        write.status, write.result = (201 if state == "inserted" else 200), ticket
        return
    reason = row.get("sys_row_error") or row.get("sys_import_state_comment") or ""
    if state == "pending":
        reason = ("the row was not transformed yet: the Import Set API must run insertMultiple synchronously "
                  "(sys_rest_insert_multiple) for this write path")
    write.status, write.error = REFUSED, f"import row {state or 'unknown'}: {reason}".strip()
