"""Shared Gherkin steps: the in-process bench, alerts, polls, time, and what each side shows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pytest_bdd import given, parsers, then, when

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
    bench.run(_close(bench))
    bench.runner = bench.new_core()


async def _close(bench: InProcessBench) -> None:
    from integration.factory import close_runner
    await close_runner(bench.runner)


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
