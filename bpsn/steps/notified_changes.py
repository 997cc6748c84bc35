"""Steps of notified_changes.feature: ServiceNow's outbound change notification turned on (through
the Table API), notices settling on the virtual clock, and what the simulators' journals and
ServiceNow's outbound HTTP log show. The other steps come from common.py and tag_sync.py."""

from __future__ import annotations

from typing import Any

from pytest_bdd import given, parsers, then, when

from bpsn.harness.base import Harness


def _outbound_log(bpsn_bench: Harness) -> list[dict[str, Any]]:
    return bpsn_bench.records("sys_outbound_http_log", "document_table=incident^ORDERBYsys_created_on")


@given("ServiceNow notifies the core of incident changes")
def notifications_on(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    bpsn_bench.notify_core_of_changes()
    bpsn_context["notify_marks"] = bpsn_bench.journal_marks()


@given("ServiceNow notifies the core with the wrong credentials")
def notifications_refused(bpsn_bench: Harness) -> None:
    bpsn_bench.notify_core_of_changes(authorization="Bearer not-the-core-token")


@when("ServiceNow's notifications reach the core")
def notifications_settle(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    bpsn_context["settle_marks"] = bpsn_bench.journal_marks()
    bpsn_bench.settle_notifications()


@when("the core runs a cycle")
def core_cycles(bpsn_bench: Harness) -> None:
    bpsn_bench.cycle()


@then("the core has not polled BigPanda since notifications were turned on")
def no_poll(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    _, bp_mark = bpsn_context["notify_marks"]
    shares = bpsn_bench.runner.bigpanda.shares_url
    polls = [r for r in bpsn_bench.core_requests("bigpanda", bp_mark) if r.path.startswith(shares)]
    assert polls == [], polls


@then(parsers.re(r'ServiceNow logged (?P<count>\d+) notifications? "(?P<outcome>[^"]+)"'
                 r'(?: with status (?P<status>\d+))?'))
def outbound_logged(bpsn_bench: Harness, count: str, outcome: str, status: str | None) -> None:
    rows = [r for r in _outbound_log(bpsn_bench) if r["outcome"] == outcome]
    assert len(rows) == int(count), _outbound_log(bpsn_bench)
    if status is not None:
        assert all(r["response_status"] == status for r in rows), rows
    assert all("Bearer" not in str(r) for r in rows), "the log must never hold the header"


@then("the notice woke no read of the tickets")
def no_ticket_read(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    sn_mark, _ = bpsn_context["settle_marks"]
    reads = bpsn_bench.core_requests("servicenow", sn_mark, table="incident")
    assert reads == [], reads
