"""BPQL over an incident: what each field names, from the incident and its alerts (sharing
rules, environment filters and search all ask this)."""

from __future__ import annotations

from collections.abc import Mapping

from bpsn.simulator.bigpanda.bpql import Lookup
from bpsn.simulator.bigpanda.models import Alert, Incident


def incident_lookup(alerts_by_id: Mapping[str, Alert], incident: Incident) -> Lookup:
    """The values a BPQL field names, for an incident and its alerts."""
    alerts = [alerts_by_id[a] for a in incident.alert_ids]

    def lookup(field: str) -> list[str]:
        own = {"status": incident.status, "severity": incident.severity, "id": incident.id,
               "active": str(incident.active).lower(), "flapping": str(incident.flapping).lower(),
               "snoozed": str(incident.snooze.snoozed).lower(), "assignee": incident.assignee or ""}
        if field in own:
            return [own[field]]
        if field.startswith("incident_tags."):
            value = incident.incident_tags.get(field.split(".", 1)[1])
            return [] if value is None else value.split("|")
        name = field[len("tags."):] if field.startswith("tags.") else field
        out: list[str] = []
        for a in alerts:
            attrs = {"primary_property": a.primary_property, "secondary_property": a.secondary_property or "",
                     "source_system": a.source_system, "incident_key": a.incident_key,
                     "description": a.description, "alert_status": a.status}
            value = a.tags.get(name, attrs.get(name))
            if value:
                out.extend(value.split("|"))
        return out

    return lookup
