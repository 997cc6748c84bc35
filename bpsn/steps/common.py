"""Shared Gherkin steps: the in-process bench, alerts, polls, time, and what each side shows."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_bdd import given, parsers, then, when

from bpsn.harness.base import Harness


@pytest.fixture
def bpsn_context() -> dict[str, Any]:
    return {}


@given(parsers.parse('the BigPanda organisation "{name}" auto-shares every incident to ServiceNow'))
def organisation_autoshares(bpsn_bench: Harness, name: str) -> None:
    assert name == bpsn_bench.organization, (name, bpsn_bench.organization)
    r = bpsn_bench.operator_client.get("/resources/v2.0/environments")
    assert r.status_code == 200, r.text
    assert any("servicenow" in env["autoshare_targets"] and not env["filter"] for env in r.json()), r.json()


@given("the integration core is connected to both systems")
def core_connected(bpsn_bench: Harness) -> None:
    assert bpsn_bench.poll().shares == 0


def _send(bpsn_bench: Harness, bpsn_context: dict[str, Any], status: str, host: str, check: str) -> None:
    r = bpsn_bench.send_alerts({"status": status, "host": host, "check": check})
    assert r.status_code == 201, r.text
    bpsn_context["incident_id"] = r.json()["alerts"][0]["incident_id"]


@when(
    parsers.re(r'a monitoring tool sends an? (?P<status>\w+) alert for host "(?P<host>[^"]+)" check "(?P<check>[^"]+)"')
)
def send_alert(bpsn_bench: Harness, bpsn_context: dict[str, Any], status: str, host: str, check: str) -> None:
    _send(bpsn_bench, bpsn_context, status, host, check)


@given(parsers.re(r'an? (?P<status>\w+) alert for host "(?P<host>[^"]+)" check "(?P<check>[^"]+)" has become a ticket'))
def alert_became_ticket(
    bpsn_bench: Harness, bpsn_context: dict[str, Any], status: str, host: str, check: str
) -> None:
    _send(bpsn_bench, bpsn_context, status, host, check)
    report = bpsn_bench.poll()
    assert report.created == 1 and len(report.callbacks) == 1


@when("BigPanda delivers the same share again")
def reshare(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    bpsn_bench.bigpanda_views.share_again(bpsn_context["incident_id"])


class SimulatedCrash(ConnectionError):
    """The core dying mid-poll; only this is tolerated by the polling step."""


@given("the callback to BigPanda will fail once")
def callback_fails_once(bpsn_bench: Harness) -> None:
    client = bpsn_bench.runner.bigpanda
    original = client.send_callbacks

    async def crash_once(results: list[dict[str, Any]]) -> dict[str, Any]:
        client.send_callbacks = original  # type: ignore[method-assign]
        raise SimulatedCrash("the core died before the callback")

    client.send_callbacks = crash_once  # type: ignore[method-assign]


@when("the core polls BigPanda")
def core_polls(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    try:
        bpsn_context["report"] = bpsn_bench.poll()
    except SimulatedCrash:
        bpsn_context["report"] = None


@when("the core restarts")
def core_restarts(bpsn_bench: Harness) -> None:
    bpsn_bench.reconfigure(bpsn_bench.incident_settings)


@when(parsers.parse("{seconds:d} seconds pass"))
def time_passes(bpsn_bench: Harness, seconds: int) -> None:
    bpsn_bench.advance(seconds)


@then(parsers.parse("ServiceNow has {count:d} incident for that BigPanda incident"))
def tickets_for_incident(bpsn_bench: Harness, bpsn_context: dict[str, Any], count: int) -> None:
    tickets = bpsn_bench.tickets(f"correlation_id={bpsn_context['incident_id']}")
    assert len(tickets) == count, tickets
    bpsn_context["ticket"] = tickets[0] if tickets else None


@then(parsers.parse('its short description is "{text}"'))
def short_description_is(bpsn_context: dict[str, Any], text: str) -> None:
    assert bpsn_context["ticket"]["short_description"] == text


@then("its correlation id is the BigPanda incident id")
def correlation_id_is_incident(bpsn_context: dict[str, Any]) -> None:
    assert bpsn_context["ticket"]["correlation_id"] == bpsn_context["incident_id"]


@then("BigPanda shows the ServiceNow incident number on the incident")
def bigpanda_shows_ticket(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    tickets = bpsn_bench.incident(bpsn_context["incident_id"]).tickets
    assert [t.number for t in tickets] == [bpsn_context["ticket"]["number"]]


@then("BigPanda does not show a ticket on the incident yet")
def bigpanda_no_ticket(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    assert bpsn_bench.incident(bpsn_context["incident_id"]).tickets == []


@then(parsers.parse('the ticket description counts "{counts}"'))
def description_counts(bpsn_context: dict[str, Any], counts: str) -> None:
    assert bpsn_context["ticket"]["description"].startswith(counts), bpsn_context["ticket"]["description"]


@then(parsers.parse('the ticket is in state "{state}" with resolution code "{code}"'))
def ticket_state(bpsn_bench: Harness, bpsn_context: dict[str, Any], state: str, code: str) -> None:
    ticket = bpsn_bench.tickets(f"correlation_id={bpsn_context['incident_id']}")[0]
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
def setting_is(bpsn_bench: Harness, name: str, value: str) -> None:
    import dataclasses

    bpsn_bench.reconfigure(dataclasses.replace(bpsn_bench.incident_settings, **{SETTING_NAMES[name]: value == "on"}))


def _ticket(bpsn_bench: Harness, bpsn_context: dict[str, Any], display: bool = False) -> dict[str, Any]:
    """The incident's newest ticket."""
    params = {
        "sysparm_query": f"correlation_id={bpsn_context['incident_id']}^ORDERBYDESCsys_created_on",
        "sysparm_exclude_reference_link": "true",
    }
    if display:
        params["sysparm_display_value"] = "all"
    r = bpsn_bench.servicenow_client.get("/api/now/table/incident", params=params)
    r.raise_for_status()
    return r.json()["result"][0]


def _patch_ticket(bpsn_bench: Harness, bpsn_context: dict[str, Any], body: dict[str, str]) -> None:
    sys_id = _ticket(bpsn_bench, bpsn_context)["sys_id"]
    r = bpsn_bench.servicenow_client.patch(f"/api/now/table/incident/{sys_id}", json=body)
    assert r.status_code == 200, r.text


def _v2(bpsn_bench: Harness, bpsn_context: dict[str, Any], method: str, suffix: str, **kwargs: Any) -> Any:
    """BigPanda's V2 Incidents API, as a person at BigPanda's console (the operator user)."""
    incident = bpsn_bench.incident(bpsn_context["incident_id"])
    path = f"/resources/v2.0/environments/{incident.environments[0]}/incidents/{incident.id}{suffix}"
    return bpsn_bench.operator_client.request(method, path, **kwargs)


@when(parsers.re(r'the alert for host "(?P<host>[^"]+)" check "(?P<check>[^"]+)" flaps: (?P<statuses>[\w, ]+)'))
def alert_flaps(bpsn_bench: Harness, bpsn_context: dict[str, Any], host: str, check: str, statuses: str) -> None:
    """One status a minute, with no poll in between (the core sees where it ends up)."""
    for status in [s.strip() for s in statuses.split(",")]:
        bpsn_bench.advance(60)
        _send(bpsn_bench, bpsn_context, status, host, check)


@then(parsers.parse("BigPanda marks the incident as flapping"))
def incident_flapping(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    assert bpsn_bench.incident(bpsn_context["incident_id"]).flapping


@then(parsers.parse('the ticket is in state "{state}"'))
def ticket_in_state(bpsn_bench: Harness, bpsn_context: dict[str, Any], state: str) -> None:
    ticket = _ticket(bpsn_bench, bpsn_context)
    assert ticket["state"] == state, (ticket["state"], ticket.get("hold_reason"))
    bpsn_context["ticket"] = ticket


@then(parsers.parse('the ticket has a work note containing "{text}"'))
def ticket_work_note(bpsn_bench: Harness, bpsn_context: dict[str, Any], text: str) -> None:
    notes = _ticket(bpsn_bench, bpsn_context, display=True)["work_notes"]
    notes = notes.get("display_value", "") if isinstance(notes, dict) else notes
    assert text in notes, notes


@then(parsers.parse('the ticket is On Hold awaiting "{reason}"'))
def ticket_on_hold(bpsn_bench: Harness, bpsn_context: dict[str, Any], reason: str) -> None:
    ticket = _ticket(bpsn_bench, bpsn_context, display=True)
    assert ticket["state"]["value"] == "3", ticket["state"]
    assert ticket["hold_reason"]["display_value"] == reason, ticket["hold_reason"]


@when(parsers.parse("a BigPanda user snoozes the incident for {seconds:d} seconds, cancelled by updates"))
def user_snoozes(bpsn_bench: Harness, bpsn_context: dict[str, Any], seconds: int) -> None:
    end = int(bpsn_bench.clock.now()) + seconds
    r = _v2(
        bpsn_bench,
        bpsn_context,
        "PUT",
        "/snooze",
        json={"end_time": end, "comment": "maintenance", "cancel_on_incident_updates": True},
    )
    assert r.status_code == 204, r.text


@when(parsers.parse('an analyst puts the ticket On Hold in ServiceNow awaiting "{reason}"'))
def analyst_holds(bpsn_bench: Harness, bpsn_context: dict[str, Any], reason: str) -> None:
    codes = {"Awaiting Caller": "1", "Awaiting Problem": "3", "Awaiting Vendor": "4", "Awaiting Change": "5"}
    _patch_ticket(bpsn_bench, bpsn_context, {"state": "3", "hold_reason": codes[reason]})


@when("an analyst takes the ticket off hold in ServiceNow")
def analyst_unholds(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    _patch_ticket(bpsn_bench, bpsn_context, {"state": "2"})


@when(parsers.parse('an analyst resolves the ticket in ServiceNow with code "{code}" and notes "{notes}"'))
def analyst_resolves(bpsn_bench: Harness, bpsn_context: dict[str, Any], code: str, notes: str) -> None:
    _patch_ticket(bpsn_bench, bpsn_context, {"state": "6", "close_code": code, "close_notes": notes})


@when("an analyst closes the ticket in ServiceNow")
def analyst_closes(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    _patch_ticket(bpsn_bench, bpsn_context, {"state": "7"})


@when("the core watches ServiceNow for changes")
def core_watches(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    bpsn_context["watched"] = bpsn_bench.watch()


@then("BigPanda shows the incident snoozed")
def incident_snoozed(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    assert bpsn_bench.incident(bpsn_context["incident_id"]).snoozed


@then("BigPanda shows the incident not snoozed")
def incident_not_snoozed(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    assert not bpsn_bench.incident(bpsn_context["incident_id"]).snoozed


@then("BigPanda shows the incident resolved")
def incident_resolved(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    assert not bpsn_bench.incident(bpsn_context["incident_id"]).active


@then(parsers.parse('BigPanda has a comment on the incident containing "{text}"'))
def incident_comment(bpsn_bench: Harness, bpsn_context: dict[str, Any], text: str) -> None:
    comments = [
        a.params.get("comment", "")
        for a in bpsn_bench.bigpanda_views.activities(bpsn_context["incident_id"], "incident_commented")
    ]
    assert any(text in c for c in comments), comments


@then(parsers.parse("ServiceNow has {count:d} incidents for that BigPanda incident"))
def tickets_for_incident_plural(bpsn_bench: Harness, bpsn_context: dict[str, Any], count: int) -> None:
    tickets = bpsn_bench.tickets(f"correlation_id={bpsn_context['incident_id']}^ORDERBYsys_created_on")
    assert len(tickets) == count, [(t["number"], t["state"]) for t in tickets]
    bpsn_context["tickets"] = tickets


@then("the new ticket follows the previous one")
def new_ticket_follows(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    previous, new = bpsn_context["tickets"][0], bpsn_context["tickets"][-1]
    assert new["parent_incident"] == previous["sys_id"]
    assert new["number"] != previous["number"]
    assert [t.number for t in bpsn_bench.incident(bpsn_context["incident_id"]).tickets][-1] == new["number"]


@then(parsers.parse('the previous ticket stays in state "{state}"'))
def previous_ticket_state(bpsn_context: dict[str, Any], state: str) -> None:
    assert bpsn_context["tickets"][0]["state"] == state


@then("BigPanda shows the incident still active")
def incident_still_active(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    assert bpsn_bench.incident(bpsn_context["incident_id"]).active


def _mark(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    """The first change of a scenario: writes (and lookups) are counted from here."""
    if "sn_mark" not in bpsn_context:
        bpsn_context["sn_mark"], bpsn_context["bp_mark"] = bpsn_bench.journal_marks()


@given(parsers.parse('BigPanda defines the Text incident tags {names}'))
def define_tags(bpsn_bench: Harness, names: str) -> None:
    for name in names.replace(" and ", ", ").split(", "):
        bpsn_bench.bigpanda_views.define_tag(name.strip('"'))


@when(parsers.parse('a BigPanda user sets the incident tag "{name}" to "{value}"'))
def bigpanda_user_sets_tag(bpsn_bench: Harness, bpsn_context: dict[str, Any], name: str, value: str) -> None:
    _mark(bpsn_bench, bpsn_context)
    bpsn_bench.bigpanda_views.set_incident_tag(bpsn_context["incident_id"], name, value)


@then(parsers.re(r'the ticket field "(?P<field>\w+)" is "(?P<value>[^"]*)"'))
def ticket_field_is(bpsn_bench: Harness, bpsn_context: dict[str, Any], field: str, value: str) -> None:
    assert _ticket(bpsn_bench, bpsn_context).get(field, "") == value


@then(parsers.parse('the BigPanda incident tag "{name}" is "{value}"'))
def bigpanda_tag_is(bpsn_bench: Harness, bpsn_context: dict[str, Any], name: str, value: str) -> None:
    assert bpsn_bench.incident(bpsn_context["incident_id"]).incident_tags.get(bpsn_bench.tag_id(name)) == value


@given("a monitoring tool sends these alerts:")
@when("a monitoring tool sends these alerts:")
def send_alert_table(bpsn_bench: Harness, bpsn_context: dict[str, Any], datatable: list[list[str]]) -> None:
    """One alert per row; the header names the fields and tags (status, host, check, ...); an
    empty cell leaves that tag out. bpsn_context["incident_id"] is the first row's incident."""
    header, *rows = datatable
    alerts = [{k: v for k, v in zip(header, row, strict=True) if v} for row in rows]
    r = bpsn_bench.send_alerts(*alerts)
    assert r.status_code == 201, r.text
    ids = [a["incident_id"] for a in r.json()["alerts"]]
    bpsn_context.setdefault("incident_id", ids[0])
    bpsn_context["incident_ids"] = ids


# --- shared by several features -------------------------------------------------------------------
@given("ServiceNow requests are counted from here")
@when("ServiceNow requests are counted from here")
def count_from_here(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    bpsn_context["sn_mark"], bpsn_context["bp_mark"] = bpsn_bench.journal_marks()
    bpsn_context["sn_since"] = bpsn_context["sn_mark"]


def reattach_on_restart(bpsn_context: dict[str, Any], key: str, attach: Any) -> None:
    """Steps that attach a module to the core say how to attach it again after a restart."""
    bpsn_context.setdefault("reattach", {})[key] = attach


@when("the core restarts with the same modules")
def restart_with_modules(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    bpsn_bench.reconfigure(bpsn_bench.incident_settings)
    for attach in bpsn_context.get("reattach", {}).values():
        attach(bpsn_bench.runner)
