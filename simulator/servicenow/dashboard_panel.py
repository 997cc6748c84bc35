"""What ServiceNow adds to the dashboard (simulator/common/dashboard): the newest incident
records, with their state's label and a link to the record's page (nav_to.do)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .backend import ServiceNowBackend

NEWEST_TICKETS = 100


def ticket_path(table: str, sys_id: str) -> str:
    """The record's page on this instance, as the core writes ticket links into BigPanda."""
    return f"/nav_to.do?uri={table}.do?sys_id={sys_id}"


def servicenow_panel(backend: ServiceNowBackend) -> Callable[[], dict[str, Any]]:
    def panel() -> dict[str, Any]:
        rows, _ = backend.query("incident", "ORDERBYDESCsys_updated_on", limit=NEWEST_TICKETS, offset=0, count=False)
        state = backend.dictionary.field("incident", "state")
        return {"tickets": [{"sys_id": row["sys_id"], "number": row.get("number", ""),
                             "state": state.choice_label(row.get("state", "")) if state else row.get("state", ""),
                             "short_description": row.get("short_description", ""),
                             "correlation_id": row.get("correlation_id", ""),
                             "updated": row.get("sys_updated_on", ""),
                             "link_path": ticket_path("incident", row["sys_id"])} for row in rows]}
    return panel
