"""The pure half of the changes module: the CI fallback chain, record -> change body, the
maintenance decisions, and the shared delta cursor and rate budget."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from bpsn.base.clock import glide
from bpsn.integration.changes.ci_resolution import CiLookups, CiRef, RecordCis, names_in_text, resolve_ci
from bpsn.integration.changes.maintenance import (
    CreatePlan,
    DeletePlan,
    KeepPlan,
    KnownPlan,
    NoPlan,
    StopPlan,
    UpdatePlan,
    decide,
    plan_for_change,
    plan_for_outage,
)
from bpsn.integration.changes.mapping import ChangeMappingError, ChangeSettings, change_body
from bpsn.integration.clients.delta_cursor import DeltaCursor, read_changed
from bpsn.integration.clients.rate_budget import RateBudget, Window

T0 = 1_767_225_600  # 2026-01-01 00:00:00 UTC
SETTINGS = ChangeSettings(instance_url="https://acme.service-now.com")
WEB1, WEB2, DB1, STORE = (CiRef("a1", "web-prod-01"), CiRef("a2", "web-prod-02"), CiRef("d1", "db-prod-01"),
                          CiRef("s1", "Online Store"))


def change_row(**fields: Any) -> dict[str, Any]:
    row = {"sys_id": "c" * 32, "number": "CHG0030001", "state": "-2", "type": "normal",
           "short_description": "Patch web tier", "start_date": glide(T0 + 3600), "end_date": glide(T0 + 7200),
           "opened_at": glide(T0 - 86400), "sys_created_on": glide(T0 - 90000), "opened_by": "u1"}
    row.update(fields)
    return row


def found(*cis: CiRef, level: str = "ci") -> Any:
    return resolve_ci(CiLookups(RecordCis("change_request CHG0030001", **{
        "ci": {"ci": cis[0] if cis else None}, "affected_ci": {"affected": cis},
        "business_service": {"business_service": cis[0] if cis else None}, "named_in_text": {"named": cis},
    }[level])))


# --- the four levels -------------------------------------------------------------------------------
@pytest.mark.parametrize(("record", "level", "names"), [
    (RecordCis("r", ci=WEB1, affected=(WEB2,), business_service=STORE, named=(DB1,)), "ci", ["web-prod-01"]),
    (RecordCis("r", affected=(WEB1, WEB2), business_service=STORE, named=(DB1,)), "affected_ci",
     ["web-prod-01", "web-prod-02"]),
    (RecordCis("r", business_service=STORE, named=(DB1,)), "business_service", ["Online Store"]),
    (RecordCis("r", named=(DB1, WEB1)), "named_in_text", ["db-prod-01", "web-prod-01"]),
])
def test_each_level_wins_over_the_levels_after_it(record: RecordCis, level: str, names: list[str]) -> None:
    resolution = resolve_ci(CiLookups(record))
    assert (resolution.level, resolution.names, resolution.source) == (level, names, "r")


def test_no_level_names_a_ci() -> None:
    resolution = resolve_ci(CiLookups(RecordCis("r"), RecordCis("p")))
    assert (resolution.found, resolution.level, resolution.names) == (False, "", [])


def test_the_parent_is_asked_at_each_level_before_the_next_level() -> None:
    task = RecordCis("change_task CTASK1", affected=(WEB2,))
    change = RecordCis("change_request CHG1", ci=WEB1)
    resolution = resolve_ci(CiLookups(task, change))
    assert (resolution.level, resolution.names, resolution.source) == ("ci", ["web-prod-01"], "change_request CHG1")


def test_the_record_comes_before_its_parent_at_the_same_level() -> None:
    resolution = resolve_ci(CiLookups(RecordCis("task", ci=WEB2), RecordCis("change", ci=WEB1)))
    assert (resolution.names, resolution.source) == (["web-prod-02"], "task")


def test_a_ci_listed_twice_counts_once() -> None:
    assert resolve_ci(CiLookups(RecordCis("r", affected=(WEB1, WEB1, WEB2)))).names == ["web-prod-01", "web-prod-02"]


def test_an_unknown_level_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown CI level 'cmdb'"):
        RecordCis("r").at("cmdb")


def test_words_that_may_name_a_ci() -> None:
    assert names_in_text("Reboot db-prod-01 and web01.example.com after the patch", "see db-prod-01, app_7") == [
        "db-prod-01", "web01.example.com", "app_7"]
    assert names_in_text("Patch the database servers") == []
    assert names_in_text("x" * 300 + "-1") == []  # longer than any CI name
    assert len(names_in_text(" ".join(f"h-{i}" for i in range(50)))) == 20


# --- record -> change ------------------------------------------------------------------------------
@pytest.mark.parametrize(("table", "state", "status"), [
    ("change_request", "-5", "Planned"), ("change_request", "-4", "Planned"), ("change_request", "-3", "Planned"),
    ("change_request", "-2", "Planned"), ("change_request", "-1", "In Progress"), ("change_request", "0", "Done"),
    ("change_request", "3", "Done"), ("change_request", "4", "Canceled"),
    ("change_task", "-5", "Planned"), ("change_task", "1", "Planned"), ("change_task", "2", "In Progress"),
    ("change_task", "3", "Done"), ("change_task", "4", "Canceled"),
])
def test_states_map_to_bigpanda_statuses(table: str, state: str, status: str) -> None:
    row = change_row(state=state, planned_start_date=glide(T0))
    assert change_body(table, row, found(), SETTINGS)["status"] == status


def test_the_change_body() -> None:
    body = change_body("change_request", change_row(), found(WEB1, WEB2, level="affected_ci"), SETTINGS)
    assert body == {
        "identifier": "CHG0030001", "status": "Planned", "summary": "Patch web tier", "start": T0 + 3600,
        "end": T0 + 7200, "ticket_url": f"https://acme.service-now.com/nav_to.do?uri=change_request.do?sys_id={'c' * 32}",
        "tags": {"servicenow_table": "change_request", "ci": "web-prod-01|web-prod-02", "ci_level": "affected_ci",
                 "change_type": "normal"},
        "metadata": {"servicenow_sys_id": "c" * 32, "servicenow_table": "change_request", "opened_by": "u1"}}


def test_a_change_task_names_its_change_and_uses_its_planned_dates() -> None:
    row = change_row(number="CTASK0010001", state="1", planned_start_date=glide(T0), planned_end_date="")
    body = change_body("change_task", row, found(), SETTINGS, parent_number="CHG0030001")
    assert (body["start"], body["end"], body["tags"]) == (
        T0, None, {"servicenow_table": "change_task", "change_request": "CHG0030001"})


def test_without_a_planned_start_the_change_starts_when_it_was_opened() -> None:
    assert change_body("change_request", change_row(start_date="", end_date=""), found(), SETTINGS)["start"] == T0 - 86400
    row = change_row(start_date="", end_date="", opened_at="")
    assert change_body("change_request", row, found(), SETTINGS)["start"] == T0 - 90000


def test_an_empty_summary_falls_back_to_the_number() -> None:
    assert change_body("change_request", change_row(short_description=" "), found(), SETTINGS)["summary"] == \
        "change_request CHG0030001"


@pytest.mark.parametrize(("fields", "message"), [
    ({"state": "7"}, "change_request CHG0030001: state '7' maps to no BigPanda status"),
    ({"start_date": "tomorrow"}, "start_date 'tomorrow' is not a date-time"),
    ({"end_date": glide(T0)}, r"the planned end \(1767225600\) is before the start \(1767229200\)"),
    ({"number": ""}, "the record has no number"),
    ({"start_date": "", "opened_at": "", "sys_created_on": ""}, "no start time"),
])
def test_a_record_that_cannot_be_a_change_is_refused_with_why(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ChangeMappingError, match=message):
        change_body("change_request", change_row(**fields), found(), SETTINGS)


def test_settings_refuse_a_state_mapped_to_no_bigpanda_status() -> None:
    with pytest.raises(ValueError, match="map to no BigPanda status"):
        ChangeSettings(instance_url="x", change_request_states={"-2": "Scheduled"})
    with pytest.raises(ValueError, match="ci_tag"):
        ChangeSettings(instance_url="x", ci_tag=" ")


# --- maintenance: what a record wants ----------------------------------------------------------------
def test_a_scheduled_change_wants_a_plan_over_its_window_on_its_ci() -> None:
    want = plan_for_change(change_row(), found(WEB1), SETTINGS)
    assert not isinstance(want, NoPlan)
    assert want.body() == {
        "name": "CHG0030001: Patch web tier", "condition": {"=": ["host", "web-prod-01"]}, "start": T0 + 3600,
        "end": T0 + 7200, "time_zone": "UTC", "maintenance_key": "CHG0030001",
        "description": want.description,
        "custom_tags": [{"name": "servicenow_record", "value": "CHG0030001"}, {"name": "ci_level", "value": "ci"}]}
    assert "CI found at level ci (change_request CHG0030001)" in want.description


def test_several_affected_cis_make_an_in_condition_on_the_configured_tag() -> None:
    settings = ChangeSettings(instance_url="x", ci_tag="hostname")
    want = plan_for_change(change_row(), found(WEB1, WEB2, level="affected_ci"), settings)
    assert want.condition == {"IN": ["hostname", ["web-prod-01", "web-prod-02"]]}  # type: ignore[union-attr]


@pytest.mark.parametrize(("fields", "resolution", "why"), [
    ({"state": "-5"}, found(WEB1), "state -5, which opens no maintenance"),
    ({"state": "0"}, found(WEB1), "state 0, which opens no maintenance"),
    ({"end_date": ""}, found(WEB1), "no planned window"),
    ({"end_date": glide(T0 + 3600)}, found(WEB1), "ends .* before it starts"),
    ({}, found(), "no CI at any of the four levels"),
])
def test_what_puts_nothing_in_maintenance(fields: dict[str, Any], resolution: Any, why: str) -> None:
    want = plan_for_change(change_row(**fields), resolution, SETTINGS)
    assert isinstance(want, NoPlan)
    assert want.key == "CHG0030001"
    assert re.search(why, want.reason), want.reason


def outage_row(**fields: Any) -> dict[str, Any]:
    row = {"sys_id": "o" * 32, "number": "OUT0010001", "type": "outage", "begin": glide(T0 - 600), "end": "",
           "short_description": "Database failover"}
    row.update(fields)
    return row


def test_an_open_outage_gets_the_open_outage_length_and_its_end_when_set() -> None:
    want = plan_for_outage(outage_row(), found(DB1), SETTINGS)
    assert (want.start, want.end, want.key) == (T0 - 600, T0 - 600 + 4 * 3600, "OUT0010001")  # type: ignore[union-attr]
    want = plan_for_outage(outage_row(end=glide(T0 + 1800)), found(DB1), SETTINGS)
    assert want.end == T0 + 1800  # type: ignore[union-attr]


@pytest.mark.parametrize(("fields", "resolution", "why"), [
    ({"type": "degradation"}, found(DB1), None),
    ({"begin": ""}, found(DB1), "has no begin"),
    ({"end": glide(T0 - 600)}, found(DB1), "before it begins"),
    ({}, found(), "no CI"),
])
def test_outages_that_put_nothing_in_maintenance(fields: dict[str, Any], resolution: Any, why: str | None) -> None:
    settings = ChangeSettings(instance_url="x", outage_types=frozenset({"outage", "planned"}))
    want = plan_for_outage(outage_row(**fields), resolution, settings)
    assert isinstance(want, NoPlan)
    assert why is None or why in want.reason
    if why is None:
        assert "'degradation', which is not forwarded" in want.reason


# --- maintenance: what is done ----------------------------------------------------------------------
def known(start: int, end: int, **fields: Any) -> KnownPlan:
    want = plan_for_change(change_row(), found(WEB1), SETTINGS)
    return KnownPlan("p1", "CHG0030001", {**want.fields(), "start": start, "end": end, **fields})  # type: ignore[union-attr]


WANT = plan_for_change(change_row(), found(WEB1), SETTINGS)
GONE = NoPlan("CHG0030001", "canceled")


@pytest.mark.parametrize(("want", "plan", "now", "command"), [
    (WANT, None, T0, CreatePlan),
    (WANT, known(T0 + 3600, T0 + 7200), T0, KeepPlan),
    (WANT, known(T0 + 3600, T0 + 9000), T0, UpdatePlan),
    (WANT, None, T0 + 7200, KeepPlan),  # the window is over: nothing to create
    (WANT, known(T0 + 3600, T0 + 9000), T0 + 8000, StopPlan),  # window shortened to the past, plan running
    (GONE, None, T0, KeepPlan),
    (GONE, known(T0 + 3600, T0 + 7200), T0, DeletePlan),  # not started: it must not start later
    (GONE, known(T0 + 3600, T0 + 7200), T0 + 3600, StopPlan),  # running: stopped, its history kept
    (GONE, known(T0 + 3600, T0 + 7200), T0 + 7200, KeepPlan),  # over already
])
def test_decisions(want: Any, plan: KnownPlan | None, now: int, command: type) -> None:
    assert type(decide(want, plan, now)) is command


def test_an_update_sends_only_what_differs() -> None:
    command = decide(WANT, known(T0 + 3600, T0 + 9000, name="old name"), T0)
    assert isinstance(command, UpdatePlan)
    assert command.changes == {"end": T0 + 7200, "name": "CHG0030001: Patch web tier"}


def test_a_plan_from_the_api_keeps_only_what_is_compared() -> None:
    plan = KnownPlan.from_api({"id": "p9", "maintenance_key": "OUT1", "start": 1, "end": 2, "status": "active",
                               "name": "n", "condition": {}, "description": "", "custom_tags": []})
    assert (plan.id, plan.key, plan.start, plan.end, "status" in plan.fields) == ("p9", "OUT1", 1, 2, False)


# --- the delta cursor --------------------------------------------------------------------------------
def row(sys_id: str, updated: int, mods: int = 0) -> dict[str, Any]:
    return {"sys_id": sys_id, "sys_updated_on": glide(updated), "sys_mod_count": str(mods)}


def test_the_cursor_rereads_its_second_and_skips_what_it_handled() -> None:
    cursor = DeltaCursor(glide(T0))
    a, b = row("a", T0), row("b", T0 + 1)
    assert cursor.is_new(a)
    cursor.advance(a)
    assert not cursor.is_new(a) and cursor.is_new(row("a", T0, mods=1))  # updated again in the same second
    cursor.advance(b)
    assert cursor.position == glide(T0 + 1)
    assert cursor.is_new(a)  # older rows are not asked for again: `>=` the new position excludes them
    cursor.advance(row("z", T0 - 5))  # a late row never moves the cursor back
    assert cursor.position == glide(T0 + 1)


def test_the_cursor_queries() -> None:
    cursor = DeltaCursor(glide(T0))
    assert cursor.query("active=true") == \
        "active=true^sys_updated_on>=2026-01-01 00:00:00^ORDERBYsys_updated_on^ORDERBYsys_id"
    assert cursor.query("", after_sys_id="abc") == (
        "sys_updated_on=2026-01-01 00:00:00^sys_id>abc^NQsys_updated_on>2026-01-01 00:00:00"
        "^ORDERBYsys_updated_on^ORDERBYsys_id")
    with pytest.raises(ValueError):
        DeltaCursor("yesterday")


class FakeServiceNow:
    """Rows all at one second, more than a page: `read_changed` must get past a handled page."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows, self.queries = rows, []

    async def query(self, table: str, query: str, fields: list[str] | None = None,
                    limit: int = 100) -> list[dict[str, Any]]:
        self.queries.append(query)
        after = query.split("sys_id>")[1].split("^")[0] if "sys_id>" in query else ""
        return [r for r in self.rows if r["sys_id"] > after][:limit]


def test_a_full_page_of_handled_rows_does_not_stall_the_cursor() -> None:
    rows = [row(f"{i:03d}", T0) for i in range(5)]
    sn = FakeServiceNow(rows)
    cursor = DeltaCursor(glide(T0))

    async def drain() -> list[str]:
        seen: list[str] = []
        while page := await read_changed(sn, "change_request", cursor, limit=2):  # type: ignore[arg-type]
            for r in page:
                cursor.advance(r)
                seen.append(r["sys_id"])
        return seen
    assert asyncio.run(drain()) == ["000", "001", "002", "003", "004"]


# --- the rate budget ---------------------------------------------------------------------------------
def test_the_budget_fills_and_frees_up_on_the_clock() -> None:
    budget = RateBudget(Window(3, 60.0, "per minute"), Window(5, 3600.0, "per hour"))
    for t in (0, 10, 20):
        assert budget.wait(t) == 0
        budget.take(t)
    assert (budget.wait(30), budget.blocking(30)) == (30.0, "per minute")
    assert budget.wait(60) == 0  # the first request left the minute at 60
    budget.take(60)
    budget.take(80)
    assert budget.blocking(200) == "per hour" and budget.wait(200) == 3400.0  # the request at 0 leaves at 3600
    with pytest.raises(ValueError, match="at least 1 request"):
        Window(0, 1.0, "none")
