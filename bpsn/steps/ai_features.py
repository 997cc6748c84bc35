"""Steps of ai_features.feature: Root Cause Changes (BigPanda's RCC -> related-change rows and
caused_by) and similar incidents, with the requests counted from both simulators' journals."""

from __future__ import annotations

from typing import Any

from pytest_bdd import given, parsers, then, when

from bpsn.harness.base import Harness
from bpsn.harness.journal import batches_writing
from bpsn.harness.views import counts
from bpsn.integration.modules import root_cause, similar
from bpsn.integration.modules.root_cause import RootCauseChanges, RootCauseSettings
from bpsn.integration.modules.similar import SimilarSettings


def _ticket(bpsn_bench: Harness, incident_id: str) -> dict[str, Any]:
    tickets = bpsn_bench.tickets(f"correlation_id={incident_id}")
    assert len(tickets) == 1, tickets
    return tickets[0]


@given(parsers.parse('ServiceNow has the change requests "{first}" and "{second}"'))
def change_requests(bpsn_bench: Harness, first: str, second: str) -> None:
    for number in (first, second):
        r = bpsn_bench.run(
            bpsn_bench.admin.post(
                "/api/now/table/change_request", json={"number": number, "short_description": f"Change {number}"}
            )
        )
        assert r.status_code == 201, r.text


@given(parsers.parse("the core copies Root Cause Changes, reading an open incident at most every {seconds:d} seconds"))
def copies_rcc(bpsn_bench: Harness, bpsn_context: dict[str, Any], seconds: int) -> None:
    bpsn_context["rcc"] = root_cause.attach(bpsn_bench.runner, RootCauseSettings(enabled=True, refresh_seconds=seconds))


@given(parsers.parse("the core lists similar incidents scoring at least {threshold:f}"))
def lists_similar(bpsn_bench: Harness, threshold: float) -> None:
    similar.attach(bpsn_bench.runner, SimilarSettings(enabled=True, threshold=threshold))


@when(
    parsers.parse(
        'BigPanda relates the change "{identifier}" to the incident as "{certainty}" with comment "{comment}"'
    )
)
def bigpanda_relates(
    bpsn_bench: Harness, bpsn_context: dict[str, Any], identifier: str, certainty: str, comment: str
) -> None:
    now = int(bpsn_bench.clock.now())
    views = bpsn_bench.bigpanda_views
    change_id = views.upsert_change(
        {"identifier": identifier, "status": "Done", "summary": f"Change {identifier}", "start": now - 600},
        bpsn_bench.credentials.bigpanda_changes_app_key,
    )
    views.relate_change(change_id, bpsn_context["incident_id"], certainty, comment)


@when("the core refreshes Root Cause Changes")
def core_refreshes(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    companion: RootCauseChanges = bpsn_context["rcc"]
    bpsn_bench.run(companion.refresh())


@when("BigPanda delivers the newest incident's share again")
def reshare_newest(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    bpsn_bench.bigpanda_views.share_again(bpsn_context["incident_ids"][0])


def _related(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> dict[str, dict[str, Any]]:
    ticket = _ticket(bpsn_bench, bpsn_context["incident_id"])
    rows = bpsn_bench.records("x_bip_panda_related_change", f"u_incident={ticket['sys_id']}")
    return {r["u_change_identifier"]: r for r in rows}


@then(parsers.re(r"the ticket has (?P<count>\d+) related changes?$"))
def related_count(bpsn_bench: Harness, bpsn_context: dict[str, Any], count: str) -> None:
    assert len(_related(bpsn_bench, bpsn_context)) == int(count), list(_related(bpsn_bench, bpsn_context))


@then(
    parsers.re(
        r'the related change "(?P<identifier>[^"]+)" is "(?P<certainty>\w+)" with comment '
        r'"(?P<comment>[^"]*)"(?P<unknown> and no change request)?$'
    )
)
def related_change_is(
    bpsn_bench: Harness,
    bpsn_context: dict[str, Any],
    identifier: str,
    certainty: str,
    comment: str,
    unknown: str | None,
) -> None:
    row = _related(bpsn_bench, bpsn_context)[identifier]
    assert (row["u_match_certainty"], row["u_comment"]) == (certainty, comment)
    numbered = bpsn_bench.records("change_request", f"number={identifier}")
    assert row["u_change_request"] == ("" if unknown else numbered[0]["sys_id"])


@then(parsers.parse('the ticket was caused by "{number}"'))
def caused_by(bpsn_bench: Harness, bpsn_context: dict[str, Any], number: str) -> None:
    change = bpsn_bench.records("change_request", f"number={number}")[0]
    assert _ticket(bpsn_bench, bpsn_context["incident_id"])["caused_by"] == change["sys_id"]


@then('the ticket has no "caused by" change')
def no_cause(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    assert _ticket(bpsn_bench, bpsn_context["incident_id"])["caused_by"] == ""


@then(parsers.re(r"the core asked BigPanda for Root Cause Changes (?P<count>\d+) times?"))
def rcc_reads(bpsn_bench: Harness, bpsn_context: dict[str, Any], count: str) -> None:
    reads = bpsn_bench.requests("bigpanda", bpsn_context["bp_mark"], method="GET", path="/resources/v2.0/rcc")
    assert len(reads) == int(count), [e.query for e in reads]


@then(
    parsers.re(
        r'the core sent (?P<batches>\d+) Batch API requests? for "(?P<table>\w+)" and looked up change '
        r'requests (?P<lookups>\d+) times?'
    )
)
def requests_sent(
    bpsn_bench: Harness, bpsn_context: dict[str, Any], batches: str, table: str, lookups: str
) -> None:
    entries = bpsn_bench.requests("servicenow", bpsn_context["sn_mark"], user=bpsn_bench.settings.servicenow_user)
    looked_up = [e for e in entries if e.method == "GET" and e.table == "change_request"]
    assert (batches_writing(entries, table), len(looked_up)) == (int(batches), int(lookups)), (
        counts(entries)
    )
    writes = [e for e in entries if e.table == table and e.method != "GET"]
    assert all(e.status < 300 for e in writes), [(e.method, e.status) for e in writes]


def _similar_rows(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> list[dict[str, Any]]:
    ticket = _ticket(bpsn_bench, bpsn_context["incident_ids"][0])
    return bpsn_bench.records("x_bip_panda_similar_incident", f"u_incident={ticket['sys_id']}")


@then(parsers.re(r"the newest ticket lists (?P<count>\d+) similar incidents?$"))
def similar_count(bpsn_bench: Harness, bpsn_context: dict[str, Any], count: str) -> None:
    rows = _similar_rows(bpsn_bench, bpsn_context)
    assert len(rows) == int(count), rows
    bpsn_context["similar"] = rows


@then(parsers.parse("it lists the first incident's ticket with score \"{score}\""))
def lists_first(bpsn_bench: Harness, bpsn_context: dict[str, Any], score: str) -> None:
    row, first = bpsn_context["similar"][0], _ticket(bpsn_bench, bpsn_context["incident_id"])
    assert (row["u_similar_bp_incident_id"], row["u_similar_incident"], row["u_score"]) == (
        bpsn_context["incident_id"],
        first["sys_id"],
        score,
    )


@then(parsers.parse('the reasoning reads "{text}"'))
def reasoning_reads(bpsn_context: dict[str, Any], text: str) -> None:
    assert bpsn_context["similar"][0]["u_reasoning"] == text
