"""Binds features/oim_forwarding.feature: ServiceNow incidents -> BigPanda alerts through OIM, on
the bench's virtual clock. (Not test_oim_forwarding.py: tests/unit has that module name, and
pytest imports test files without packages by their base name.)"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pytest_bdd import given, parsers, then, when

from bpsn.harness.base import Harness
from bpsn.harness.views import AlertView
from bpsn.integration.oim.batching import MAX_OIM_BODY
from bpsn.integration.oim.factory import OimConnection, build_oim_forwarder
from bpsn.integration.oim.runner import OimForwarder


@pytest.fixture
def bpsn_oim_forwarders(bpsn_bench: Harness) -> Iterator[list[OimForwarder]]:
    """Every forwarder a scenario builds; their HTTP clients are closed before the bench."""
    made: list[OimForwarder] = []
    yield made
    for forwarder in made:
        bpsn_bench.run(forwarder.api.api.aclose())


def _oim_alerts(bpsn_bench: Harness) -> list[AlertView]:
    return [a for a in bpsn_bench.bigpanda_views.alerts() if a.source_system.startswith("oim.")]


def _alert_for(bpsn_bench: Harness, number: str) -> AlertView:
    found = [a for a in _oim_alerts(bpsn_bench) if a.tags.get("servicenow_number") == number]
    assert len(found) == 1, (number, [a.tags for a in _oim_alerts(bpsn_bench)])
    return found[0]


def _raise(bpsn_bench: Harness, bpsn_context: dict[str, Any], summary: str, **fields: Any) -> dict[str, Any]:
    r = bpsn_bench.run(
        bpsn_bench.admin.post(
            "/api/now/table/incident",
            json={"short_description": summary, **fields},
            params={"sysparm_exclude_reference_link": "true"},
        )
    )
    assert r.status_code == 201, r.text[:300]
    row = dict(r.json()["result"])
    bpsn_context.setdefault("raised", []).append(row)
    return row


def _ci(bpsn_bench: Harness, name: str) -> str:
    rows = bpsn_bench.run(
        bpsn_bench.admin.get("/api/now/table/cmdb_ci", params={"sysparm_query": f"name={name}"})
    ).json()
    return str(rows["result"][0]["sys_id"])


def _config_path(bpsn_bench: Harness) -> str:
    return f"/configurations/alerts/oim/{bpsn_bench.credentials.bigpanda_oim_app_key}"


def _config(bpsn_bench: Harness) -> dict[str, Any]:
    """The OIM integration's configuration, read with the organisation token."""
    r = bpsn_bench.alerts_client.get(_config_path(bpsn_bench))
    assert r.status_code == 200, r.text
    return dict(r.json())


# --- the core ------------------------------------------------------------------------------------
@given("the core forwards ServiceNow records to BigPanda through OIM")
@when("the core forwards ServiceNow records to BigPanda through OIM")
def core_forwards_oim(
    bpsn_bench: Harness, bpsn_context: dict[str, Any], bpsn_oim_forwarders: list[OimForwarder]
) -> None:
    async def build() -> OimForwarder:
        return build_oim_forwarder(
            bpsn_bench.settings,
            OimConnection(oim_app_key=bpsn_bench.credentials.bigpanda_oim_app_key),
            bpsn_bench.runner.servicenow,
            bpsn_bench.clock,
            sleep=bpsn_bench._virtual_sleep,
            transport=bpsn_bench.core_transport("bigpanda"),
        )

    bpsn_context["oim"] = bpsn_bench.run(build())
    bpsn_oim_forwarders.append(bpsn_context["oim"])


@given("the core has forwarded records through OIM once")
@when("the core forwards records through OIM")
def core_forwards_once(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    bpsn_context["oim_report"] = bpsn_bench.run(bpsn_context["oim"].poll_once())


@given(parsers.parse("the core sends at most {n:d} events per OIM request"))
def events_per_request(bpsn_context: dict[str, Any], n: int) -> None:
    bpsn_context["oim"].max_events = n


@given(parsers.parse("BigPanda answers {status:d} to the next {n:d} OIM alert requests"))
def oim_fails(bpsn_bench: Harness, status: int, n: int) -> None:
    bpsn_bench.faults.bigpanda.add(path="/oim/api/alerts", status=status, times=n)


@when(parsers.parse('someone changes the OIM configuration\'s primary property to "{tag}" in BigPanda'))
def change_config_by_hand(bpsn_bench: Harness, tag: str) -> None:
    body = _config(bpsn_bench)
    body["config"]["primary_property"] = [{"name": tag}]
    body["config"]["additional_attributes"].append({"name": tag, "source": ["@ci"]})
    r = bpsn_bench.alerts_client.post(_config_path(bpsn_bench), json=body)
    assert r.status_code == 200, r.text


# --- ServiceNow ---------------------------------------------------------------------------------------
@when(
    parsers.re(
        r'an analyst raises an incident "(?P<summary>[^"]+)" on "(?P<ci>[^"]+)" with impact (?P<impact>\d) '
        r"and urgency (?P<urgency>\d)"
    )
)
def raise_on_ci(
    bpsn_bench: Harness, bpsn_context: dict[str, Any], summary: str, ci: str, impact: str, urgency: str
) -> None:
    bpsn_context["incident"] = _raise(
        bpsn_bench, bpsn_context, summary, cmdb_ci=_ci(bpsn_bench, ci), impact=impact, urgency=urgency
    )


@when(
    parsers.re(
        r'an analyst raises an incident "(?P<summary>[^"]+)" with impact (?P<impact>\d) and urgency (?P<urgency>\d)'
    )
)
def raise_plain(
    bpsn_bench: Harness, bpsn_context: dict[str, Any], summary: str, impact: str, urgency: str
) -> None:
    bpsn_context["incident"] = _raise(bpsn_bench, bpsn_context, summary, impact=impact, urgency=urgency)


@when(
    parsers.re(
        r"analysts raise (?P<n>\d+) incidents? with (?:a description|descriptions) of (?P<size>\d+) "
        r"characters"
    ),
    converters={"n": int, "size": int},
)
def raise_large(bpsn_bench: Harness, bpsn_context: dict[str, Any], n: int, size: int) -> None:
    bpsn_context["large"] = [
        _raise(bpsn_bench, bpsn_context, f"Large incident {i + 1}", description="x" * size) for i in range(n)
    ]


@when(parsers.parse("analysts raise {n:d} incidents"))
def raise_many(bpsn_bench: Harness, bpsn_context: dict[str, Any], n: int) -> None:
    for i in range(n):
        _raise(bpsn_bench, bpsn_context, f"Incident {i + 1} on web-prod-0{i % 2 + 1}")


@when("the analyst resolves the incident in ServiceNow")
def resolve_incident(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    sys_id = bpsn_context["incident"]["sys_id"]
    r = bpsn_bench.run(
        bpsn_bench.admin.patch(
            f"/api/now/table/incident/{sys_id}",
            json={"state": "6", "close_code": "Solution provided", "close_notes": "Rolled back the release"},
        )
    )
    assert r.status_code == 200, r.text


# --- outcomes ---------------------------------------------------------------------------------------
@then(parsers.parse('the core reports the OIM configuration "{outcome}"'))
def config_outcome(bpsn_context: dict[str, Any], outcome: str) -> None:
    assert bpsn_context["oim_report"].config == outcome, bpsn_context["oim_report"]


@then("the core did not check the OIM configuration again")
def config_not_checked(bpsn_context: dict[str, Any]) -> None:
    assert bpsn_context["oim_report"].config == ""


@then(parsers.parse('BigPanda\'s OIM configuration takes the primary property from "{tag}"'))
def config_primary(bpsn_bench: Harness, tag: str) -> None:
    assert _config(bpsn_bench)["config"]["primary_property"][0] == {"name": tag}


@then(parsers.re(r'BigPanda has an? "(?P<status>\w+)" alert for host "(?P<host>[^"]+)" from that incident'))
def alert_for_incident(bpsn_bench: Harness, bpsn_context: dict[str, Any], status: str, host: str) -> None:
    alert = _alert_for(bpsn_bench, bpsn_context["incident"]["number"])
    assert (alert.status, alert.tags.get("host"), alert.primary_property) == (status, host, "host"), alert
    bpsn_context["alert"] = alert


@then(parsers.parse('the alert\'s tag "{tag}" is "{value}"'))
def alert_tag(bpsn_context: dict[str, Any], tag: str, value: str) -> None:
    assert bpsn_context["alert"].tags.get(tag) == value, bpsn_context["alert"]


@then(parsers.parse('the alert\'s tag "{tag}" links to the incident in ServiceNow'))
def alert_link(bpsn_bench: Harness, bpsn_context: dict[str, Any], tag: str) -> None:
    sys_id = bpsn_context["incident"]["sys_id"]
    expected = f"{bpsn_bench.servicenow_url}/nav_to.do?uri=incident.do?sys_id={sys_id}"
    assert bpsn_context["alert"].tags.get(tag) == expected


@then(parsers.parse('BigPanda has a "{status}" alert whose primary property is the incident number'))
def alert_by_number(bpsn_bench: Harness, bpsn_context: dict[str, Any], status: str) -> None:
    alert = _alert_for(bpsn_bench, bpsn_context["incident"]["number"])
    assert (alert.status, alert.primary_property, "host" in alert.tags) == (status, "servicenow_number", False)


@then(parsers.re(r"the core sent (?P<n>\d+) OIM alerts?(?: in (?P<requests>\d+) requests?)?"))
def sent(bpsn_context: dict[str, Any], n: str, requests: str | None) -> None:
    report = bpsn_context["oim_report"]
    assert report.alerts == int(n), report
    if requests is not None:
        assert report.requests == int(requests), report


@then(parsers.parse("every OIM request body was at most {limit:d} bytes"))
def bodies_under(bpsn_context: dict[str, Any], limit: int) -> None:
    assert limit == MAX_OIM_BODY
    assert 0 < bpsn_context["oim_report"].largest_body <= limit


@then("BigPanda has an alert for each of those incidents")
def alert_each(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    for row in bpsn_context["large"]:
        _alert_for(bpsn_bench, row["number"])


@then("the core reports that the large incident is over the 6 MB limit")
def large_refused(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    number = bpsn_context["large"][0]["number"]
    [message] = bpsn_context["oim_report"].rejected
    assert f"incident {number}" in message and "6,291,456 bytes (6 MB)" in message, message
    assert not [a for a in _oim_alerts(bpsn_bench) if a.tags.get("servicenow_number") == number]


@then(parsers.parse('the core stopped the OIM pass on BigPanda\'s "{status}"'))
def oim_stopped_on(bpsn_context: dict[str, Any], status: str) -> None:
    assert f"BigPanda answered {status}" in bpsn_context["oim_report"].failure, bpsn_context["oim_report"]


@then("the core reports nothing refused")
def nothing_refused(bpsn_context: dict[str, Any]) -> None:
    assert bpsn_context["oim_report"].rejected == []


@then("BigPanda refused no OIM request for its rate limit")
def no_throttling(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    assert bpsn_bench.requests("bigpanda", status=429) == []
    assert bpsn_context["oim"].api.api.throttled == 0


@then(parsers.parse("the core waited at least {seconds:d} second on its clock"))
def waited(bpsn_bench: Harness, seconds: int) -> None:
    assert bpsn_bench.slept >= seconds
