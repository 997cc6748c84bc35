"""Steps of staging_transform.feature: tickets written through the staging table, and transform
maps an admin changes through the Table API (sys_transform_map, sys_transform_entry)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from pytest_bdd import given, parsers, then

from bpsn.harness.base import Harness

STAGING = "x_bip_panda_shareincident"


def ticket_rows_since(bench: Harness, since: int) -> int:
    """Ticket writes the core made through the staging table since a journal mark: the rows with a
    ticket (u_ticket) of each import set the core read back (its query names the import set)."""
    count = 0
    for entry in bench.core_requests("servicenow", since, method="GET"):
        if entry.path != f"/api/now/table/{STAGING}":
            continue
        query = parse_qs(entry.query).get("sysparm_query", [""])[0]
        if query.startswith("sys_import_set="):
            import_set = query.split("^")[0].removeprefix("sys_import_set=")
            count += len(bench.records(STAGING, f"sys_import_set={import_set}^u_ticketISNOTEMPTY"))
    return count


def _map(bench: Harness, name: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """A transform map's record and its field maps by target field, read as an admin."""
    [record] = bench.records("sys_transform_map", f"name={name}")
    entries = bench.records("sys_transform_entry", f"map={record['sys_id']}")
    return record, {e["target_field"]: e for e in entries}


def _admin_writes(bench: Harness, method: str, url: str, body: dict[str, str]) -> None:
    r = bench.servicenow_client.request(method, url, json=body)
    assert r.status_code in (200, 201), r.text


@given(parsers.parse('an admin adds to the transform map "{name}" a field map from "{source}" to "{target}"'))
def admin_adds_field_map(bpsn_bench: Harness, name: str, source: str, target: str) -> None:
    record, _ = _map(bpsn_bench, name)
    _admin_writes(bpsn_bench, "POST", "/api/now/table/sys_transform_entry",
                  {"map": record["sys_id"], "source_field": source, "target_field": target})


@given(parsers.parse('an admin makes the transform map "{name}" coalesce on "{new}" instead of "{old}"'))
def admin_changes_coalesce(bpsn_bench: Harness, name: str, new: str, old: str) -> None:
    _, entries = _map(bpsn_bench, name)
    for target, flag in ((old, "false"), (new, "true")):
        _admin_writes(bpsn_bench, "PATCH", f"/api/now/table/sys_transform_entry/{entries[target]['sys_id']}",
                      {"coalesce": flag})


@then(parsers.parse("the share's staging row shows \"{state}\" and the ticket's sys_id"))
def staging_row_shows(bpsn_bench: Harness, bpsn_context: dict[str, Any], state: str) -> None:
    [ticket] = bpsn_bench.tickets(f"correlation_id={bpsn_context['incident_id']}")
    rows = bpsn_bench.records(STAGING, f"u_bp_incident_id={bpsn_context['incident_id']}^u_ticketISNOTEMPTY")
    assert rows, f"no staging row for incident {bpsn_context['incident_id']}"
    sets = {s["sys_id"]: s["number"] for s in bpsn_bench.records(
        "sys_import_set", "sys_idIN" + ",".join(r["sys_import_set"] for r in rows))}
    row = max(rows, key=lambda r: (sets[r["sys_import_set"]], int(r["sys_import_row"])))  # the latest
    assert (row["sys_import_state"], row["sys_target_sys_id"]) == (state, ticket["sys_id"]), row
    assert row["sys_transform_map"] == "BigPanda Incident" and row["sys_target_table"] == "incident"
    assert row["sys_import_set"] and row["sys_row_error"] == ""
    bpsn_context["ticket"] = ticket


@then(parsers.parse('the ticket\'s "{field}" is the share\'s environment name'))
def ticket_field_is_environment(bpsn_bench: Harness, bpsn_context: dict[str, Any], field: str) -> None:
    [ticket] = bpsn_bench.tickets(f"correlation_id={bpsn_context['incident_id']}")
    [row] = bpsn_bench.records(STAGING, f"u_bp_incident_id={bpsn_context['incident_id']}^u_bp_organizationISNOTEMPTY")
    assert row["u_bp_environment_name"], row
    assert ticket[field] == row["u_bp_environment_name"], (ticket[field], row["u_bp_environment_name"])
