"""Steps of tag_sync.feature: tag definitions, edits on each side, and write counts from the
simulators' request journals (only the core's writes are counted)."""

from __future__ import annotations

import dataclasses
from typing import Any

from pytest_bdd import given, parsers, then, when

from bpsn.harness.base import Harness
from bpsn.integration.engine.mapping import IncidentSettings
from bpsn.integration.engine.tags import TagMapping
from bpsn.steps.staging_transform import ticket_rows_since

CORE_USER = "bigpanda.integration"
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def _ticket(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> dict[str, Any]:
    tickets = bpsn_bench.tickets(f"correlation_id={bpsn_context['incident_id']}")
    assert len(tickets) == 1, tickets
    return tickets[0]


def _group_id(bpsn_bench: Harness, name: str) -> str:
    r = bpsn_bench.run(bpsn_bench.admin.get("/api/now/table/sys_user_group", params={"sysparm_query": f"name={name}"}))
    return str(r.json()["result"][0]["sys_id"])


def _writes(bpsn_bench: Harness, sn_since: int, bp_since: int) -> tuple[int, int]:
    sn = [
        e
        for e in bpsn_bench.core_requests("servicenow", sn_since, table="incident")
        if e.method in WRITES
    ]
    bp = [e for e in bpsn_bench.core_requests("bigpanda", bp_since) if e.method in WRITES and "/tags" in e.path]
    return len(sn) + ticket_rows_since(bpsn_bench, sn_since), len(bp)  # + the writes made as staging rows


@given("the core maps incident tags to ServiceNow fields:")
def map_tags(bpsn_bench: Harness, datatable: list[list[str]]) -> None:
    header, *rows = datatable
    mappings = tuple(TagMapping(**dict(zip(header, row))) for row in rows)  # type: ignore[arg-type]
    bpsn_bench.reconfigure(
        dataclasses.replace(bpsn_bench.incident_settings or IncidentSettings(), tag_mappings=mappings)
    )


@when(parsers.re(r'an analyst sets the ticket field "(?P<field>\w+)" to "(?P<value>[^"]*)"'))
def analyst_sets_field(bpsn_bench: Harness, bpsn_context: dict[str, Any], field: str, value: str) -> None:
    if "sn_mark" not in bpsn_context:
        bpsn_context["sn_mark"], bpsn_context["bp_mark"] = bpsn_bench.journal_marks()
    r = bpsn_bench.run(
        bpsn_bench.admin.patch(
            f"/api/now/table/incident/{_ticket(bpsn_bench, bpsn_context)['sys_id']}", json={field: value}
        )
    )
    assert r.status_code == 200, r.text


@when(parsers.parse('an analyst assigns the ticket to the group "{group}"'))
def analyst_assigns(bpsn_bench: Harness, bpsn_context: dict[str, Any], group: str) -> None:
    analyst_sets_field(bpsn_bench, bpsn_context, "assignment_group", _group_id(bpsn_bench, group))


@then(parsers.parse('the ticket\'s assignment group is "{group}"'))
def assignment_group_is(bpsn_bench: Harness, bpsn_context: dict[str, Any], group: str) -> None:
    assert _ticket(bpsn_bench, bpsn_context)["assignment_group"] == _group_id(bpsn_bench, group)


@then("the ticket has no assignment group")
def no_assignment_group(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    assert _ticket(bpsn_bench, bpsn_context)["assignment_group"] == ""


@then(parsers.parse('the BigPanda incident has no tag "{name}"'))
def bigpanda_has_no_tag(bpsn_bench: Harness, bpsn_context: dict[str, Any], name: str) -> None:
    assert bpsn_bench.tag_id(name) not in bpsn_bench.incident(bpsn_context["incident_id"]).incident_tags


@then(
    parsers.re(
        r"since the change the core wrote (?P<sn>\d+) times? to ServiceNow and (?P<bp>\d+) times? "
        r"to BigPanda's tags"
    )
)
def writes_since_change(bpsn_bench: Harness, bpsn_context: dict[str, Any], sn: str, bp: str) -> None:
    assert _writes(bpsn_bench, bpsn_context["sn_mark"], bpsn_context["bp_mark"]) == (int(sn), int(bp))


@then("for ten coalesce windows neither side is written again")
def no_echo(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    sn_mark, bp_mark = bpsn_bench.journal_marks()
    window = bpsn_bench.runner.engine.settings.tag_coalesce_seconds
    for _ in range(10):
        bpsn_bench.advance(window)
        bpsn_bench.watch()
        bpsn_bench.poll()
    assert _writes(bpsn_bench, sn_mark, bp_mark) == (0, 0)
