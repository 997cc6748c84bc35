"""Steps of alert_configuration.feature: the Alert Configuration module's settings, the BigPanda
alerts table, share staging and the incident metadata, and what each poll costs in requests."""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pytest_bdd import given, parsers, then, when

from bpsn.harness.base import Harness
from bpsn.integration.engine.mapping import IncidentSettings
from bpsn.integration.modules import alert_records, staging
from bpsn.integration.modules.alert_config import AlertConfigSettings, activity_link
from bpsn.integration.modules.correlations import CORRELATION_TABLE, EXTERNAL_TICKET_TABLE
from bpsn.steps.common import reattach_on_restart

CORE_USER = "bigpanda.integration"
BUTTONS = {
    "Show UI Action Button to Incident in BP": "incident_button",
    "Show UI Action Button to Incident Timeline in BP": "timeline_button",
}


# --- the modules ----------------------------------------------------------------------------------
def _attach(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    """(Re)attach share staging and the alert records to the bench's current core."""
    _attach_to(bpsn_bench.runner, bpsn_context)
    reattach_on_restart(bpsn_context, "alert_configuration", lambda runner: _attach_to(runner, bpsn_context))


def _attach_to(runner: Any, bpsn_context: dict[str, Any]) -> None:
    runner.companions[:] = [
        c for c in runner.companions if not isinstance(c, (staging.ShareStaging, alert_records.AlertRecords))
    ]
    bpsn_context["staging"] = staging.attach(runner, **bpsn_context.get("staging_options", {}))
    bpsn_context["alerts"] = alert_records.attach(runner, bpsn_context.get("alert_settings", AlertConfigSettings()))


@given("the default Alert Configuration settings")
def default_settings(
    bpsn_bench: Harness, bpsn_context: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bpsn.integration.alerts")  # the processing log, when it is on
    bpsn_context["alert_settings"] = AlertConfigSettings()
    _attach(bpsn_bench, bpsn_context)


@given("the Alert Configuration settings:")
def settings_table(
    bpsn_bench: Harness,
    bpsn_context: dict[str, Any],
    datatable: list[list[str]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """As the configuration form sends them: strings, yes/no, comma-separated lists."""
    caplog.set_level(logging.INFO, logger="bpsn.integration.alerts")  # the processing log, when it is on
    bpsn_context["alert_settings"] = AlertConfigSettings.from_mapping({k: v for k, v in datatable[1:]})
    _attach(bpsn_bench, bpsn_context)


@given(parsers.parse('the Incidents setting "{name}" is off'))
def button_off(bpsn_bench: Harness, bpsn_context: dict[str, Any], name: str) -> None:
    """An Incidents setting: the core restarts with it, and staging takes it from there."""
    current = bpsn_bench.incident_settings or IncidentSettings()
    bpsn_bench.reconfigure(dataclasses.replace(current, **{BUTTONS[name]: False}))
    _attach(bpsn_bench, bpsn_context)


# --- alerts ---------------------------------------------------------------------------------------
def _send(bpsn_bench: Harness, bpsn_context: dict[str, Any], status: str, tags: dict[str, str]) -> None:
    r = bpsn_bench.send_alerts({"status": status, **tags})
    assert r.status_code == 201, r.text
    bpsn_context["incident_id"] = r.json()["alerts"][0]["incident_id"]


@given(parsers.re(r'a monitoring tool sends an? (?P<status>\w+) alert "(?P<tags>[^"]+)"'))
@when(parsers.re(r'a monitoring tool sends an? (?P<status>\w+) alert "(?P<tags>[^"]+)"'))
def send_tagged_alert(bpsn_bench: Harness, bpsn_context: dict[str, Any], status: str, tags: str) -> None:
    """Tags as "name=value, name=value"."""
    pairs = [part.split("=", 1) for part in tags.split(", ")]
    assert all(len(p) == 2 for p in pairs), f"tags must read name=value: {tags!r}"
    _send(bpsn_bench, bpsn_context, status, {name.strip(): value.strip() for name, value in pairs})


@when(parsers.parse('{hosts:d} hosts each send {count:d} {status} alerts for team "{team}"'))
def storm(bpsn_bench: Harness, hosts: int, count: int, status: str, team: str) -> None:
    """One alerts-API request (the API's 5 requests / second hold for the source too)."""
    r = bpsn_bench.send_alerts(
        *(
            {"status": status, "host": f"storm-host-{h}", "check": f"{status}-check-{k}", "team": team}
            for h in range(hosts)
            for k in range(count)
        )
    )
    assert r.status_code == 201, r.text


@given("the core polls BigPanda")
def core_polls_given(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    bpsn_context["report"] = bpsn_bench.poll()


# --- the BigPanda alerts table --------------------------------------------------------------------
def _rows(bpsn_bench: Harness, table: str, query: str) -> list[dict[str, Any]]:
    r = bpsn_bench.run(
        bpsn_bench.admin.get(
            f"/api/now/table/{table}",
            params={"sysparm_query": query, "sysparm_exclude_reference_link": "true", "sysparm_limit": 1000},
        )
    )
    r.raise_for_status()
    return list(r.json()["result"])


def _ticket(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> dict[str, Any]:
    return _rows(bpsn_bench, "incident", f"correlation_id={bpsn_context['incident_id']}^ORDERBYDESCsys_created_on")[0]


def _alert_record(bpsn_bench: Harness, bpsn_context: dict[str, Any], check: str) -> dict[str, Any]:
    rows = [
        r
        for r in _rows(bpsn_bench, "x_bip_panda_bp_alerts", f"u_bp_incident_id={bpsn_context['incident_id']}")
        if json.loads(r["u_tags"]).get("check") == check
    ]
    assert len(rows) == 1, rows
    return rows[0]


def _sys_id(bpsn_bench: Harness, table: str, name: str) -> str:
    rows = _rows(bpsn_bench, table, f"name={name}")
    assert len(rows) == 1, (table, name, rows)
    return str(rows[0]["sys_id"])


@then(parsers.parse("the BigPanda alerts table holds {count:d} records for that incident"))
def alert_records_for_incident(bpsn_bench: Harness, bpsn_context: dict[str, Any], count: int) -> None:
    assert len(_rows(bpsn_bench, "x_bip_panda_bp_alerts", f"u_bp_incident_id={bpsn_context['incident_id']}")) == count


@then(parsers.parse("the BigPanda alerts table holds {count:d} records in all"))
def alert_records_in_all(bpsn_bench: Harness, count: int) -> None:
    assert len(_rows(bpsn_bench, "x_bip_panda_bp_alerts", "")) == count


@then(parsers.parse('the alert record of check "{check}" belongs to the ticket'))
def record_belongs(bpsn_bench: Harness, bpsn_context: dict[str, Any], check: str) -> None:
    assert _alert_record(bpsn_bench, bpsn_context, check)["u_incident"] == _ticket(bpsn_bench, bpsn_context)["sys_id"]


@then(parsers.parse('the alert record of check "{check}" is bound to the cmdb_ci "{name}"'))
def record_ci(bpsn_bench: Harness, bpsn_context: dict[str, Any], check: str, name: str) -> None:
    assert _alert_record(bpsn_bench, bpsn_context, check)["u_cmdb_ci"] == _sys_id(bpsn_bench, "cmdb_ci", name)


@then(parsers.parse('the alert record of check "{check}" is assigned to the sys_user_group "{name}"'))
def record_group(bpsn_bench: Harness, bpsn_context: dict[str, Any], check: str, name: str) -> None:
    assert _alert_record(bpsn_bench, bpsn_context, check)["u_assignment_group"] == _sys_id(
        bpsn_bench, "sys_user_group", name
    )


@then(parsers.re(r'the alert record of check "(?P<check>[^"]+)" has "(?P<field>\w+)" "(?P<value>[^"]*)"'))
def record_field(bpsn_bench: Harness, bpsn_context: dict[str, Any], check: str, field: str, value: str) -> None:
    assert _alert_record(bpsn_bench, bpsn_context, check)[field] == value


@then(parsers.parse('the alert record of check "{check}" has an end time'))
def record_ended(bpsn_bench: Harness, bpsn_context: dict[str, Any], check: str) -> None:
    assert _alert_record(bpsn_bench, bpsn_context, check)["u_end"]


@then(
    parsers.re(
        r'ServiceNow has (?P<count>\d+) cmdb_ci named "(?P<name>[^"]+)"(?:, with install status '
        r'"(?P<label>[^"]+)")?'
    )
)
def cmdb_ci_named(bpsn_bench: Harness, count: str, name: str, label: str | None) -> None:
    r = bpsn_bench.run(
        bpsn_bench.admin.get(
            "/api/now/table/cmdb_ci", params={"sysparm_query": f"name={name}", "sysparm_display_value": "true"}
        )
    )
    rows = r.json()["result"]
    assert len(rows) == int(count), rows
    if label:
        assert rows[0]["install_status"] == label, rows[0]["install_status"]


@then(parsers.parse('the alert processing log has {lines:d} lines about the alert of check "{check}"'))
def processing_log(
    bpsn_bench: Harness, bpsn_context: dict[str, Any], caplog: pytest.LogCaptureFixture, lines: int, check: str
) -> None:
    alert_id = _alert_record(bpsn_bench, bpsn_context, check)["u_alert_id"]
    found = [r for r in caplog.records if r.name == "bpsn.integration.alerts" and alert_id in r.getMessage()]
    assert len(found) == lines, [r.getMessage() for r in caplog.records]


@then("the Alert Configuration settings are refused, naming the setting:")
def settings_refused(datatable: list[list[str]]) -> None:
    for name, value, named in datatable[1:]:
        with pytest.raises(ValueError, match=named):
            AlertConfigSettings.from_mapping({name: value})


@then("the BigPanda view link of the ticket opens its incident metadata record")
def view_link(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    ticket = _ticket(bpsn_bench, bpsn_context)
    link = activity_link(bpsn_context["alert_settings"], bpsn_bench.servicenow_url, ticket["sys_id"])
    uri = parse_qs(urlsplit(link).query)["uri"][0]
    table, _, query = uri.partition(".do?")
    rows = _rows(bpsn_bench, table, parse_qs(query)["sysparm_query"][0])
    assert [r["u_bp_incident_id"] for r in rows] == [bpsn_context["incident_id"]], rows


# --- staging and metadata -------------------------------------------------------------------------
def _staged(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> list[dict[str, Any]]:
    return _rows(
        bpsn_bench, "x_bip_panda_shareincident",  # the companion's rows: the ticket rows carry no organisation
        f"u_bp_incident_id={bpsn_context['incident_id']}^u_bp_organizationISNOTEMPTY^ORDERBYsys_created_on"
    )


def _metadata(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> dict[str, Any]:
    rows = _rows(
        bpsn_bench,
        "x_bip_panda_incident_metadata",
        f"u_bp_incident_id={bpsn_context['incident_id']}^u_organization=demo",
    )
    assert len(rows) == 1, rows
    return rows[0]


@then(
    parsers.parse(
        "the staging table holds {count:d} row for that incident, transformed, carrying the share and the ticket"
    )
)
def staged_row(bpsn_bench: Harness, bpsn_context: dict[str, Any], count: int) -> None:
    rows = _staged(bpsn_bench, bpsn_context)
    assert len(rows) == count
    row, share = rows[-1], bpsn_context["report"].written[-1].share
    assert row["sys_import_state"] == "inserted" and row["sys_target_table"] == "x_bip_panda_incident_metadata"
    assert row["u_ticket_sys_id"] == _ticket(bpsn_bench, bpsn_context)["sys_id"]
    assert (row["u_bp_share_id"], row["u_bp_organization"]) == (share["share_id"], "demo")
    assert json.loads(row["u_bp_incident_json"])["id"] == bpsn_context["incident_id"]
    assert (row["u_bp_alerts_count"], row["u_bp_alerts_statuses"]) == ("1", "critical: 1")


@then(parsers.parse("the staging table holds {count:d} rows for that incident"))
def staged_rows(bpsn_bench: Harness, bpsn_context: dict[str, Any], count: int) -> None:
    assert len(_staged(bpsn_bench, bpsn_context)) == count


@then("the incident metadata belongs to the ticket")
def metadata_ticket(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    assert _metadata(bpsn_bench, bpsn_context)["u_incident"] == _ticket(bpsn_bench, bpsn_context)["sys_id"]


@then(parsers.re(r"the incident metadata links the BigPanda incident(?P<timeline> and its timeline)?$"))
def metadata_links(bpsn_bench: Harness, bpsn_context: dict[str, Any], timeline: str | None) -> None:
    links = bpsn_context["report"].written[-1].share["incident"]["links"]
    meta = _metadata(bpsn_bench, bpsn_context)
    assert meta["u_bp_incident_url"] == links["incident"]
    if timeline:
        assert meta["u_bp_timeline_url"] == links["timeline"]


@then(parsers.re(r'the incident metadata field "(?P<field>\w+)" is "(?P<value>[^"]*)"'))
def metadata_field(bpsn_bench: Harness, bpsn_context: dict[str, Any], field: str, value: str) -> None:
    assert _metadata(bpsn_bench, bpsn_context)[field] == value


@then("the incident metadata names the last share")
def metadata_last_share(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    assert (
        _metadata(bpsn_bench, bpsn_context)["u_last_share_id"] == bpsn_context["report"].written[-1].share["share_id"]
    )


# --- requests -------------------------------------------------------------------------------------
def _core_entries(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> list[Any]:
    return bpsn_bench.core_requests("servicenow", bpsn_context["sn_since"])


def _batches(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> list[list[Any]]:
    """The core's Batch API requests, each with its items (items are journaled before their batch)."""
    batches, items = [], []
    for entry in _core_entries(bpsn_bench, bpsn_context):
        if "batch-item" in entry.notes:
            items.append(entry)
        elif entry.path == "/api/now/v1/batch":
            batches.append(items)
            items = []
    return batches


@then(parsers.parse("that poll staged {shares:d} shares with {requests:d} Import Set request"))
def staged_with(bpsn_bench: Harness, bpsn_context: dict[str, Any], shares: int, requests: int) -> None:
    imports = [e for e in _core_entries(bpsn_bench, bpsn_context) if e.path.startswith("/api/now/import/")]
    report = bpsn_context["report"]
    # the tickets themselves, on the import_set write path, are one more insertMultiple of the poll
    tickets = int(bpsn_bench.runner.write_path == "import_set" and bool(report.created + report.updated))
    assert len(imports) == requests + tickets, [e.path for e in imports]
    assert len(bpsn_context["report"].written) == shares
    assert bpsn_context["staging"].requests >= requests


@then(parsers.parse("that poll wrote {records:d} alert records and {cis:d} CIs in {requests:d} Batch API request"))
def alert_batch(
    bpsn_bench: Harness, bpsn_context: dict[str, Any], records: int, cis: int, requests: int
) -> None:
    ours = [b for b in _batches(bpsn_bench, bpsn_context) if any(e.table == "x_bip_panda_bp_alerts" for e in b)]
    assert len(ours) == requests, [[e.table for e in b] for b in _batches(bpsn_bench, bpsn_context)]
    items = [e for b in ours for e in b]
    assert sum(e.table == "x_bip_panda_bp_alerts" for e in items) == records
    assert sum(e.table == "cmdb_ci" and e.method == "POST" for e in items) == cis


CORRELATION_TABLES = (CORRELATION_TABLE, EXTERNAL_TICKET_TABLE)


@then(parsers.parse("that poll sent {requests:d} Batch API request in all, with the correlation companion's rows in it"))
def one_batch_for_all_companions(bpsn_bench: Harness, bpsn_context: dict[str, Any], requests: int) -> None:
    batches = _batches(bpsn_bench, bpsn_context)
    assert len(batches) == requests, [[e.table for e in b] for b in batches]
    assert any(e.table in CORRELATION_TABLES for b in batches for e in b), [[e.table for e in b] for b in batches]


@then(
    parsers.re(
        r"(?:that poll|the core) looked up the cmdb_ci table (?P<cis>\d+) times?"
        r"(?: and the sys_user_group table (?P<groups>\d+) times?)?"
    )
)
def lookups(bpsn_bench: Harness, bpsn_context: dict[str, Any], cis: str, groups: str | None) -> None:
    entries = [e for e in _core_entries(bpsn_bench, bpsn_context) if e.method == "GET" and "batch-item" not in e.notes]
    assert sum(e.table == "cmdb_ci" for e in entries) == int(cis)
    if groups is not None:
        assert sum(e.table == "sys_user_group" for e in entries) == int(groups)


@then("no alert record was written outside a batch")
def no_single_writes(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    single = [
        e
        for e in _core_entries(bpsn_bench, bpsn_context)
        if e.table in ("x_bip_panda_bp_alerts", "cmdb_ci") and e.method != "GET" and "batch-item" not in e.notes
    ]
    assert single == []
