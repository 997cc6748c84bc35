"""The Alert Configuration module's settings (BigPanda > Admin > Configuration > Alert
Processing - Addon), what they decide about one alert, and the CMDB CI auto-create.

Every question of the seed's table is one field of `AlertConfigSettings` (`QUESTIONS` maps
each field to its question). The alert records themselves are alert_records.py; incident tasks,
similar incidents and RCC read their flags from here but are their own modules.

Where the AI-generated Incident Analysis (AIA) summary comes from: a BigPanda incident tag,
named by `aia_tag` (default "ai_summary"), the way BigPanda's automatic enrichment writes
computed values onto an incident. It needs no change to the BigPanda simulator or its API: the
share carries the incident's tags, and the core reads them by name (TagDirectory). The summary
is staged with every share and lands in x_bip_panda_incident_metadata.u_aia_summary (the AIA
tab of the BigPanda view; staging.py). `description_with_aia` is what the ticket description
becomes when "AIA in description" (Incidents) or `aia_replaces_alert_summary` is on: an
"AI summary" section first, and with the latter the alert summary (the counts and the alert
list) left out.

CI auto-create: a host that the CMDB does not have (looked up by name through the runner's
cached ReferenceCache) becomes a cmdb_ci record with name = host and install_status =
`new_ci_status` (4, Pending Install). Its sys_id is derived from the host name, so two cores
or a replayed share cannot make two; the create rides in the alert records' Batch API request
(before the alert rows that reference it), costing no request of its own; once created the
host is remembered and never planned again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bpsn.integration.clients.lookups import ReferenceCache
from bpsn.integration.engine.mapping import AIA_HEADING, AIA_TAG, alert_tag, description_with_aia  # noqa: F401 - re-exported

from .record_writes import PlannedRecord, WriteOutcome, record_sys_id

if TYPE_CHECKING:
    from .incident_tasks import IncidentTaskSettings

BIGPANDA_STATUSES = ("critical", "warning", "unknown", "ok")  # BigPanda's alert statuses
CI_TABLE = "cmdb_ci"
TRUE_WORDS, FALSE_WORDS = {"true", "yes", "on", "1"}, {"false", "no", "off", "0", ""}

QUESTIONS: dict[str, str] = {
    "processing": "Turn on alert processing and associate alerts to an incident?",
    "logging": "Turn on logging for alert processing to help debugging?",
    "host_tag": "What alert tag contains the hostname field that should map to the CMDB_CI table for alert "
                "bindings?",
    "primary_property_as_host": "Use the alert Primary Property for the HOST field to look up CMDB CI alert "
                                "bindings?",
    "auto_create_ci": "If hosts are not found in the CMDB, should they be automatically added to the CMDB_CI "
                      "table and listed as Pending Install?",
    "new_ci_status": "What should be the numerical status of new CMDB_CI items (4= Pending Install)?",
    "bigpanda_view_link": "Use the BigPanda View link from the BigPanda activity log in the BigPanda console?",
    "assignment_group_tag": "The alert tag that contains the assignment group for mapping alerts or incident "
                            "tasks to an assignment group.",
    "priority_tag": "Map a custom tag to the priority field on the alert record?",
    "incident_task_tag": "The alert tag name that will be included to create an incident task.",
    "severity_tag": "What alert tag from BigPanda should represent severity?",
    "alerts_table": "Have you installed the add-on for BigPanda alert tables (BP alerts)?",
    "similar_incidents_tab": "Enable the similar incidents tab for the BigPanda incidents view?",
    "rcc_tab": "Enable the RCC tab on the BigPanda incidents view?",
    "parse_events_into_tasks": "Parse events into the incident tasks table? (BETA)",
    "aia_replaces_alert_summary": "Enable AIA descriptions and remove the alert summary?",
}


@dataclass(frozen=True)
class AlertConfigSettings:
    processing: bool = True  # off: no alert records, no CI created, whatever else is set
    logging: bool = False  # each alert record planned is logged (INFO, logger bpsn.integration.alerts)
    host_tag: str = "host"  # the alert tag naming the CMDB CI an alert binds to
    primary_property_as_host: bool = False  # the alert's primary property value is the host instead
    auto_create_ci: bool = False  # a host the CMDB does not have becomes a cmdb_ci record
    new_ci_status: str = "4"  # install_status of such a record (4 = Pending Install)
    bigpanda_view_link: bool = False  # BigPanda's activity log links to the BigPanda view, not the form
    assignment_group_tag: str = "assignment_group"  # alert tag naming the group (alerts and incident tasks)
    priority_tag: str = ""  # alert tag copied to the alert record's priority; "" = no priority mapping
    incident_task_tag: str = ""  # alert tag whose true value puts the alert into an incident task
    severity_tag: str = ""  # alert tag giving the alert record's severity; "" = the alert's status
    severity_values: tuple[str, ...] = BIGPANDA_STATUSES  # the values the severity tag may take
    alerts_table: bool = True  # the BP alerts add-on: alert records in x_bip_panda_bp_alerts
    similar_incidents_tab: bool = False  # the Similar Incidents tab of the BigPanda view
    rcc_tab: bool = False  # the Root Cause Changes tab of the BigPanda view
    parse_events_into_tasks: bool = False  # every alert into an incident task (BETA)
    aia_replaces_alert_summary: bool = False  # the AIA summary replaces the description's alert summary
    aia_tag: str = AIA_TAG  # the BigPanda incident tag carrying the AIA summary
    # our addition (the seed names parent-child incidents but no setting): see parent_child.py
    parent_child_incidents: bool = False
    parent_child_tag: str = ""  # the alert tag naming an alert's source; "" = its primary property

    def __post_init__(self) -> None:
        for name in ("host_tag", "assignment_group_tag", "priority_tag", "incident_task_tag", "severity_tag",
                     "aia_tag", "new_ci_status"):
            object.__setattr__(self, name, str(getattr(self, name)).strip())
        if not self.new_ci_status.isdigit():
            raise ValueError(f"alert configuration: new_ci_status must be a whole number such as 4 (Pending "
                             f"Install), got {self.new_ci_status!r}")
        if not self.host_tag and not self.primary_property_as_host:
            raise ValueError("alert configuration: host_tag is empty and primary_property_as_host is off, "
                             "so no alert could be bound to a CMDB CI")
        values = tuple(v.strip().lower() for v in self.severity_values if v.strip())
        if not values:
            raise ValueError("alert configuration: severity_values must name at least one value")
        object.__setattr__(self, "severity_values", values)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> AlertConfigSettings:
        """Settings as a form or a stored record sends them: strings for booleans ("true", "yes"),
        comma-separated lists; an unknown key is refused by name."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ValueError(f"alert configuration: unknown settings {', '.join(unknown)}")
        parsed: dict[str, Any] = {}
        for name, raw in values.items():
            default = fields[name].default
            if isinstance(default, bool):
                parsed[name] = _boolean(name, raw)
            elif isinstance(default, tuple):
                parsed[name] = tuple(p.strip() for p in raw.split(",")) if isinstance(raw, str) else tuple(raw)
            else:
                parsed[name] = str(raw)
        return cls(**parsed)

    def incident_task_settings(self) -> IncidentTaskSettings:
        """The incident tasks module's view of these answers (its tag, BETA flag and group tag)."""
        from .incident_tasks import IncidentTaskSettings
        return IncidentTaskSettings(task_tag=self.incident_task_tag, parse_events=self.parse_events_into_tasks,
                                    group_tag=self.assignment_group_tag)


def _boolean(name: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    word = str(raw).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"alert configuration: {name} must be yes or no (true/false), got {raw!r}")


# --- what the settings decide about one alert (pure) ---------------------------------------------
def alert_host(alert: Mapping[str, Any], settings: AlertConfigSettings) -> str:
    """The host an alert binds to: its primary property's value, or the host tag's."""
    if settings.primary_property_as_host:
        return alert_tag(dict(alert), str(alert.get("primary_property") or "")).strip()
    return alert_tag(dict(alert), settings.host_tag).strip()


def alert_severity(alert: Mapping[str, Any], settings: AlertConfigSettings) -> tuple[str, str]:
    """(severity, note): the severity tag's value when it is an allowed one, else the alert's status;
    the note says why a tag value was not taken."""
    status = str(alert.get("status", ""))
    if not settings.severity_tag:
        return status, ""
    value = alert_tag(dict(alert), settings.severity_tag).strip()
    if value.lower() in settings.severity_values:
        return value.lower(), ""
    if value:
        return status, (f"severity tag {settings.severity_tag}={value!r} is not one of "
                        f"{', '.join(settings.severity_values)}: the alert status {status!r} is used")
    return status, ""


def bigpanda_view_url(instance_url: str, ticket_sys_id: str) -> str:
    """The BigPanda view of a ticket: its x_bip_panda_incident_metadata record."""
    return (f"{instance_url.rstrip('/')}/nav_to.do?uri=x_bip_panda_incident_metadata.do"
            f"?sysparm_query=u_incident={ticket_sys_id}")


def activity_link(settings: AlertConfigSettings, instance_url: str, ticket_sys_id: str) -> str:
    """The link BigPanda's activity log shows for a ticket (the callback's ticket url)."""
    if settings.bigpanda_view_link:
        return bigpanda_view_url(instance_url, ticket_sys_id)
    return f"{instance_url.rstrip('/')}/nav_to.do?uri=incident.do?sys_id={ticket_sys_id}"


# --- CMDB CI binding and auto-create -------------------------------------------------------------
def ci_sys_id(host: str) -> str:
    return record_sys_id("cmdb_ci", host)


def lookable(host: str) -> bool:
    """A host the cached IN lookup can ask for (no ',' or '^' in an encoded query value)."""
    return bool(host) and "," not in host and "^" not in host


def plan_ci_creates(hosts: Iterable[str], found: Mapping[str, str], settings: AlertConfigSettings,
                    created: Mapping[str, str]) -> dict[str, PlannedRecord]:
    """host -> the cmdb_ci record to create, for hosts neither in the CMDB nor created already."""
    if not settings.auto_create_ci:
        return {}
    out: dict[str, PlannedRecord] = {}
    for host in sorted(set(hosts)):
        if lookable(host) and host not in found and host not in created:
            # fields empty: if the record exists after all (another core made it), nothing is overwritten
            out[host] = PlannedRecord(CI_TABLE, ci_sys_id(host), {},
                                      on_create={"name": host, "install_status": settings.new_ci_status})
    return out


@dataclass
class CiBinding:
    sys_ids: dict[str, str]  # host -> cmdb_ci sys_id (found, created before, or created in this batch)
    creates: dict[str, PlannedRecord]  # host -> record to create in this poll's batch


class CiBinder:
    """Hosts -> cmdb_ci sys_ids through the runner's cached lookups, planning the missing ones."""

    def __init__(self, references: ReferenceCache, settings: AlertConfigSettings) -> None:
        self.references, self.settings = references, settings
        self.created: dict[str, str] = {}  # hosts this core created (or found made by another core)

    async def bind(self, hosts: Iterable[str]) -> CiBinding:
        wanted = {h for h in hosts if lookable(h)}
        ask = wanted - set(self.created)
        found = await self.references.sys_ids(CI_TABLE, ask) if ask else {}
        creates = plan_ci_creates(ask, found, self.settings, self.created)
        sys_ids = {**found, **{h: s for h, s in self.created.items() if h in wanted},
                   **{h: r.sys_id for h, r in creates.items()}}
        return CiBinding(sys_ids, creates)

    def confirm(self, binding: CiBinding, outcome: WriteOutcome) -> None:
        """Remember the creates the batch carried out, so they are never planned again."""
        failed = " ".join(outcome.failed)
        for host, record in binding.creates.items():
            if record.sys_id not in failed:
                self.created[host] = record.sys_id
                self.references.remember(CI_TABLE, host, record.sys_id)  # the ticket's next write finds it
