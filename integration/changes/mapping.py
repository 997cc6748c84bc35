"""ServiceNow change records -> BigPanda change bodies (`POST /data/changes`). Pure.

States (ServiceNow's out-of-box values; BigPanda takes Planned, In Progress, Done, Canceled):

    change_request  New -5, Assess -4, Authorize -3, Scheduled -2 -> Planned
                    Implement -1                                  -> In Progress
                    Review 0, Closed 3                            -> Done
                    Canceled 4                                    -> Canceled
    change_task     Pending -5, Open 1 -> Planned;  In Progress 2 -> In Progress
                    Closed 3 -> Done;  Canceled 4 -> Canceled

Review counts as Done: the work on the systems is over, only the paperwork is left. An
instance with its own states passes its own maps in `ChangeSettings`; a state in no map is
refused with an error that names the record, the state and the known states.

The body: `identifier` is the record's number (BigPanda upserts by it, so an update of the
record updates the change), `summary` its short description, `start`/`end` the planned
window (change_request `start_date`/`end_date`, change_task `planned_start_date`/
`planned_end_date`; without a planned start, `opened_at`, then `sys_created_on`), `ticket_url`
the record in ServiceNow, and `tags`: `ci` (the CI names the fallback chain found, joined
with `|`), `ci_level`, `servicenow_table`, `change_type` (change requests) or
`change_request` (a change task's change number). `end` is always sent, null when the record
has none, so clearing it in ServiceNow clears it in BigPanda.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bpsn.base.clock import from_glide

from .ci_resolution import CiResolution

BIGPANDA_STATUSES = ("Planned", "In Progress", "Done", "Canceled")
CHANGE_REQUEST_STATES: dict[str, str] = {"-5": "Planned", "-4": "Planned", "-3": "Planned", "-2": "Planned",
                                         "-1": "In Progress", "0": "Done", "3": "Done", "4": "Canceled"}
CHANGE_TASK_STATES: dict[str, str] = {"-5": "Planned", "1": "Planned", "2": "In Progress", "3": "Done",
                                      "4": "Canceled"}
WINDOW_FIELDS = {"change_request": ("start_date", "end_date"),
                 "change_task": ("planned_start_date", "planned_end_date")}
MAX_TAG_VALUE = 4096


class ChangeMappingError(ValueError):
    """A record that cannot become a BigPanda change; the message names the record and why."""


@dataclass(frozen=True)
class ChangeSettings:
    instance_url: str
    ci_tag: str = "host"  # the alert tag a maintenance plan's condition matches the CI on
    change_request_states: Mapping[str, str] = field(default_factory=lambda: dict(CHANGE_REQUEST_STATES))
    change_task_states: Mapping[str, str] = field(default_factory=lambda: dict(CHANGE_TASK_STATES))
    maintenance_states: frozenset[str] = frozenset({"-2", "-1"})  # Scheduled, Implement
    outage_types: frozenset[str] = frozenset({"planned", "outage", "degradation"})
    open_outage_seconds: int = 4 * 3600

    def __post_init__(self) -> None:
        for name in ("change_request_states", "change_task_states"):
            bad = {k: v for k, v in getattr(self, name).items() if v not in BIGPANDA_STATUSES}
            if bad:
                raise ValueError(f"{name}: {bad} map to no BigPanda status; use one of "
                                 f"{', '.join(BIGPANDA_STATUSES)}")
        if not self.ci_tag.strip():
            raise ValueError("ci_tag must name the alert tag that holds the CI, e.g. host")
        if self.open_outage_seconds <= 0:
            raise ValueError(f"open_outage_seconds must be positive (got {self.open_outage_seconds})")

    def states(self, table: str) -> Mapping[str, str]:
        if table == "change_request":
            return self.change_request_states
        if table == "change_task":
            return self.change_task_states
        raise ValueError(f"{table} is not a change table; use change_request or change_task")

    def record_url(self, table: str, sys_id: str) -> str:
        return f"{self.instance_url.rstrip('/')}/nav_to.do?uri={table}.do?sys_id={sys_id}"


def label(table: str, row: Mapping[str, Any]) -> str:
    return f"{table} {row.get('number') or row.get('sys_id', '?')}"


def epoch(table: str, row: Mapping[str, Any], name: str) -> int | None:
    """A glide date-time field as epoch seconds; None when empty."""
    text = str(row.get(name) or "").strip()
    if not text:
        return None
    try:
        return int(from_glide(text))
    except ValueError:
        raise ChangeMappingError(f"{label(table, row)}: {name} {text!r} is not a date-time "
                                 "(YYYY-MM-DD HH:MM:SS, UTC)") from None


def bigpanda_status(table: str, row: Mapping[str, Any], settings: ChangeSettings) -> str:
    states = settings.states(table)
    state = str(row.get("state", ""))
    if state not in states:
        known = ", ".join(f"{k} -> {v}" for k, v in states.items())
        raise ChangeMappingError(f"{label(table, row)}: state {state!r} maps to no BigPanda status "
                                 f"(known: {known})")
    return states[state]


def planned_window(table: str, row: Mapping[str, Any]) -> tuple[int | None, int | None]:
    start_field, end_field = WINDOW_FIELDS[table]
    return epoch(table, row, start_field), epoch(table, row, end_field)


def ci_tags(resolution: CiResolution) -> dict[str, str]:
    if not resolution.found:
        return {}
    return {"ci": "|".join(resolution.names)[:MAX_TAG_VALUE], "ci_level": resolution.level}


def change_body(table: str, row: Mapping[str, Any], resolution: CiResolution, settings: ChangeSettings,
                parent_number: str = "") -> dict[str, Any]:
    """The `POST /data/changes` body for a change_request or change_task row."""
    number = str(row.get("number") or "")
    if not number:
        raise ChangeMappingError(f"{label(table, row)}: the record has no number, which BigPanda needs as "
                                 "the change identifier")
    status = bigpanda_status(table, row, settings)
    start, end = planned_window(table, row)
    if start is None:
        start = epoch(table, row, "opened_at") or epoch(table, row, "sys_created_on")
    if start is None:
        start_field = WINDOW_FIELDS[table][0]
        raise ChangeMappingError(f"{label(table, row)}: no start time ({start_field}, opened_at and "
                                 "sys_created_on are all empty)")
    if end is not None and end < start:
        raise ChangeMappingError(f"{label(table, row)}: the planned end ({end}) is before the start ({start})")
    tags = {"servicenow_table": table, **ci_tags(resolution)}
    if table == "change_request" and row.get("type"):
        tags["change_type"] = str(row["type"])
    if table == "change_task" and parent_number:
        tags["change_request"] = parent_number
    summary = str(row.get("short_description") or "").strip() or f"{table} {number}"
    return {"identifier": number, "status": status, "summary": summary[:4096], "start": start, "end": end,
            "ticket_url": settings.record_url(table, str(row["sys_id"])), "tags": tags,
            "metadata": {"servicenow_sys_id": str(row["sys_id"]), "servicenow_table": table,
                         "opened_by": str(row.get("opened_by") or "")}}
