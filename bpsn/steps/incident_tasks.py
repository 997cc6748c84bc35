"""Steps of incident_tasks.feature: the task module on the in-process bench, the tasks under the
ticket, and the requests the module made (from the ServiceNow simulator's journal)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pytest_bdd import given, parsers, then

from bpsn.harness.base import Harness
from bpsn.harness.journal import batches_writing
from bpsn.harness.views import counts
from bpsn.integration.modules import incident_tasks
from bpsn.integration.modules.incident_tasks import IncidentTaskSettings
from bpsn.steps.common import reattach_on_restart


def _attach(
    bpsn_bench: Harness, bpsn_context: dict[str, Any], attach: Callable[..., Any], settings: Any
) -> None:
    key = f"incident_tasks {len(bpsn_context.get('reattach', {}))}"
    reattach_on_restart(bpsn_context, key, lambda runner: attach(runner, settings))
    attach(bpsn_bench.runner, settings)


@given(
    parsers.parse('the core creates incident tasks from alerts tagged "{tag}", grouped by the alert tag "{group_tag}"')
)
def tasks_from_tag(bpsn_bench: Harness, bpsn_context: dict[str, Any], tag: str, group_tag: str) -> None:
    _attach(bpsn_bench, bpsn_context, incident_tasks.attach, IncidentTaskSettings(task_tag=tag, group_tag=group_tag))


@given(parsers.parse('"Parse events into the incident tasks table" is on, grouped by the alert tag "{group_tag}"'))
def parse_events(bpsn_bench: Harness, bpsn_context: dict[str, Any], group_tag: str) -> None:
    bpsn_bench.runner.companions.clear()
    bpsn_context["reattach"] = {}
    _attach(
        bpsn_bench, bpsn_context, incident_tasks.attach, IncidentTaskSettings(parse_events=True, group_tag=group_tag)
    )


def _tasks(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> list[dict[str, Any]]:
    ticket = bpsn_bench.tickets(f"correlation_id={bpsn_context['incident_id']}")[0]
    return bpsn_bench.records("incident_task", f"incident={ticket['sys_id']}")


def _task(bpsn_bench: Harness, bpsn_context: dict[str, Any], group: str) -> dict[str, Any]:
    group_id = bpsn_bench.records("sys_user_group", f"name={group}")[0]["sys_id"] if group else ""
    found = [t for t in _tasks(bpsn_bench, bpsn_context) if t["assignment_group"] == group_id]
    assert len(found) == 1, [(t["assignment_group"], t["short_description"]) for t in _tasks(bpsn_bench, bpsn_context)]
    return found[0]


@then(parsers.re(r"the ticket has (?P<count>\d+) incident tasks?$"))
def task_count(bpsn_bench: Harness, bpsn_context: dict[str, Any], count: str) -> None:
    tasks = _tasks(bpsn_bench, bpsn_context)
    assert len(tasks) == int(count), [t["short_description"] for t in tasks]


@then(parsers.parse('the task for "{group}" reads "{text}"'))
def task_reads(bpsn_bench: Harness, bpsn_context: dict[str, Any], group: str, text: str) -> None:
    assert _task(bpsn_bench, bpsn_context, group)["short_description"] == text


@then(parsers.parse('the task for "{group}" lists "{text}"'))
def task_lists(bpsn_bench: Harness, bpsn_context: dict[str, Any], group: str, text: str) -> None:
    description = _task(bpsn_bench, bpsn_context, group)["description"]
    assert text in description, description


@then(parsers.parse('the task without an assignment group lists "{text}"'))
def groupless_task_lists(bpsn_bench: Harness, bpsn_context: dict[str, Any], text: str) -> None:
    task_lists(bpsn_bench, bpsn_context, "", text)


@then(parsers.parse('the task for "{group}" is in state "{state}"'))
def task_state(bpsn_bench: Harness, bpsn_context: dict[str, Any], group: str, state: str) -> None:
    task = _task(bpsn_bench, bpsn_context, group)
    assert (task["state"], task["active"]) == (state, "true" if state == "1" else "false"), task["state"]


@then(parsers.parse('no task lists "{text}"'))
def no_task_lists(bpsn_bench: Harness, bpsn_context: dict[str, Any], text: str) -> None:
    assert not [t for t in _tasks(bpsn_bench, bpsn_context) if text in t["description"]]


@then(
    parsers.re(
        r"the core sent (?P<batches>\d+) Batch API requests? to ServiceNow and looked up groups "
        r"(?P<lookups>\d+) times?"
    )
)
def requests_sent(bpsn_bench: Harness, bpsn_context: dict[str, Any], batches: str, lookups: str) -> None:
    entries = bpsn_bench.core_requests("servicenow", bpsn_context["sn_mark"])
    looked_up = [e for e in entries if e.method == "GET" and e.table == "sys_user_group"]
    task_writes = [e for e in entries if e.table == "incident_task" and e.method != "GET"]
    assert (batches_writing(entries, "incident_task"), len(looked_up)) == (int(batches), int(lookups)), (
        counts(entries)
    )
    assert all(e.status < 300 for e in task_writes), [(e.method, e.status) for e in task_writes]
