"""ServiceNow records -> OIM events, and the OIM configuration that maps them. Pure.

The core sends each selected record as one flat event and configures the OIM integration to
read it (`desired_config`), so what BigPanda makes of an event is decided in one place:

    host               <- ci          the CI the four-level chain found (integration/changes)
    check              <- short_description
    servicenow_number  <- number      also the incident_identifier: one alert per record
    servicenow_table, servicenow_state, priority, assignment_group, ticket_url, ci_level
    description        <- description (BigPanda keeps the first 2048 characters)
    status             <- status      ok when the record is closed (inactive or in a closed
                                      state), critical for priority 1-2, else warning
    timestamp          <- updated_at  the record's sys_updated_on, epoch seconds

The primary property is `host`, falling back to `servicenow_number` when no CI was found, so
no event is ever refused for lacking one. `extra_fields` copies more record fields as tags
(named as OIM would: lowercase, other characters as `_`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bpsn.base.clock import from_glide
from bpsn.integration.changes.ci_resolution import CiResolution

TAG_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
RESERVED = {"status", "timestamp", "app_key", "alerts", "primary_property", "secondary_property",
            "incident_identifier"}
FIXED_TAGS = ("host", "check", "servicenow_number", "servicenow_table", "servicenow_state", "priority",
              "assignment_group", "ticket_url", "ci_level", "description")


class OimSelectionError(ValueError):
    """A selection the forwarder cannot work with; the message says what to change."""


@dataclass(frozen=True)
class OimSelection:
    """Which records are forwarded, and how they read as alerts."""

    instance_url: str
    table: str = "incident"
    query: str = "correlation_display!=BigPanda"  # not the tickets the core itself made from BigPanda
    ci_tag: str = "host"  # same tag as the maintenance plans' condition, so plans silence these alerts
    closed_states: frozenset[str] = frozenset({"6", "7", "8"})  # incident Resolved, Closed, Canceled
    critical_priorities: frozenset[str] = frozenset({"1", "2"})
    extra_fields: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.table):
            raise OimSelectionError(f"table {self.table!r} is not a ServiceNow table name")
        if "^OR" in self.query or "^NQ" in self.query:
            raise OimSelectionError(f"query {self.query!r}: use AND conditions only (no ^OR, ^NQ); the delta "
                                    "cursor adds its own conditions to it")
        if not TAG_NAME.match(self.ci_tag) or self.ci_tag in RESERVED:
            raise OimSelectionError(f"ci_tag {self.ci_tag!r} is not a usable OIM tag name")
        for name in self.extra_fields:
            tag = extra_tag(name)
            if not tag or tag in FIXED_TAGS or tag == self.ci_tag:
                raise OimSelectionError(f"extra field {name!r} cannot be a tag of its own (reserved, taken or "
                                        "not a tag name)")

    @property
    def fields(self) -> list[str]:
        return sorted({"sys_id", "number", "state", "active", "priority", "short_description", "description",
                       "assignment_group", "cmdb_ci", "business_service", "sys_updated_on", "sys_mod_count",
                       *self.extra_fields})


def extra_tag(field_name: str) -> str:
    name = re.sub(r"[^a-z0-9_-]", "_", field_name.lower())[:64]
    return name if TAG_NAME.match(name) and name not in RESERVED else ""


def status_of(row: Mapping[str, Any], selection: OimSelection) -> str:
    if str(row.get("active", "")).lower() == "false" or str(row.get("state", "")) in selection.closed_states:
        return "ok"
    return "critical" if str(row.get("priority", "")) in selection.critical_priorities else "warning"


def record_event(row: Mapping[str, Any], resolution: CiResolution, selection: OimSelection) -> dict[str, Any]:
    updated = str(row.get("sys_updated_on") or "")
    event: dict[str, Any] = {
        "ci": "|".join(resolution.names), "ci_level": resolution.level,
        "number": str(row.get("number") or row.get("sys_id", "")), "table": selection.table,
        "state": str(row.get("state") or ""), "priority": str(row.get("priority") or ""),
        "short_description": str(row.get("short_description") or ""),
        "description": str(row.get("description") or ""),
        "assignment_group": str(row.get("assignment_group") or ""),
        "ticket_url": f"{selection.instance_url.rstrip('/')}/nav_to.do?uri={selection.table}.do?sys_id={row['sys_id']}",
        "status": status_of(row, selection),
        "updated_at": int(from_glide(updated)) if updated else None,
    }
    for name in selection.extra_fields:
        event[f"x_{extra_tag(name)}"] = str(row.get(name) or "")
    return event


def desired_config(selection: OimSelection) -> dict[str, Any]:
    """The body of `POST /configurations/alerts/oim/{app_key}`: config and a sample event."""
    def attr(name: str, path: str) -> dict[str, Any]:
        return {"name": name, "source": [f"@{path}"]}
    attributes = [attr(selection.ci_tag, "ci"), attr("check", "short_description"),
                  attr("servicenow_number", "number"), attr("servicenow_table", "table"),
                  attr("servicenow_state", "state"), attr("priority", "priority"),
                  attr("assignment_group", "assignment_group"), attr("ticket_url", "ticket_url"),
                  attr("ci_level", "ci_level"), attr("description", "description")]
    attributes += [attr(extra_tag(n), f"x_{extra_tag(n)}") for n in selection.extra_fields]
    config = {
        "primary_property": [{"name": selection.ci_tag}, {"name": "servicenow_number"}],
        "secondary_property": [{"name": "check"}],
        "additional_attributes": attributes,
        "status": {"source": ["@status"], "default_to": "critical",
                   "status_map": {"critical": ["critical"], "warning": ["warning"], "acknowledged": [],
                                  "ok": ["ok"], "unknown": []}},
        "timestamp": {"source": ["@updated_at"]},
        "bp_timestamp": {"is_selected": False},
        "incident_identifier": ["servicenow_number"],
        "version": "2.0",
    }
    sample_row = {"sys_id": "0" * 32, "number": "INC0000001", "state": "2", "active": "true", "priority": "1",
                  "short_description": "Checkout fails on web-prod-01", "description": "Customers see HTTP 500",
                  "assignment_group": "0" * 32, "sys_updated_on": "2026-01-01 00:00:00",
                  **{n: "sample" for n in selection.extra_fields}}
    sample = record_event(sample_row, CiResolution(level="ci", source="sample"), selection)
    sample["ci"] = "web-prod-01"
    return {"config": config, "sample_payload": sample}
