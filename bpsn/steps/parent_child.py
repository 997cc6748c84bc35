"""Steps of parent_child.feature: the parent-child module on the in-process bench, the children
of the ticket, and the requests the module made (from the ServiceNow simulator's journal)."""

from __future__ import annotations

from typing import Any

from pytest_bdd import given, parsers, then

from bpsn.harness.base import Harness
from bpsn.harness.journal import batch_items
from bpsn.harness.views import counts
from bpsn.integration.modules import parent_child
from bpsn.integration.modules.parent_child import ParentChildSettings
from bpsn.steps.common import reattach_on_restart


@given("the core opens a child incident per CI when an incident groups alerts from several CIs")
def children_per_ci(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    bpsn_context["settings"] = ParentChildSettings(enabled=True)
    parent_child.attach(bpsn_bench.runner, bpsn_context["settings"])
    reattach_on_restart(
        bpsn_context, "parent_child", lambda runner: parent_child.attach(runner, bpsn_context["settings"])
    )


def _parent(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> dict[str, Any]:
    tickets = bpsn_bench.tickets(f"correlation_id={bpsn_context['incident_id']}")
    assert len(tickets) == 1, tickets
    return tickets[0]


def _children(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> list[dict[str, Any]]:
    return bpsn_bench.records("incident", f"parent_incident={_parent(bpsn_bench, bpsn_context)['sys_id']}")


def _child(bpsn_bench: Harness, bpsn_context: dict[str, Any], ci: str) -> dict[str, Any]:
    found = [
        c for c in _children(bpsn_bench, bpsn_context) if c["correlation_id"] == f"{bpsn_context['incident_id']}/{ci}"
    ]
    assert len(found) == 1, [c["correlation_id"] for c in _children(bpsn_bench, bpsn_context)]
    return found[0]


@then(parsers.parse("the ticket has {count:d} child incidents and counts {counted:d}"))
def child_count(bpsn_bench: Harness, bpsn_context: dict[str, Any], count: int, counted: int) -> None:
    children = _children(bpsn_bench, bpsn_context)
    assert len(children) == count, [c["short_description"] for c in children]
    assert all(c["correlation_display"] == "BigPanda child" for c in children)
    assert _parent(bpsn_bench, bpsn_context)["child_incidents"] == str(counted)


@then(parsers.parse('the child for "{ci}" is in state "{state}" on the CI "{name}"'))
def child_state(bpsn_bench: Harness, bpsn_context: dict[str, Any], ci: str, state: str, name: str) -> None:
    child = _child(bpsn_bench, bpsn_context, ci)
    assert child["state"] == state, child["state"]
    assert child["cmdb_ci"] == bpsn_bench.records("cmdb_ci", f"name={name}")[0]["sys_id"]


@then(parsers.parse('the child for "{ci}" reads "{text}"'))
def child_reads(bpsn_bench: Harness, bpsn_context: dict[str, Any], ci: str, text: str) -> None:
    assert _child(bpsn_bench, bpsn_context, ci)["short_description"] == text


@then(parsers.parse('the child for "{ci}" lists "{text}"'))
def child_lists(bpsn_bench: Harness, bpsn_context: dict[str, Any], ci: str, text: str) -> None:
    description = _child(bpsn_bench, bpsn_context, ci)["description"]
    assert text in description, description


@then(parsers.parse('the child for "{ci}" is resolved with code "{code}"'))
def child_resolved(bpsn_bench: Harness, bpsn_context: dict[str, Any], ci: str, code: str) -> None:
    child = _child(bpsn_bench, bpsn_context, ci)
    assert (child["state"], child["close_code"]) == ("6", code)
    assert child["resolved_at"] and child["close_notes"] == f"All BigPanda alerts of {ci} resolved."


@then("BigPanda shows only the parent ticket on the incident")
def only_parent_in_bigpanda(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    assert [t.number for t in bpsn_bench.incident(bpsn_context["incident_id"]).tickets] == [
        _parent(bpsn_bench, bpsn_context)["number"]
    ]


@then(
    parsers.re(
        r"the core sent (?P<batches>\d+) Batch API requests? for the children and looked up CIs "
        r"(?P<lookups>\d+) times?"
    )
)
def requests_sent(bpsn_bench: Harness, bpsn_context: dict[str, Any], batches: str, lookups: str) -> None:
    entries = bpsn_bench.core_requests("servicenow", bpsn_context["sn_mark"])
    # the runner's write creates the parent; the companions' batch of the poll (shared with the
    # other companions' records) creates the children and counts them on it
    module = [[item for item in b if item[1] == "incident"] for b in batch_items(entries) if ("PATCH", "incident") in b]
    looked_up = [e for e in entries if e.method == "GET" and e.table == "cmdb_ci"]
    assert (len(module), len(looked_up)) == (int(batches), int(lookups)), counts(entries)
    children = len(_children(bpsn_bench, bpsn_context))
    assert all(sorted(b) == sorted([("POST", "incident")] * children + [("PATCH", "incident")]) for b in module), module
    writes = [e for e in entries if e.table == "incident" and e.method != "GET"]
    assert all(e.status < 300 for e in writes), [(e.method, e.status) for e in writes]
