"""A share as the rules see it and change it, while they run in order.

Conditions read the ticket fields about to be written over the ticket's current fields (a
new ticket has none), the BigPanda incident's tags and its alerts' tags; actions change the
fields to write, the tags, the work notes and the skip flag. A later rule sees what an
earlier one changed, as in a ServiceNow transform map.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# an alert attribute is readable as an alert tag when no tag of that name exists (as in BPQL)
ALERT_ATTRIBUTES = ("status", "description", "source_system", "primary_property", "secondary_property")


def incident_tags_of(incident: Mapping[str, Any]) -> dict[str, str]:
    """The share's incident_tags ([{tag_id, value}]) as tag id -> value."""
    out: dict[str, str] = {}
    for tag in incident.get("incident_tags") or []:
        value = tag.get("value", "")
        out[str(tag.get("tag_id", ""))] = "|".join(map(str, value)) if isinstance(value, list) else str(value)
    return out


def alert_tags_of(incident: Mapping[str, Any]) -> dict[str, list[str]]:
    """Tag name -> its non-empty values over the incident's alerts (one per alert that has it)."""
    out: dict[str, list[str]] = {}
    for alert in incident.get("alerts") or []:
        if not isinstance(alert, Mapping):
            continue
        seen: set[str] = set()
        for tag in alert.get("tags") or []:
            name, value = str(tag.get("name", "")), tag.get("value")
            if name and value not in (None, ""):
                out.setdefault(name, []).append(str(value))
                seen.add(name)
        for name in ALERT_ATTRIBUTES:
            value = alert.get(name)
            if name not in seen and value not in (None, ""):
                out.setdefault(name, []).append(str(value))
    return out


class ShareState:
    __slots__ = (
        "_alert_tags",
        "_incident",
        "current",
        "fields",
        "incident_tags",
        "new_tags",
        "skip_reason",
        "work_notes",
    )

    def __init__(self, incident: Mapping[str, Any], fields: Mapping[str, str],
                 current: Mapping[str, str] | None = None) -> None:
        self.fields: dict[str, str] = dict(fields)  # what will be written
        self.current: Mapping[str, str] = current or {}  # the ticket now
        self.incident_tags = incident_tags_of(incident)
        self.new_tags: dict[str, str] = {}
        self.work_notes: list[str] = []
        self.skip_reason: str | None = None
        self._incident = incident
        self._alert_tags: dict[str, list[str]] | None = None  # built on first use

    def field(self, name: str) -> str:
        value = self.fields.get(name)
        if value is None:
            value = self.current.get(name, "")
        return "" if value is None else str(value)

    def values(self, source: str, name: str) -> list[str]:
        """The values a condition tests: none, one, or one per alert."""
        if source == "field":
            value = self.field(name)
        elif source == "incident_tag":
            value = self.incident_tags.get(name, "")
        else:
            if self._alert_tags is None:
                self._alert_tags = alert_tags_of(self._incident)
            return self._alert_tags.get(name, [])
        return [value] if value != "" else []
