"""Unit tests of the Alert Configuration module's pure parts: settings, the alert records plan, the
CI auto-create plan, the AIA description, the BigPanda view link, and the staging row."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any

import pytest

from bpsn.integration.engine.mapping import IncidentSettings, description
from bpsn.integration.modules.alert_config import (
    AlertConfigSettings,
    CiBinder,
    activity_link,
    alert_host,
    alert_severity,
    ci_sys_id,
    description_with_aia,
    plan_ci_creates,
)
from bpsn.integration.modules.alert_records import TABLE, alert_record_sys_id, plan_alert_records, wanted_names
from bpsn.integration.modules.record_writes import WriteOutcome
from bpsn.integration.modules.staging import StagingSettings, alert_statuses, staging_row


def alert(alert_id: str, status: str = "critical", primary: str = "host", **tags: str) -> dict[str, Any]:
    return {"id": alert_id, "status": status, "primary_property": primary, "secondary_property": "check",
            "source_system": "api.test", "description": "", "startedOn": 1767225600, "endedOn": None,
            "tags": [{"name": k, "value": v} for k, v in tags.items()]}


def incident(*alerts: dict[str, Any], incident_id: str = "inc1") -> dict[str, Any]:
    return {"id": incident_id, "status": "critical", "alerts": list(alerts)}


# --- settings -------------------------------------------------------------------------------------
def test_defaults_answer_every_question_of_the_seed_table() -> None:
    s = AlertConfigSettings()
    assert (s.processing, s.alerts_table, s.auto_create_ci, s.new_ci_status, s.host_tag) == (True, True, False, "4",
                                                                                           "host")
    assert s.severity_values == ("critical", "warning", "unknown", "ok")


def test_from_mapping_reads_form_strings() -> None:
    s = AlertConfigSettings.from_mapping({"auto_create_ci": "Yes", "logging": "false", "new_ci_status": " 6 ",
                                          "severity_values": "Critical, Major ,", "priority_tag": "prio"})
    assert (s.auto_create_ci, s.logging, s.new_ci_status, s.priority_tag) == (True, False, "6", "prio")
    assert s.severity_values == ("critical", "major")


@pytest.mark.parametrize(("values", "named"), [
    ({"new_ci_status": "pending"}, "new_ci_status"),
    ({"logging": "maybe"}, "logging"),
    ({"colour": "blue"}, "colour"),
    ({"host_tag": "", "primary_property_as_host": "no"}, "host_tag"),
    ({"severity_values": " , "}, "severity_values"),
])
def test_settings_that_cannot_work_are_refused_by_name(values: dict[str, str], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        AlertConfigSettings.from_mapping(values)


def test_incident_task_settings_come_from_the_same_answers() -> None:
    tasks = AlertConfigSettings(incident_task_tag="make_task", parse_events_into_tasks=True,
                                assignment_group_tag="team").incident_task_settings()
    assert (tasks.task_tag, tasks.parse_events, tasks.group_tag) == ("make_task", True, "team")


# --- one alert ------------------------------------------------------------------------------------
def test_host_from_the_host_tag_or_the_primary_property() -> None:
    a = alert("a1", primary="device", device="sw-core-01", hostname="sw-core-01.lan")
    assert alert_host(a, AlertConfigSettings(host_tag="hostname")) == "sw-core-01.lan"
    assert alert_host(a, AlertConfigSettings(host_tag="hostname", primary_property_as_host=True)) == "sw-core-01"
    assert alert_host(a, AlertConfigSettings()) == ""


def test_severity_from_an_allowed_tag_value_else_the_status_with_a_note() -> None:
    s = AlertConfigSettings(severity_tag="sev", severity_values=("critical", "major"))
    assert alert_severity(alert("a", "warning", sev="MAJOR"), s) == ("major", "")
    severity, note = alert_severity(alert("a", "warning", sev="apocalyptic"), s)
    assert severity == "warning" and "apocalyptic" in note and "critical, major" in note
    assert alert_severity(alert("a", "warning"), s) == ("warning", "")
    assert alert_severity(alert("a", "warning", sev="major"), AlertConfigSettings()) == ("warning", "")


# --- the alert records plan -----------------------------------------------------------------------
def test_one_record_per_alert_with_a_sys_id_per_organisation_and_alert() -> None:
    inc = incident(alert("a1", host="db-01", check="disk"), alert("a2", "warning", host="db-01", check="cpu"))
    plan = plan_alert_records([(inc, "t" * 32)], "demo", AlertConfigSettings(), {"db-01": "c" * 32}, {})
    assert [r.table for r in plan.records] == [TABLE, TABLE]
    assert [r.sys_id for r in plan.records] == [alert_record_sys_id("demo", "a1"), alert_record_sys_id("demo", "a2")]
    first = plan.records[0].fields
    assert (first["u_incident"], first["u_cmdb_ci"], first["u_bp_incident_id"]) == ("t" * 32, "c" * 32, "inc1")
    assert (first["u_primary_property"], first["u_secondary_property"], first["u_severity"]) == ("db-01", "disk",
                                                                                                "critical")
    assert json.loads(first["u_tags"]) == {"host": "db-01", "check": "disk"}
    assert first["u_start"] == "2026-01-01 00:00:00" and first["u_end"] == ""
    assert alert_record_sys_id("demo", "a1") != alert_record_sys_id("other", "a1")
    replanned = plan_alert_records([(inc, "t" * 32)], "demo", AlertConfigSettings(), {"db-01": "c" * 32}, {})
    assert replanned.records == plan.records


def test_group_priority_and_what_could_not_be_bound() -> None:
    s = AlertConfigSettings(assignment_group_tag="team", priority_tag="prio")
    inc = incident(alert("a1", host="db-01", team="DBA", prio="P2"), alert("a2", host="new-01", team="Nobody"))
    plan = plan_alert_records([(inc, "t" * 32)], "demo", s, {"db-01": "c" * 32}, {"DBA": "g" * 32})
    one, two = (r.fields for r in plan.records)
    assert (one["u_assignment_group"], one["u_priority"]) == ("g" * 32, "P2")
    assert (two["u_assignment_group"], two["u_cmdb_ci"], two["u_priority"]) == ("", "", "")
    assert plan.notes == ["alert a2: no cmdb_ci named 'new-01'", "alert a2: no sys_user_group named 'Nobody'"]


@pytest.mark.parametrize("settings", [AlertConfigSettings(processing=False), AlertConfigSettings(alerts_table=False)])
def test_no_records_when_processing_or_the_table_is_off(settings: AlertConfigSettings) -> None:
    assert plan_alert_records([(incident(alert("a1", host="h")), "t" * 32)], "demo", settings, {}, {}).records == []


def test_an_alert_without_an_id_is_noted_not_recorded() -> None:
    plan = plan_alert_records([(incident(alert("", host="h")), "t" * 32)], "demo", AlertConfigSettings(), {}, {})
    assert plan.records == [] and "without an id" in plan.notes[0]


def test_wanted_names_are_the_hosts_and_groups_to_look_up() -> None:
    incs = [incident(alert("a1", host="h1", assignment_group="G1"), alert("a2", host="h2")),
            incident(alert("a3", host="h1", assignment_group="G2"))]
    assert wanted_names(incs, AlertConfigSettings()) == ({"h1", "h2"}, {"G1", "G2"})


# --- CI auto-create -------------------------------------------------------------------------------
def test_ci_creates_only_for_hosts_neither_found_nor_created() -> None:
    s = AlertConfigSettings(auto_create_ci=True, new_ci_status="4")
    creates = plan_ci_creates(["found", "made", "new", "a,b", ""], {"found": "f" * 32}, s, {"made": "m" * 32})
    assert list(creates) == ["new"]
    record = creates["new"]
    assert (record.table, record.sys_id, record.fields) == ("cmdb_ci", ci_sys_id("new"), {})
    assert record.on_create == {"name": "new", "install_status": "4"}
    assert plan_ci_creates(["new"], {}, AlertConfigSettings(), {}) == {}


class FakeReferences:
    def __init__(self, known: dict[str, str]) -> None:
        self.known, self.asked = known, []

    async def sys_ids(self, table: str, keys: Iterable[str], field: str = "") -> dict[str, str]:
        keys = set(keys)
        self.asked.append((table, keys))
        return {k: v for k, v in self.known.items() if k in keys}

    def remember(self, table: str, key: str, sys_id: str, field: str = "", name: str = "") -> None:
        self.known[key] = sys_id


def test_a_created_ci_is_remembered_and_never_planned_or_looked_up_again() -> None:
    refs = FakeReferences({"db-prod-01": "d" * 32})
    binder = CiBinder(refs, AlertConfigSettings(auto_create_ci=True))  # type: ignore[arg-type]
    binding = asyncio.run(binder.bind({"db-prod-01", "db-new-01"}))
    assert binding.sys_ids == {"db-prod-01": "d" * 32, "db-new-01": ci_sys_id("db-new-01")}
    assert list(binding.creates) == ["db-new-01"]
    binder.confirm(binding, WriteOutcome(sent=1))
    again = asyncio.run(binder.bind({"db-new-01"}))
    assert again.creates == {} and again.sys_ids == {"db-new-01": ci_sys_id("db-new-01")}
    assert refs.asked == [("cmdb_ci", {"db-prod-01", "db-new-01"})]


def test_a_failed_create_is_planned_again() -> None:
    binder = CiBinder(FakeReferences({}), AlertConfigSettings(auto_create_ci=True))  # type: ignore[arg-type]
    binding = asyncio.run(binder.bind({"db-new-01"}))
    binder.confirm(binding, WriteOutcome(sent=1, failed=[f"cmdb_ci {ci_sys_id('db-new-01')}: 403 ACL"]))
    assert list(asyncio.run(binder.bind({"db-new-01"})).creates) == ["db-new-01"]


# --- AIA in the description, the BigPanda view link -------------------------------------------------
SHARE_INCIDENT = {"id": "inc1", "status": "critical", "alerts": [alert("a1", host="db-01", check="disk")],
                  "tag_values": {"team": "dba"},
                  "links": {"incident": "https://bp/i", "timeline": "https://bp/t", "preview": "https://bp/p"}}


def test_aia_summary_section_first() -> None:
    base = description(SHARE_INCIDENT, IncidentSettings(description_incident_tags=("team",)))
    text = description_with_aia(base, "Disk full after log rotation failed.", replace_alert_summary=False)
    assert text == "AI summary:\nDisk full after log rotation failed.\n\n" + base


def test_aia_summary_replaces_the_alert_summary_and_keeps_tags_and_links() -> None:
    base = description(SHARE_INCIDENT, IncidentSettings(description_incident_tags=("team",)))
    text = description_with_aia(base, "Disk full.", replace_alert_summary=True)
    assert text.startswith("AI summary:\nDisk full.\n\nIncident tags:\nteam: dba\n")
    assert "1 Critical" not in text and "[CRITICAL]" not in text and "BigPanda incident: https://bp/i" in text
    bare = description(SHARE_INCIDENT, IncidentSettings(links_in_description=False))
    assert description_with_aia(bare, "Disk full.", replace_alert_summary=True) == "AI summary:\nDisk full."


def test_no_summary_leaves_the_description() -> None:
    assert description_with_aia("1 Critical\n\n[CRITICAL] x", "  ", replace_alert_summary=True) == "1 Critical\n\n[CRITICAL] x"


def test_activity_link_is_the_form_or_the_bigpanda_view() -> None:
    on, off = AlertConfigSettings(bigpanda_view_link=True), AlertConfigSettings()
    assert activity_link(off, "https://sn/", "s" * 32) == f"https://sn/nav_to.do?uri=incident.do?sys_id={'s' * 32}"
    assert activity_link(on, "https://sn", "s" * 32) == (
        f"https://sn/nav_to.do?uri=x_bip_panda_incident_metadata.do?sysparm_query=u_incident={'s' * 32}")


# --- the staging row ------------------------------------------------------------------------------
def share(**incident_fields: Any) -> dict[str, Any]:
    inc = {**SHARE_INCIDENT, "changedOn": 1767225660, "flapping": True, "snooze": {"snoozed": False},
           "external_tickets": [{"system": "jira", "number": "OPS-1", "url": "https://jira/OPS-1"}],
           **incident_fields}
    return {"share_id": "sh1", "incident_id": "inc1", "environment_id": "env1", "environment_name": "production",
            "trigger": "incident#new", "incident": inc}


def test_staging_row_carries_the_share_the_ticket_and_the_aia_summary() -> None:
    row = staging_row(share(), "t" * 32, StagingSettings("demo", ci_lookup_tag="host"), {"ai_summary": "Disk."})
    assert (row["u_bp_incident_id"], row["u_bp_share_id"], row["u_bp_organization"], row["u_ticket_sys_id"]) == (
        "inc1", "sh1", "demo", "t" * 32)
    assert (row["u_bp_alerts_count"], row["u_bp_active_alerts_count"], row["u_bp_alerts_statuses"]) == ("1", "1",
                                                                                                      "critical: 1")
    assert (row["u_bp_incident_url"], row["u_bp_timeline_url"], row["u_bp_preview_url"]) == (
        "https://bp/i", "https://bp/t", "https://bp/p")
    assert (row["u_bp_flapping"], row["u_bp_snoozed"], row["u_bp_aia_summary"], row["u_ci_lookup"]) == (
        "true", "false", "Disk.", "host")
    assert row["u_bp_changed_at"] == "2026-01-01 00:01:00" and row["u_bp_event_type"] == "incident#new"
    assert json.loads(row["u_bp_external_urls"]) == [{"system": "jira", "number": "OPS-1", "url": "https://jira/OPS-1"}]
    carried = json.loads(row["u_bp_incident_json"])
    assert carried["id"] == "inc1" and "tag_values" not in carried


def test_a_button_that_is_off_has_no_target() -> None:
    row = staging_row(share(), "t" * 32, StagingSettings("demo", incident_button=False, timeline_button=False), {})
    assert (row["u_bp_incident_url"], row["u_bp_timeline_url"], row["u_bp_aia_summary"]) == ("", "", "")


def test_staging_needs_the_organisation() -> None:
    with pytest.raises(ValueError, match="organisation"):
        StagingSettings("")


def test_alert_statuses_summary() -> None:
    alerts = [{"status": "ok"}, {"status": "critical"}, {"status": "critical"}]
    assert alert_statuses(alerts) == "critical: 2, ok: 1"
