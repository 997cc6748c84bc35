"""Incident tasks from BigPanda alerts, one per assignment group (Alert Configuration module).

Which alerts: the seed's setting "The alert tag name that will be included to create an
incident task" names an alert tag; its description is cut off after "If the value of this tag
is". We read it as a flag: an alert whose tag holds a true value (anything but empty, false,
no, off, 0) goes into a task. "Parse events into the incident tasks table? (BETA)" goes
further: every alert of the incident is parsed into a task, flag or not.

Consolidation: the alerts of one incident are grouped by the value of the assignment group tag
("The alert tag that contains the assignment group for mapping alerts or incident tasks to an
assignment group"), and each group has one incident_task under the ticket. A later alert of
the same group updates that task: its short description counts open and resolved alerts, its
description lists every alert, resolved ones marked with when they ended. The task closes
(Closed Complete) when all its alerts are resolved and opens again when one fires again.
Alerts without a group, or whose group is not in ServiceNow, share one task without a group
(the description names the missing group).

Idempotent: a task's sys_id is derived from the ticket's sys_id and the group, and it is
planned whole from the share (which carries all the incident's alerts), so a replayed share
plans the same task. A new ticket (after a closed one) gets new tasks.

Requests per poll: group names -> sys_ids through the runner's ReferenceCache (one cached
query per poll at most), then one Batch API request for every task of the poll.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bpsn.base.clock import glide
from bpsn.integration.clients.lookups import ReferenceCache
from bpsn.integration.clients.servicenow import ServiceNowClient
from bpsn.integration.engine.mapping import IMPACT_URGENCY, STATUS_RANK, alert_tag

from .companion import CompanionHost, WrittenTicket
from .record_writes import PlannedRecord, RecordWriter, WriteOutcome, record_sys_id

TABLE = "incident_task"
OPEN, CLOSED_COMPLETE = "1", "3"
FALSE_VALUES = {"", "false", "no", "off", "0"}
NO_GROUP = ""
NO_GROUP_KEY = "\x00"  # the no-group task's part of its sys_id: no group name can be it
MAX_LISTED = 50  # alerts listed in one task's description; the rest are counted


@dataclass(frozen=True)
class IncidentTaskSettings:
    task_tag: str = ""  # the alert tag whose true value puts the alert into a task
    parse_events: bool = False  # "Parse events into the incident tasks table? (BETA)": every alert
    group_tag: str = "assignment_group"  # the alert tag naming the assignment group

    def __post_init__(self) -> None:
        if self.parse_events and not self.group_tag:
            raise ValueError("incident tasks: parse_events needs group_tag (the alert tag naming the group)")

    @property
    def enabled(self) -> bool:
        return self.parse_events or bool(self.task_tag)


def wants_task(alert: dict[str, Any], settings: IncidentTaskSettings) -> bool:
    if settings.parse_events:
        return True
    return bool(settings.task_tag) and alert_tag(alert, settings.task_tag).strip().lower() not in FALSE_VALUES


def alert_summary(alert: dict[str, Any]) -> str:
    """One line per alert: "[CRITICAL] db-prod-01 / cpu: text", resolved ones with their end."""
    primary = alert_tag(alert, alert.get("primary_property") or "") or str(alert.get("primary_property", ""))
    secondary = alert_tag(alert, alert.get("secondary_property") or "")
    status = str(alert.get("status", "")).upper()
    line = f"[{'RESOLVED' if status == 'OK' else status}] {primary}" + (f" / {secondary}" if secondary else "")
    if alert.get("description"):
        line += f": {alert['description']}"
    if status == "OK" and alert.get("endedOn"):
        line += f" (resolved {glide(float(alert['endedOn']))} UTC)"
    return line


def alert_lines(alerts: list[dict[str, Any]]) -> list[str]:
    lines = [alert_summary(a) for a in alerts[:MAX_LISTED]]
    if len(alerts) > MAX_LISTED:
        lines.append(f"... and {len(alerts) - MAX_LISTED} more alerts")
    return lines


def impact_urgency(alerts: list[dict[str, Any]]) -> tuple[str, str]:
    """From the worst open alert; (3, 3) when all are resolved."""
    worst = max((str(a.get("status", "ok")) for a in alerts if a.get("status") != "ok"),
                key=lambda s: STATUS_RANK.get(s, 0), default="ok")
    return IMPACT_URGENCY.get(worst, ("3", "3"))


def task_groups(incident: dict[str, Any], settings: IncidentTaskSettings) -> dict[str, list[dict[str, Any]]]:
    """group name (NO_GROUP for none) -> the incident's alerts that go into that group's task."""
    groups: dict[str, list[dict[str, Any]]] = {}
    if not settings.enabled:
        return groups
    for alert in incident.get("alerts") or []:
        if wants_task(alert, settings):
            name = alert_tag(alert, settings.group_tag).strip() if settings.group_tag else NO_GROUP
            groups.setdefault(name, []).append(alert)
    return groups


def plan_tasks(incident: dict[str, Any], ticket_sys_id: str, settings: IncidentTaskSettings,
               group_sys_ids: dict[str, str]) -> list[PlannedRecord]:
    """The incident's tasks, whole; `group_sys_ids`: group name -> sys_user_group sys_id."""
    incident_id = str(incident.get("id", ""))
    # a named group missing from ServiceNow joins the task without a group
    by_task: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for name, alerts in task_groups(incident, settings).items():
        key = name if name in group_sys_ids else NO_GROUP
        by_task.setdefault(key, []).extend((name, a) for a in alerts)
    tasks = []
    for key, named_alerts in sorted(by_task.items()):
        alerts = [a for _, a in named_alerts]
        open_count = sum(1 for a in alerts if a.get("status") != "ok")
        resolved = len(alerts) - open_count
        label = key or "no assignment group"
        missing = sorted({n for n, _ in named_alerts if n and n not in group_sys_ids})
        header = f"Alerts of BigPanda incident {incident_id} for {label}:"
        notes = [f"Assignment group not found in ServiceNow: {', '.join(missing)}"] if missing else []
        impact, urgency = impact_urgency(alerts)
        fields = {
            "incident": ticket_sys_id,
            "assignment_group": group_sys_ids.get(key, ""),
            "short_description": f"BigPanda alerts for {label}: {open_count} open, {resolved} resolved"[:160],
            "description": "\n".join([header, *alert_lines(alerts), *(["", *notes] if notes else [])])[:4000],
            "state": OPEN if open_count else CLOSED_COMPLETE,
            "active": "true" if open_count else "false",
            "impact": impact, "urgency": urgency,
            "correlation_id": incident_id,
            "correlation_display": "BigPanda",
        }
        tasks.append(PlannedRecord(TABLE, record_sys_id("incident_task", ticket_sys_id, key or NO_GROUP_KEY), fields))
    return tasks


class IncidentTasks:
    """The companion: after each poll, the tasks of every ticket written, in one batch."""

    def __init__(self, servicenow: ServiceNowClient, references: ReferenceCache,
                 settings: IncidentTaskSettings) -> None:
        self.references, self.settings = references, settings
        self.writer = RecordWriter(servicenow)
        self.last: WriteOutcome | None = None

    async def after_poll(self, written: list[WrittenTicket]) -> None:
        if not self.settings.enabled or not written:
            return
        names: set[str] = set()
        for w in written:
            names.update(n for n in task_groups(w.share["incident"], self.settings) if n)
        group_sys_ids = await self.references.sys_ids("sys_user_group", names) if names else {}
        planned = [t for w in written for t in plan_tasks(w.share["incident"], w.ticket.sys_id, self.settings,
                                                          group_sys_ids)]
        self.last = await self.writer.write(planned)


def attach(runner: CompanionHost, settings: IncidentTaskSettings) -> IncidentTasks:
    """Add incident tasks to a runner's companions (sharing its ServiceNow client and lookups)."""
    companion = IncidentTasks(runner.servicenow, runner.references, settings)
    runner.companions.append(companion)
    return companion

