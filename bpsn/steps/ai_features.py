"""Steps of ai_features.feature: Root Cause Changes (BigPanda's RCC -> related-change rows and
caused_by) and similar incidents, with the requests counted from both simulators' journals."""

from __future__ import annotations

from typing import Any

from pytest_bdd import given, parsers, then, when

from bpsn.integration.modules import root_cause, similar
from bpsn.integration.modules.root_cause import RootCauseChanges, RootCauseSettings
from bpsn.integration.modules.similar import SimilarSettings
from bpsn.simulator.bigpanda.changes.relations import relate, update_relation
from bpsn.testing import InProcessBench, batches_writing


def _get(bench: InProcessBench, table: str, query: str) -> list[dict[str, Any]]:
    r = bench.run(bench.admin.get(f"/api/now/table/{table}", params={
        "sysparm_query": query, "sysparm_exclude_reference_link": "true"}))
    r.raise_for_status()
    return list(r.json()["result"])


def _ticket(bench: InProcessBench, incident_id: str) -> dict[str, Any]:
    tickets = bench.tickets(f"correlation_id={incident_id}")
    assert len(tickets) == 1, tickets
    return tickets[0]


@given(parsers.parse('ServiceNow has the change requests "{first}" and "{second}"'))
def change_requests(bench: InProcessBench, first: str, second: str) -> None:
    for number in (first, second):
        r = bench.run(bench.admin.post("/api/now/table/change_request",
                                       json={"number": number, "short_description": f"Change {number}"}))
        assert r.status_code == 201, r.text


@given(parsers.parse("the core copies Root Cause Changes, reading an open incident at most every {seconds:d} "
                     "seconds"))
def copies_rcc(bench: InProcessBench, context: dict[str, Any], seconds: int) -> None:
    context["rcc"] = root_cause.attach(bench.runner, RootCauseSettings(enabled=True, refresh_seconds=seconds))


@given(parsers.parse("the core lists similar incidents scoring at least {threshold:f}"))
def lists_similar(bench: InProcessBench, threshold: float) -> None:
    similar.attach(bench.runner, SimilarSettings(enabled=True, threshold=threshold))


@given("ServiceNow requests are counted from here")
@when("ServiceNow requests are counted from here")
def count_from_here(bench: InProcessBench, context: dict[str, Any]) -> None:
    context["sn_mark"], context["bp_mark"] = bench.journal_marks()


@when(parsers.parse('BigPanda relates the change "{identifier}" to the incident as "{certainty}" with comment '
                    '"{comment}"'))
def bigpanda_relates(bench: InProcessBench, context: dict[str, Any], identifier: str, certainty: str,
                     comment: str) -> None:
    org, now = bench.org, bench.clock.now()
    change, _ = org.changes.upsert(org.rng, {"identifier": identifier, "status": "Done",
                                             "summary": f"Change {identifier}", "start": int(now) - 600}, now)
    existing = next((r for r in org.changes.related_to(context["incident_id"]) if r.change_id == change.id), None)
    if existing is None:
        relate(org, change_id=change.id, incident_id=context["incident_id"], match_certainty=certainty,
               comment=comment, by="sre@example.com", now=now)
    else:
        update_relation(org, existing.id, match_certainty=certainty, comment=comment, by="sre@example.com", now=now)


@when("the core refreshes Root Cause Changes")
def core_refreshes(bench: InProcessBench, context: dict[str, Any]) -> None:
    companion: RootCauseChanges = context["rcc"]
    bench.run(companion.refresh())


@when("BigPanda delivers the newest incident's share again")
def reshare_newest(bench: InProcessBench, context: dict[str, Any]) -> None:
    bench.org.share(bench.incident(context["incident_ids"][0]), "incident#new", bench.clock.now())


def _related(bench: InProcessBench, context: dict[str, Any]) -> dict[str, dict[str, Any]]:
    ticket = _ticket(bench, context["incident_id"])
    rows = _get(bench, "x_bip_panda_related_change", f"u_incident={ticket['sys_id']}")
    return {r["u_change_identifier"]: r for r in rows}


@then(parsers.re(r"the ticket has (?P<count>\d+) related changes?$"))
def related_count(bench: InProcessBench, context: dict[str, Any], count: str) -> None:
    assert len(_related(bench, context)) == int(count), list(_related(bench, context))


@then(parsers.re(r'the related change "(?P<identifier>[^"]+)" is "(?P<certainty>\w+)" with comment '
                 r'"(?P<comment>[^"]*)"(?P<unknown> and no change request)?$'))
def related_change_is(bench: InProcessBench, context: dict[str, Any], identifier: str, certainty: str,
                      comment: str, unknown: str | None) -> None:
    row = _related(bench, context)[identifier]
    assert (row["u_match_certainty"], row["u_comment"]) == (certainty, comment)
    numbered = _get(bench, "change_request", f"number={identifier}")
    assert row["u_change_request"] == ("" if unknown else numbered[0]["sys_id"])


@then(parsers.parse('the ticket was caused by "{number}"'))
def caused_by(bench: InProcessBench, context: dict[str, Any], number: str) -> None:
    change = _get(bench, "change_request", f"number={number}")[0]
    assert _ticket(bench, context["incident_id"])["caused_by"] == change["sys_id"]


@then('the ticket has no "caused by" change')
def no_cause(bench: InProcessBench, context: dict[str, Any]) -> None:
    assert _ticket(bench, context["incident_id"])["caused_by"] == ""


@then(parsers.re(r"the core asked BigPanda for Root Cause Changes (?P<count>\d+) times?"))
def rcc_reads(bench: InProcessBench, context: dict[str, Any], count: str) -> None:
    reads = bench.bigpanda.journal.find(method="GET", path="/resources/v2.0/rcc", since_id=context["bp_mark"])
    assert len(reads) == int(count), [e.query for e in reads]


@then(parsers.re(r'the core sent (?P<batches>\d+) Batch API requests? for "(?P<table>\w+)" and looked up change '
                 r'requests (?P<lookups>\d+) times?'))
def requests_sent(bench: InProcessBench, context: dict[str, Any], batches: str, table: str, lookups: str) -> None:
    entries = bench.servicenow.journal.find(user=bench.settings.servicenow_user, since_id=context["sn_mark"])
    looked_up = [e for e in entries if e.method == "GET" and e.table == "change_request"]
    assert (batches_writing(entries, table), len(looked_up)) == (int(batches), int(lookups)), \
        bench.servicenow.journal.counts(entries)
    writes = [e for e in entries if e.table == table and e.method != "GET"]
    assert all(e.status < 300 for e in writes), [(e.method, e.status) for e in writes]


def _similar_rows(bench: InProcessBench, context: dict[str, Any]) -> list[dict[str, Any]]:
    ticket = _ticket(bench, context["incident_ids"][0])
    return _get(bench, "x_bip_panda_similar_incident", f"u_incident={ticket['sys_id']}")


@then(parsers.re(r"the newest ticket lists (?P<count>\d+) similar incidents?$"))
def similar_count(bench: InProcessBench, context: dict[str, Any], count: str) -> None:
    rows = _similar_rows(bench, context)
    assert len(rows) == int(count), rows
    context["similar"] = rows


@then(parsers.parse("it lists the first incident's ticket with score \"{score}\""))
def lists_first(bench: InProcessBench, context: dict[str, Any], score: str) -> None:
    row, first = context["similar"][0], _ticket(bench, context["incident_id"])
    assert (row["u_similar_bp_incident_id"], row["u_similar_incident"], row["u_score"]) == (
        context["incident_id"], first["sys_id"], score)


@then(parsers.parse('the reasoning reads "{text}"'))
def reasoning_reads(context: dict[str, Any], text: str) -> None:
    assert context["similar"][0]["u_reasoning"] == text
