"""Shared Gherkin steps: the in-process bench, alerts, polls, time, and what each side shows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pytest_bdd import given, parsers, then, when

from bpsn.integration.engine.mapping import IncidentSettings
from bpsn.simulator.bigpanda.incidents import actions as incident_actions
from bpsn.testing import InProcessBench


@pytest.fixture
def bench() -> Iterator[InProcessBench]:
    b = InProcessBench()
    yield b
    b.close()


@pytest.fixture
def context() -> dict[str, Any]:
    return {}


@given(parsers.parse('the BigPanda organisation "{name}" auto-shares every incident to ServiceNow'))
def organisation_autoshares(bench: InProcessBench, name: str) -> None:
    org = bench.bigpanda.orgs[name]
    assert any("servicenow" in env.autoshare_targets and not env.filter for env in org.environments.values())


@given("the integration core is connected to both systems")
def core_connected(bench: InProcessBench) -> None:
    assert bench.poll().shares == 0


def _send(bench: InProcessBench, context: dict[str, Any], status: str, host: str, check: str) -> None:
    r = bench.send_alerts({"status": status, "host": host, "check": check})
    assert r.status_code == 201, r.text
    context["incident_id"] = r.json()["alerts"][0]["incident_id"]


@when(parsers.re(r'a monitoring tool sends an? (?P<status>\w+) alert for host "(?P<host>[^"]+)" check "(?P<check>[^"]+)"'))
def send_alert(bench: InProcessBench, context: dict[str, Any], status: str, host: str, check: str) -> None:
    _send(bench, context, status, host, check)


@given(parsers.re(r'an? (?P<status>\w+) alert for host "(?P<host>[^"]+)" check "(?P<check>[^"]+)" has become a ticket'))
def alert_became_ticket(bench: InProcessBench, context: dict[str, Any], status: str, host: str, check: str) -> None:
    _send(bench, context, status, host, check)
    report = bench.poll()
    assert report.created == 1 and len(report.callbacks) == 1


@when("BigPanda delivers the same share again")
def reshare(bench: InProcessBench, context: dict[str, Any]) -> None:
    org = bench.bigpanda.orgs[bench.bigpanda.settings.organization]
    org.share(bench.incident(context["incident_id"]), "incident#new", bench.clock.now())


class SimulatedCrash(ConnectionError):
    """The core dying mid-poll; only this is tolerated by the polling step."""


@given("the callback to BigPanda will fail once")
def callback_fails_once(bench: InProcessBench) -> None:
    client = bench.runner.bigpanda
    original = client.send_callbacks

    async def crash_once(results: list[dict[str, Any]]) -> dict[str, Any]:
        client.send_callbacks = original  # type: ignore[method-assign]
        raise SimulatedCrash("the core died before the callback")

    client.send_callbacks = crash_once  # type: ignore[method-assign]


@when("the core polls BigPanda")
def core_polls(bench: InProcessBench, context: dict[str, Any]) -> None:
    try:
        context["report"] = bench.poll()
    except SimulatedCrash:
        context["report"] = None


@when("the core restarts")
def core_restarts(bench: InProcessBench) -> None:
    bench.reconfigure(bench.incident_settings or IncidentSettings())


@when(parsers.parse("{seconds:d} seconds pass"))
def time_passes(bench: InProcessBench, seconds: int) -> None:
    bench.advance(seconds)


@then(parsers.parse("ServiceNow has {count:d} incident for that BigPanda incident"))
def tickets_for_incident(bench: InProcessBench, context: dict[str, Any], count: int) -> None:
    tickets = bench.tickets(f"correlation_id={context['incident_id']}")
    assert len(tickets) == count, tickets
    context["ticket"] = tickets[0] if tickets else None


@then(parsers.parse('its short description is "{text}"'))
def short_description_is(context: dict[str, Any], text: str) -> None:
    assert context["ticket"]["short_description"] == text


@then("its correlation id is the BigPanda incident id")
def correlation_id_is_incident(context: dict[str, Any]) -> None:
    assert context["ticket"]["correlation_id"] == context["incident_id"]


@then("BigPanda shows the ServiceNow incident number on the incident")
def bigpanda_shows_ticket(bench: InProcessBench, context: dict[str, Any]) -> None:
    tickets = bench.incident(context["incident_id"]).tickets
    assert [t.number for t in tickets] == [context["ticket"]["number"]]


@then("BigPanda does not show a ticket on the incident yet")
def bigpanda_no_ticket(bench: InProcessBench, context: dict[str, Any]) -> None:
    assert bench.incident(context["incident_id"]).tickets == []


@then(parsers.parse('the ticket description counts "{counts}"'))
def description_counts(context: dict[str, Any], counts: str) -> None:
    assert context["ticket"]["description"].startswith(counts), context["ticket"]["description"]


@then(parsers.parse('the ticket is in state "{state}" with resolution code "{code}"'))
def ticket_state(bench: InProcessBench, context: dict[str, Any], state: str, code: str) -> None:
    ticket = bench.tickets(f"correlation_id={context['incident_id']}")[0]
    assert (ticket["state"], ticket["close_code"]) == (state, code)
    assert ticket["resolved_at"] and ticket["active"] == "true"


# --- lifecycle: settings, flapping, snooze, reopen, ServiceNow -> BigPanda ---------------------------
SETTING_NAMES = {
    "Resolve ServiceNow Incident": "resolve_servicenow",
    "Flapping - Block Resolve": "block_resolve_while_flapping",
    "Re-open Resolved": "reopen_resolved",
    "Resolve BigPanda Incident": "resolve_bigpanda",
    "Send Closure Code": "send_closure_code",
}


@given(parsers.re(r'the setting "(?P<name>[^"]+)" is (?P<value>on|off)'))
def setting_is(bench: InProcessBench, name: str, value: str) -> None:
    import dataclasses

    current = bench.incident_settings or IncidentSettings()
    bench.reconfigure(dataclasses.replace(current, **{SETTING_NAMES[name]: value == "on"}))


def _ticket(bench: InProcessBench, context: dict[str, Any], display: bool = False) -> dict[str, Any]:
    """The incident's newest ticket."""
    params = {"sysparm_query": f"correlation_id={context['incident_id']}^ORDERBYDESCsys_created_on",
              "sysparm_exclude_reference_link": "true"}
    if display:
        params["sysparm_display_value"] = "all"
    r = bench.run(bench.admin.get("/api/now/table/incident", params=params))
    r.raise_for_status()
    return r.json()["result"][0]


def _patch_ticket(bench: InProcessBench, context: dict[str, Any], body: dict[str, str]) -> None:
    sys_id = _ticket(bench, context)["sys_id"]
    r = bench.run(bench.admin.patch(f"/api/now/table/incident/{sys_id}", json=body))
    assert r.status_code == 200, r.text


def _user_key_client(bench: InProcessBench) -> Any:
    import httpx

    from bpsn.simulator.common.asgi_call import InProcessTransport
    token = bench.settings.bigpanda_bearer_token.get_secret_value()
    return httpx.AsyncClient(transport=InProcessTransport(bench.bigpanda_app),
                             base_url=bench.settings.bigpanda_url, headers={"Authorization": f"Bearer {token}"})


def _v2(bench: InProcessBench, context: dict[str, Any], method: str, suffix: str, **kwargs: Any) -> Any:
    incident = bench.incident(context["incident_id"])
    path = f"/resources/v2.0/environments/{incident.environments[0]}/incidents/{incident.id}{suffix}"

    async def call() -> Any:
        async with _user_key_client(bench) as client:
            return await client.request(method, path, **kwargs)
    return bench.run(call())


@when(parsers.re(r'the alert for host "(?P<host>[^"]+)" check "(?P<check>[^"]+)" flaps: (?P<statuses>[\w, ]+)'))
def alert_flaps(bench: InProcessBench, context: dict[str, Any], host: str, check: str, statuses: str) -> None:
    """One status a minute, with no poll in between (the core sees where it ends up)."""
    for status in [s.strip() for s in statuses.split(",")]:
        bench.advance(60)
        _send(bench, context, status, host, check)


@then(parsers.parse("BigPanda marks the incident as flapping"))
def incident_flapping(bench: InProcessBench, context: dict[str, Any]) -> None:
    assert bench.incident(context["incident_id"]).flapping


@then(parsers.parse('the ticket is in state "{state}"'))
def ticket_in_state(bench: InProcessBench, context: dict[str, Any], state: str) -> None:
    ticket = _ticket(bench, context)
    assert ticket["state"] == state, (ticket["state"], ticket.get("hold_reason"))
    context["ticket"] = ticket


@then(parsers.parse('the ticket has a work note containing "{text}"'))
def ticket_work_note(bench: InProcessBench, context: dict[str, Any], text: str) -> None:
    notes = _ticket(bench, context, display=True)["work_notes"]
    notes = notes.get("display_value", "") if isinstance(notes, dict) else notes
    assert text in notes, notes


@then(parsers.parse('the ticket is On Hold awaiting "{reason}"'))
def ticket_on_hold(bench: InProcessBench, context: dict[str, Any], reason: str) -> None:
    ticket = _ticket(bench, context, display=True)
    assert ticket["state"]["value"] == "3", ticket["state"]
    assert ticket["hold_reason"]["display_value"] == reason, ticket["hold_reason"]


@when(parsers.parse("a BigPanda user snoozes the incident for {seconds:d} seconds, cancelled by updates"))
def user_snoozes(bench: InProcessBench, context: dict[str, Any], seconds: int) -> None:
    end = int(bench.clock.now()) + seconds
    r = _v2(bench, context, "PUT", "/snooze", json={"end_time": end, "comment": "maintenance",
                                                     "cancel_on_incident_updates": True})
    assert r.status_code == 204, r.text


@when(parsers.parse('an analyst puts the ticket On Hold in ServiceNow awaiting "{reason}"'))
def analyst_holds(bench: InProcessBench, context: dict[str, Any], reason: str) -> None:
    codes = {"Awaiting Caller": "1", "Awaiting Problem": "3", "Awaiting Vendor": "4", "Awaiting Change": "5"}
    _patch_ticket(bench, context, {"state": "3", "hold_reason": codes[reason]})


@when("an analyst takes the ticket off hold in ServiceNow")
def analyst_unholds(bench: InProcessBench, context: dict[str, Any]) -> None:
    _patch_ticket(bench, context, {"state": "2"})


@when(parsers.parse('an analyst resolves the ticket in ServiceNow with code "{code}" and notes "{notes}"'))
def analyst_resolves(bench: InProcessBench, context: dict[str, Any], code: str, notes: str) -> None:
    _patch_ticket(bench, context, {"state": "6", "close_code": code, "close_notes": notes})


@when("an analyst closes the ticket in ServiceNow")
def analyst_closes(bench: InProcessBench, context: dict[str, Any]) -> None:
    _patch_ticket(bench, context, {"state": "7"})


@when("the core watches ServiceNow for changes")
def core_watches(bench: InProcessBench, context: dict[str, Any]) -> None:
    context["watched"] = bench.watch()


@then("BigPanda shows the incident snoozed")
def incident_snoozed(bench: InProcessBench, context: dict[str, Any]) -> None:
    assert bench.incident(context["incident_id"]).snooze.snoozed


@then("BigPanda shows the incident not snoozed")
def incident_not_snoozed(bench: InProcessBench, context: dict[str, Any]) -> None:
    assert not bench.incident(context["incident_id"]).snooze.snoozed


@then("BigPanda shows the incident resolved")
def incident_resolved(bench: InProcessBench, context: dict[str, Any]) -> None:
    assert not bench.incident(context["incident_id"]).active


@then(parsers.parse('BigPanda has a comment on the incident containing "{text}"'))
def incident_comment(bench: InProcessBench, context: dict[str, Any], text: str) -> None:
    comments = [a.params.get("comment", "") for a in bench.incident(context["incident_id"]).activities
                if a.type == "incident_commented"]
    assert any(text in c for c in comments), comments


@then(parsers.parse("ServiceNow has {count:d} incidents for that BigPanda incident"))
def tickets_for_incident_plural(bench: InProcessBench, context: dict[str, Any], count: int) -> None:
    tickets = bench.tickets(f"correlation_id={context['incident_id']}^ORDERBYsys_created_on")
    assert len(tickets) == count, [(t["number"], t["state"]) for t in tickets]
    context["tickets"] = tickets


@then("the new ticket follows the previous one")
def new_ticket_follows(bench: InProcessBench, context: dict[str, Any]) -> None:
    previous, new = context["tickets"][0], context["tickets"][-1]
    assert new["parent_incident"] == previous["sys_id"]
    assert new["number"] != previous["number"]
    assert [t.number for t in bench.incident(context["incident_id"]).tickets][-1] == new["number"]


@then(parsers.parse('the previous ticket stays in state "{state}"'))
def previous_ticket_state(context: dict[str, Any], state: str) -> None:
    assert context["tickets"][0]["state"] == state


@then("BigPanda shows the incident still active")
def incident_still_active(bench: InProcessBench, context: dict[str, Any]) -> None:
    assert bench.incident(context["incident_id"]).active


def _mark(bench: InProcessBench, context: dict[str, Any]) -> None:
    """The first change of a scenario: writes (and lookups) are counted from here."""
    if "sn_mark" not in context:
        context["sn_mark"], context["bp_mark"] = bench.journal_marks()


@given(parsers.parse('BigPanda defines the Text incident tags {names}'))
def define_tags(bench: InProcessBench, names: str) -> None:
    for name in names.replace(" and ", ", ").split(", "):
        incident_actions.define_tag(bench.org, name.strip('"'), "Text", "", [])


@when(parsers.parse('a BigPanda user sets the incident tag "{name}" to "{value}"'))
def bigpanda_user_sets_tag(bench: InProcessBench, context: dict[str, Any], name: str, value: str) -> None:
    _mark(bench, context)
    incident_actions.set_tag(bench.org, bench.incident(context["incident_id"]), bench.tag_id(name), value,
                             "sre@example.com", bench.clock.now())


@then(parsers.re(r'the ticket field "(?P<field>\w+)" is "(?P<value>[^"]*)"'))
def ticket_field_is(bench: InProcessBench, context: dict[str, Any], field: str, value: str) -> None:
    assert _ticket(bench, context).get(field, "") == value


@then(parsers.parse('the BigPanda incident tag "{name}" is "{value}"'))
def bigpanda_tag_is(bench: InProcessBench, context: dict[str, Any], name: str, value: str) -> None:
    assert bench.incident(context["incident_id"]).incident_tags.get(bench.tag_id(name)) == value


@given("a monitoring tool sends these alerts:")
@when("a monitoring tool sends these alerts:")
def send_alert_table(bench: InProcessBench, context: dict[str, Any], datatable: list[list[str]]) -> None:
    """One alert per row; the header names the fields and tags (status, host, check, ...); an
    empty cell leaves that tag out. context["incident_id"] is the first row's incident."""
    header, *rows = datatable
    alerts = [{k: v for k, v in zip(header, row, strict=True) if v} for row in rows]
    r = bench.send_alerts(*alerts)
    assert r.status_code == 201, r.text
    ids = [a["incident_id"] for a in r.json()["alerts"]]
    context.setdefault("incident_id", ids[0])
    context["incident_ids"] = ids
