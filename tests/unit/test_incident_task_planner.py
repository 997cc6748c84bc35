"""Incident tasks, planned from a share without I/O: which alerts, which groups, what each task says."""

from __future__ import annotations

from typing import Any

import pytest

from bpsn.integration.modules.incident_tasks import (
    CLOSED_COMPLETE,
    OPEN,
    IncidentTaskSettings,
    alert_summary,
    plan_tasks,
    task_groups,
    wants_task,
)

SETTINGS = IncidentTaskSettings(task_tag="incident_task", group_tag="assignment_group")
GROUPS = {"Database Administration": "g-dba", "Application Support": "g-app"}


def alert(host: str, check: str, status: str = "critical", ended: float | None = None, **tags: str) -> dict[str, Any]:
    return {"id": f"{host}-{check}", "status": status, "primary_property": "host", "secondary_property": "check",
            "description": "", "endedOn": ended,
            "tags": [{"name": "host", "value": host}, {"name": "check", "value": check},
                     *({"name": k, "value": v} for k, v in tags.items())]}


def incident(*alerts: dict[str, Any]) -> dict[str, Any]:
    return {"id": "INC-BP-1", "alerts": list(alerts)}


@pytest.mark.parametrize(("value", "wanted"), [("true", True), ("TRUE", True), ("yes", True), ("1", True),
                                               ("Check disk", True), ("false", False), ("No", False),
                                               ("0", False), ("off", False), ("", False)])
def test_the_task_tag_is_a_flag(value: str, wanted: bool) -> None:
    assert wants_task(alert("h", "c", incident_task=value), SETTINGS) is wanted


def test_an_alert_without_the_tag_gets_no_task_unless_events_are_parsed() -> None:
    plain = alert("h", "c")
    assert not wants_task(plain, SETTINGS)
    assert wants_task(plain, IncidentTaskSettings(parse_events=True))


def test_no_tag_and_no_parsing_means_the_module_is_off() -> None:
    settings = IncidentTaskSettings()
    assert not settings.enabled
    assert task_groups(incident(alert("h", "c", incident_task="true")), settings) == {}


def test_parsing_events_needs_a_group_tag() -> None:
    with pytest.raises(ValueError, match="group_tag"):
        IncidentTaskSettings(parse_events=True, group_tag="")


def test_one_task_per_group_with_counts_and_every_alert_listed() -> None:
    inc = incident(alert("db-1", "cpu", assignment_group="Database Administration", incident_task="true"),
                   alert("db-2", "disk", "ok", ended=1_767_225_900, assignment_group="Database Administration",
                         incident_task="true"),
                   alert("web-1", "http", "warning", assignment_group="Application Support", incident_task="true"),
                   alert("web-2", "http", assignment_group="Application Support"))  # not flagged
    tasks = {t.fields["assignment_group"]: t for t in plan_tasks(inc, "t" * 32, SETTINGS, GROUPS)}
    assert sorted(tasks) == ["g-app", "g-dba"]
    dba = tasks["g-dba"].fields
    assert dba["short_description"] == "BigPanda alerts for Database Administration: 1 open, 1 resolved"
    assert dba["description"].splitlines() == [
        "Alerts of BigPanda incident INC-BP-1 for Database Administration:",
        "[CRITICAL] db-1 / cpu",
        "[RESOLVED] db-2 / disk (resolved 2026-01-01 00:05:00 UTC)"]
    assert (dba["state"], dba["active"], dba["incident"], dba["impact"], dba["urgency"]) == (
        OPEN, "true", "t" * 32, "1", "1")
    assert "web-2" not in tasks["g-app"].fields["description"]
    assert (tasks["g-app"].fields["impact"], tasks["g-app"].fields["urgency"]) == ("2", "2")


def test_a_task_whose_alerts_are_all_resolved_is_closed() -> None:
    inc = incident(alert("db-1", "cpu", "ok", ended=1_767_225_600, assignment_group="Database Administration",
                         incident_task="true"))
    (task,) = plan_tasks(inc, "t" * 32, SETTINGS, GROUPS)
    assert (task.fields["state"], task.fields["active"]) == (CLOSED_COMPLETE, "false")
    assert task.fields["short_description"].endswith(": 0 open, 1 resolved")


def test_unknown_and_missing_groups_share_the_task_without_a_group_which_names_them() -> None:
    inc = incident(alert("db-1", "cpu", assignment_group="Storage Team", incident_task="true"),
                   alert("db-2", "cpu", incident_task="true"))
    (task,) = plan_tasks(inc, "t" * 32, SETTINGS, GROUPS)
    assert task.fields["assignment_group"] == ""
    assert task.fields["short_description"] == "BigPanda alerts for no assignment group: 2 open, 0 resolved"
    assert task.fields["description"].endswith("Assignment group not found in ServiceNow: Storage Team")


def test_sys_ids_are_stable_per_ticket_and_group() -> None:
    inc = incident(alert("db-1", "cpu", assignment_group="Database Administration", incident_task="true"))
    first = plan_tasks(inc, "a" * 32, SETTINGS, GROUPS)
    later = plan_tasks(incident(*inc["alerts"], alert("db-9", "mem", assignment_group="Database Administration",
                                                      incident_task="true")), "a" * 32, SETTINGS, GROUPS)
    other_ticket = plan_tasks(inc, "b" * 32, SETTINGS, GROUPS)
    assert [t.sys_id for t in first] == [t.sys_id for t in later]
    assert first[0].sys_id != other_ticket[0].sys_id
    assert len(first[0].sys_id) == 32 and int(first[0].sys_id, 16) >= 0


def test_a_long_alert_list_is_cut_with_a_count() -> None:
    alerts = [alert(f"h{i}", "c", assignment_group="Database Administration", incident_task="true")
              for i in range(60)]
    (task,) = plan_tasks(incident(*alerts), "t" * 32, SETTINGS, GROUPS)
    assert task.fields["description"].splitlines()[-1] == "... and 10 more alerts"
    assert len(task.fields["description"]) <= 4000


def test_alert_summary_names_primary_secondary_and_text() -> None:
    a = alert("db-1", "cpu", "warning")
    a["description"] = "CPU at 95%"
    assert alert_summary(a) == "[WARNING] db-1 / cpu: CPU at 95%"
