"""Binds features/changes_maintenance.feature: ServiceNow changes and outages -> BigPanda changes
and maintenance plans, on the bench's virtual clock."""

from __future__ import annotations

import json
from typing import Any

from pytest_bdd import given, parsers, then, when

from bpsn.base.clock import glide
from bpsn.harness.base import Harness
from bpsn.integration.changes.factory import build_changes_forwarder

HOUR, MINUTE = 3600, 60


# --- helpers ----------------------------------------------------------------------------------------
def _now(bpsn_bench: Harness) -> int:
    return int(bpsn_bench.clock.now())


def _written_at(bpsn_context: dict[str, Any]) -> int:
    """When a step last wrote a record: "from now" in a Then means then (a sync may have spent
    a virtual second or two waiting out BigPanda's 5 requests a second)."""
    return int(bpsn_context["written_at"])


def _request(bpsn_bench: Harness, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    r = bpsn_bench.run(bpsn_bench.admin.request(method, path, **kwargs))
    assert r.status_code in (200, 201), r.text
    return dict(r.json()["result"])


def _ci(bpsn_bench: Harness, name: str) -> str:
    rows = bpsn_bench.run(
        bpsn_bench.admin.get(
            "/api/now/table/cmdb_ci", params={"sysparm_query": f"name={name}", "sysparm_fields": "sys_id"}
        )
    ).json()["result"]
    assert rows, f"no CI named {name!r} in ServiceNow"
    return str(rows[0]["sys_id"])


def _create(
    bpsn_bench: Harness, bpsn_context: dict[str, Any], table: str, summary: str, **fields: Any
) -> dict[str, Any]:
    row = _request(
        bpsn_bench,
        "POST",
        f"/api/now/table/{table}",
        json={"short_description": summary, **fields},
        params={"sysparm_exclude_reference_link": "true"},
    )
    bpsn_context["written_at"] = _now(bpsn_bench)
    bpsn_context.setdefault("records", {})[summary] = (table, row)
    return row


def _record(bpsn_context: dict[str, Any], summary: str) -> tuple[str, dict[str, Any]]:
    return bpsn_context["records"][summary]  # type: ignore[no-any-return]


def _patch(bpsn_bench: Harness, bpsn_context: dict[str, Any], summary: str, body: dict[str, Any]) -> None:
    table, row = _record(bpsn_context, summary)
    _request(bpsn_bench, "PATCH", f"/api/now/table/{table}/{row['sys_id']}", json=body)
    bpsn_context["written_at"] = _now(bpsn_bench)


def _change(bpsn_bench: Harness, bpsn_context: dict[str, Any], summary: str) -> dict[str, Any]:
    """The change BigPanda holds for a ServiceNow record (its changes API)."""
    number = _record(bpsn_context, summary)[1]["number"]
    found = [c for c in bpsn_bench.bigpanda_views.changes() if c["identifier"] == number]
    assert found, f"BigPanda has no change {number} ({summary})"
    return found[0]


def _plan(bpsn_bench: Harness, bpsn_context: dict[str, Any], summary: str) -> dict[str, Any] | None:
    """The maintenance plan BigPanda holds for a ServiceNow record (its maintenance plans API)."""
    number = _record(bpsn_context, summary)[1]["number"]
    found = [p for p in bpsn_bench.bigpanda_views.maintenance_plans() if p["maintenance_key"] == number]
    assert len(found) <= 1, f"{len(found)} plans for {number}"
    return found[0] if found else None


def _table(datatable: list[list[str]]) -> list[dict[str, str]]:
    head, *rows = datatable
    return [dict(zip(head, row, strict=True)) for row in rows]


def _scheduled(bpsn_bench: Harness, start_hours: int, end_hours: int) -> dict[str, str]:
    now = _now(bpsn_bench)
    return {"state": "-2", "start_date": glide(now + start_hours * HOUR), "end_date": glide(now + end_hours * HOUR)}


# --- the core -----------------------------------------------------------------------------------------
@given("the core forwards ServiceNow changes to BigPanda")
@when("the core forwards ServiceNow changes to BigPanda")
def core_forwards_changes(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    bpsn_context["changes"] = build_changes_forwarder(bpsn_bench.runner)


@given("the core syncs changes")
@when("the core syncs changes")
def core_syncs_changes(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    bpsn_context["report"] = bpsn_bench.run(bpsn_context["changes"].poll_once())


@given(parsers.parse("BigPanda allows {n:d} requests a second per token"))
def bigpanda_allows(bpsn_bench: Harness, n: int) -> None:
    bpsn_bench.bigpanda_views.set_rate_limits(bpsn_bench.organization, per_second=n)


@given(parsers.parse("BigPanda answers {status:d} to the next {n:d} changes requests"))
def bigpanda_fails_changes(bpsn_bench: Harness, status: int, n: int) -> None:
    bpsn_bench.faults.bigpanda.add(path="/data/changes", status=status, times=n)


# --- ServiceNow records -------------------------------------------------------------------------------
@given(parsers.parse('a change manager schedules "{summary}" on "{ci}" from {a:d} to {b:d} hours from now'))
@when(parsers.parse('a change manager schedules "{summary}" on "{ci}" from {a:d} to {b:d} hours from now'))
def schedule_change(
    bpsn_bench: Harness, bpsn_context: dict[str, Any], summary: str, ci: str, a: int, b: int
) -> None:
    _create(
        bpsn_bench,
        bpsn_context,
        "change_request",
        summary,
        type="normal",
        cmdb_ci=_ci(bpsn_bench, ci),
        **_scheduled(bpsn_bench, a, b),
    )


@when("these change records are in ServiceNow")
def change_records(bpsn_bench: Harness, bpsn_context: dict[str, Any], datatable: list[list[str]]) -> None:
    for row in _table(datatable):
        _create(bpsn_bench, bpsn_context, row["table"], row["summary"], state=row["state"])


@when(parsers.parse("these change requests are scheduled in ServiceNow from {a:d} to {b:d} hours from now"))
def scheduled_with_cis(
    bpsn_bench: Harness, bpsn_context: dict[str, Any], a: int, b: int, datatable: list[list[str]]
) -> None:
    for spec in _table(datatable):
        fields = _scheduled(bpsn_bench, a, b)
        if spec["ci"]:
            fields["cmdb_ci"] = _ci(bpsn_bench, spec["ci"])
        if spec["business service"]:
            fields["business_service"] = _ci(bpsn_bench, spec["business service"])
        row = _create(bpsn_bench, bpsn_context, "change_request", spec["summary"], **fields)
        for name in [n.strip() for n in spec["affected CIs"].split(",") if n.strip()]:
            _request(
                bpsn_bench,
                "POST",
                "/api/now/table/task_ci",
                json={"task": row["sys_id"], "ci_item": _ci(bpsn_bench, name)},
            )


@given(parsers.parse("{n:d} change requests are scheduled in ServiceNow"))
def many_changes(bpsn_bench: Harness, n: int) -> None:
    fields = _scheduled(bpsn_bench, 1, 2)
    for i in range(n):
        r = bpsn_bench.servicenow_client.post(
            "/api/now/table/change_request", json={"short_description": f"Bulk change {i + 1}", **fields},
            params={"sysparm_fields": "sys_id"})
        assert r.status_code == 201, r.text


@when(parsers.parse('a change task "{summary}" is added to the change "{parent}"'))
def add_change_task(bpsn_bench: Harness, bpsn_context: dict[str, Any], summary: str, parent: str) -> None:
    _create(
        bpsn_bench,
        bpsn_context,
        "change_task",
        summary,
        state="1",
        change_request=_record(bpsn_context, parent)[1]["sys_id"],
    )


@when(parsers.parse('the change "{summary}" moves to state "{state}" in ServiceNow'))
def move_state(bpsn_bench: Harness, bpsn_context: dict[str, Any], summary: str, state: str) -> None:
    _patch(bpsn_bench, bpsn_context, summary, {"state": state})


@when(parsers.parse('someone adds a work note to the change "{summary}" in ServiceNow'))
def add_work_note(bpsn_bench: Harness, bpsn_context: dict[str, Any], summary: str) -> None:
    _patch(bpsn_bench, bpsn_context, summary, {"work_notes": "CAB asked for a rollback plan"})


@when(parsers.parse('the change "{summary}" is rescheduled in ServiceNow from {a:d} to {b:d} hours from now'))
def reschedule(bpsn_bench: Harness, bpsn_context: dict[str, Any], summary: str, a: int, b: int) -> None:
    window = _scheduled(bpsn_bench, a, b)
    _patch(bpsn_bench, bpsn_context, summary, {"start_date": window["start_date"], "end_date": window["end_date"]})


@when(parsers.parse('an outage "{summary}" of "{ci}" began {m:d} minutes ago with no end yet'))
def open_outage(bpsn_bench: Harness, bpsn_context: dict[str, Any], summary: str, ci: str, m: int) -> None:
    _create(
        bpsn_bench,
        bpsn_context,
        "cmdb_ci_outage",
        summary,
        type="outage",
        cmdb_ci=_ci(bpsn_bench, ci),
        begin=glide(_now(bpsn_bench) - m * MINUTE),
    )


@when(parsers.parse('the outage "{summary}" gets its end {m:d} minutes from now'))
def outage_end(bpsn_bench: Harness, bpsn_context: dict[str, Any], summary: str, m: int) -> None:
    _patch(bpsn_bench, bpsn_context, summary, {"end": glide(_now(bpsn_bench) + m * MINUTE)})


# --- BigPanda changes ------------------------------------------------------------------------------
@then(parsers.parse('BigPanda has the change "{summary}" with status "{status}"'))
def change_status(bpsn_bench: Harness, bpsn_context: dict[str, Any], summary: str, status: str) -> None:
    change = _change(bpsn_bench, bpsn_context, summary)
    assert (change["status"], change["summary"]) == (status, summary)


@then(parsers.re(r"BigPanda has (?P<n>\d+) changes? in all"), converters={"n": int})
def change_count(bpsn_bench: Harness, n: int) -> None:
    assert len(bpsn_bench.bigpanda_views.changes()) == n


@then(parsers.parse('the change "{summary}" runs from {a:d} to {b:d} hours from now'))
def change_window(bpsn_bench: Harness, bpsn_context: dict[str, Any], summary: str, a: int, b: int) -> None:
    change = _change(bpsn_bench, bpsn_context, summary)
    at = _written_at(bpsn_context)
    assert (change["start"], change["end"]) == (at + a * HOUR, at + b * HOUR)


@then(parsers.parse('the change "{summary}" has the tags'))
def change_tags(
    bpsn_bench: Harness, bpsn_context: dict[str, Any], summary: str, datatable: list[list[str]]
) -> None:
    tags = _change(bpsn_bench, bpsn_context, summary)["tags"]
    for row in _table(datatable):
        assert tags.get(row["tag"]) == row["value"], (row, tags)


@then(parsers.parse('the change "{summary}" links to its record in ServiceNow'))
def change_link(bpsn_bench: Harness, bpsn_context: dict[str, Any], summary: str) -> None:
    table, row = _record(bpsn_context, summary)
    assert (
        _change(bpsn_bench, bpsn_context, summary)["ticket_url"]
        == f"{bpsn_bench.servicenow_url}/nav_to.do?uri={table}.do?sys_id={row['sys_id']}"
    )


@then(parsers.parse('the change "{summary}" names the change request of "{parent}"'))
def names_parent(bpsn_bench: Harness, bpsn_context: dict[str, Any], summary: str, parent: str) -> None:
    assert (
        _change(bpsn_bench, bpsn_context, summary)["tags"]["change_request"] == _record(bpsn_context, parent)[1]["number"]
    )


@then("BigPanda shows these statuses")
def statuses(bpsn_bench: Harness, bpsn_context: dict[str, Any], datatable: list[list[str]]) -> None:
    got = {row["summary"]: _change(bpsn_bench, bpsn_context, row["summary"])["status"] for row in _table(datatable)}
    assert got == {row["summary"]: row["status"] for row in _table(datatable)}


@then("the changes carry these CIs")
def carried_cis(bpsn_bench: Harness, bpsn_context: dict[str, Any], datatable: list[list[str]]) -> None:
    for row in _table(datatable):
        tags = _change(bpsn_bench, bpsn_context, row["summary"])["tags"]
        assert (tags.get("ci", ""), tags.get("ci_level", "")) == (row["ci"], row["ci_level"]), (row, tags)


@then(parsers.parse("the core sent {sent:d} changes and found {unchanged:d} unchanged"))
def sent_and_unchanged(bpsn_context: dict[str, Any], sent: int, unchanged: int) -> None:
    report = bpsn_context["report"]
    assert (report.changes_sent, report.unchanged) == (sent, unchanged), report


@then(parsers.parse('the core reports "{text}" for the change "{summary}"'))
def reported(bpsn_context: dict[str, Any], text: str, summary: str) -> None:
    number = _record(bpsn_context, summary)[1]["number"]
    assert any(text in m and number in m for m in bpsn_context["report"].rejected), bpsn_context["report"].rejected


@then(parsers.parse('the core waits for the changes budget ("{window}")'))
def waits_for_budget(bpsn_context: dict[str, Any], window: str) -> None:
    report = bpsn_context["report"]
    assert window in report.deferred and report.budget_wait > 0, report


@then(parsers.parse('the core stopped the pass on BigPanda\'s "{status}"'))
def stopped_on(bpsn_context: dict[str, Any], status: str) -> None:
    report = bpsn_context["report"]
    assert f"BigPanda answered {status}" in report.failure and report.changes_sent == 0, report


@then("BigPanda refused no request for its rate limit")
def no_rate_limited(bpsn_bench: Harness) -> None:
    assert bpsn_bench.requests("bigpanda", status=429) == []


# --- maintenance plans -------------------------------------------------------------------------------
@then("the maintenance plans have these conditions")
def plan_conditions(bpsn_bench: Harness, bpsn_context: dict[str, Any], datatable: list[list[str]]) -> None:
    for row in _table(datatable):
        plan = _plan(bpsn_bench, bpsn_context, row["summary"])
        assert plan is not None and plan["condition"] == json.loads(row["condition"]), (row, plan)


@then(parsers.parse('the change "{summary}" has no maintenance plan'))
def no_plan(bpsn_bench: Harness, bpsn_context: dict[str, Any], summary: str) -> None:
    assert _plan(bpsn_bench, bpsn_context, summary) is None


@then(
    parsers.re(
        r'the maintenance plan of "(?P<summary>[^"]+)" runs from (?P<a>\d+) to (?P<b>\d+) '
        r"(?P<unit>hours|minutes) from now"
    ),
    converters={"a": int, "b": int},
)
def plan_window(
    bpsn_bench: Harness, bpsn_context: dict[str, Any], summary: str, a: int, b: int, unit: str
) -> None:
    plan = _plan(bpsn_bench, bpsn_context, summary)
    step, at = (HOUR if unit == "hours" else MINUTE), _written_at(bpsn_context)
    assert plan is not None and (plan["start"], plan["end"]) == (at + a * step, at + b * step), plan


@then(parsers.parse('the maintenance plan of "{summary}" runs from {a:d} minutes ago to {b:d} minutes from now'))
def plan_window_since(bpsn_bench: Harness, bpsn_context: dict[str, Any], summary: str, a: int, b: int) -> None:
    plan_window(bpsn_bench, bpsn_context, summary, -a, b, "minutes")


@then(parsers.parse('the maintenance plan of "{summary}" is "{status}"'))
def plan_status(bpsn_bench: Harness, bpsn_context: dict[str, Any], summary: str, status: str) -> None:
    plan = _plan(bpsn_bench, bpsn_context, summary)
    assert plan is not None and plan["status"] == status, plan


@then(parsers.parse('the maintenance plan of "{summary}" ended just now'))
def plan_ended_now(bpsn_bench: Harness, bpsn_context: dict[str, Any], summary: str) -> None:
    plan = _plan(bpsn_bench, bpsn_context, summary)
    assert plan is not None and _written_at(bpsn_context) <= plan["end"] <= _now(bpsn_bench), plan


@then(parsers.re(r"there (?:is|are) (?P<n>\d+) maintenance plans? in all"), converters={"n": int})
def plan_count(bpsn_bench: Harness, n: int) -> None:
    assert len(bpsn_bench.bigpanda_views.maintenance_plans()) == n


@then(parsers.parse('the alert is in the maintenance plan of "{summary}"'))
def alert_in_maintenance(bpsn_bench: Harness, bpsn_context: dict[str, Any], summary: str) -> None:
    alerts = bpsn_bench.incident(bpsn_context["incident_id"]).alerts
    plan = _plan(bpsn_bench, bpsn_context, summary)
    assert plan is not None and [a.maintenance_plans for a in alerts] == [[plan["id"]]], (alerts, plan)
