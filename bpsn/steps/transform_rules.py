"""Binds features/transform_rules.feature: rules saved in the ServiceNow simulator through the
rule store, run on shares rendered by the BigPanda simulator (without leasing them), after the
incidents engine has decided what to write. Shared steps: bpsn/steps/common.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from pytest_bdd import given, parsers, then, when

from bpsn.harness.base import Harness
from bpsn.integration.clients.http import ApiClient
from bpsn.integration.clients.servicenow import ServiceNowClient
from bpsn.integration.engine.incidents import IncidentEngine
from bpsn.integration.engine.messages import (
    CreateTicket,
    ShareReceived,
    TicketRef,
    UpdateTicket,
)
from bpsn.integration.rules import (
    RulesError,
    RuleStore,
    command_after_rules,
    rules_for_command,
)
from bpsn.integration.rules.catalog import tag_definitions
from bpsn.integration.rules.dryrun import active_incidents, dry_run
from bpsn.integration.rules.evaluator import RulesOutcome, RuleTrace
from bpsn.integration.rules.explain import lines, result
from bpsn.integration.rules.store import TABLE

ORG = "demo"


# --- helpers ---------------------------------------------------------------------------------------
def _user_key(bpsn_bench: Harness) -> httpx.AsyncClient:
    """BigPanda's API as the integration's user (V2 incidents, tag definitions)."""

    async def make() -> httpx.AsyncClient:
        token = bpsn_bench.settings.bigpanda_bearer_token.get_secret_value()
        return httpx.AsyncClient(
            transport=bpsn_bench.core_transport("bigpanda"),
            base_url=bpsn_bench.settings.bigpanda_url,
            headers={"Authorization": f"Bearer {token}"},
        )

    return bpsn_bench.run(make())


@pytest.fixture
def bpsn_bigpanda_api(bpsn_bench: Harness) -> Iterator[ApiClient]:
    client = _user_key(bpsn_bench)
    yield ApiClient(client)
    bpsn_bench.run(client.aclose())


@pytest.fixture
def bpsn_rule_store(bpsn_bench: Harness, bpsn_bigpanda_api: ApiClient) -> RuleStore:
    """The engineer's rule store: ServiceNow as admin (reads sys_dictionary), BigPanda's tag definitions."""
    rule_store = RuleStore(ServiceNowClient(ApiClient(bpsn_bench.admin)))
    rule_store.tags = bpsn_bench.run(tag_definitions(bpsn_bigpanda_api))
    return rule_store


def _refresh_tags(bpsn_bench: Harness, bpsn_rule_store: RuleStore, bpsn_bigpanda_api: ApiClient) -> None:
    bpsn_rule_store.tags = bpsn_bench.run(tag_definitions(bpsn_bigpanda_api))


def _trace(outcome: RulesOutcome, name: str) -> RuleTrace:
    found = [t for t in outcome.trace if t.rule.name == name]
    assert found, f"no rule {name!r} in the trace:\n" + "\n".join(lines(outcome))
    return found[0]


def _count(bpsn_bench: Harness, table: str) -> int:
    r = bpsn_bench.run(
        bpsn_bench.admin.get(f"/api/now/table/{table}", params={"sysparm_limit": 1, "sysparm_fields": "sys_id"})
    )
    assert r.status_code == 200, r.text
    return int(r.headers["X-Total-Count"])


def _tag_id(bpsn_rule_store: RuleStore, name: str) -> str:
    assert bpsn_rule_store.tags is not None
    return next(tag_id for tag_id, tag_name in bpsn_rule_store.tags.items() if tag_name == name)


# --- given ---------------------------------------------------------------------------------------
@given(parsers.parse('BigPanda has the incident tag "{name}"'))
def bigpanda_has_tag(
    bpsn_bench: Harness, bpsn_rule_store: RuleStore, bpsn_bigpanda_api: ApiClient, name: str
) -> None:
    r = bpsn_bench.run(
        bpsn_bigpanda_api.request(
            "POST",
            "/resources/v2.0/incidents/tags/definitions",
            json={"name": name, "type": "Text", "description": "owner of the work"},
        )
    )
    assert r.status_code == 201, r.text
    _refresh_tags(bpsn_bench, bpsn_rule_store, bpsn_bigpanda_api)


@given("an engineer has saved the transform rule:")
def saved_rule(bpsn_bench: Harness, bpsn_rule_store: RuleStore, docstring: str) -> None:
    bpsn_bench.run(bpsn_rule_store.save(ORG, yaml.safe_load(docstring)))


@given("an engineer has saved these transform rules:")
def saved_rules(bpsn_bench: Harness, bpsn_rule_store: RuleStore, docstring: str) -> None:
    bpsn_bench.run(bpsn_rule_store.save_all(ORG, yaml.safe_load(docstring)))


# --- when ----------------------------------------------------------------------------------------
@when("an engineer saves the transform rule:")
def save_rule(
    bpsn_bench: Harness, bpsn_rule_store: RuleStore, bpsn_context: dict[str, Any], docstring: str
) -> None:
    try:
        bpsn_bench.run(bpsn_rule_store.save(ORG, yaml.safe_load(docstring)))
        bpsn_context["refusal"] = None
    except RulesError as exc:
        bpsn_context["refusal"] = str(exc)


@when(
    parsers.re(
        r'a monitoring tool sends an? (?P<status>\w+) alert for host "(?P<host>[^"]+)" '
        r'check "(?P<check>[^"]+)" with tags:'
    )
)
def send_alert_with_tags(
    bpsn_bench: Harness,
    bpsn_context: dict[str, Any],
    status: str,
    host: str,
    check: str,
    datatable: list[list[str]],
) -> None:
    _, *rows = datatable
    r = bpsn_bench.send_alerts({"status": status, "host": host, "check": check, **{k: v for k, v in rows}})
    assert r.status_code == 201, r.text
    bpsn_context["incident_id"] = r.json()["alerts"][0]["incident_id"]


@given(
    parsers.re(
        r'a monitoring tool sends an? (?P<status>\w+) alert for host "(?P<host>[^"]+)" '
        r'check "(?P<check>[^"]+)"'
    )
)
def alert_was_sent(
    bpsn_bench: Harness, bpsn_context: dict[str, Any], status: str, host: str, check: str
) -> None:
    r = bpsn_bench.send_alerts({"status": status, "host": host, "check": check})
    assert r.status_code == 201, r.text
    bpsn_context["incident_id"] = r.json()["alerts"][0]["incident_id"]


def _pending_share(bpsn_bench: Harness, incident_id: str) -> dict[str, Any]:
    """The share BigPanda would deliver next for the incident, rendered without leasing it."""
    return bpsn_bench.bigpanda_views.pending_share(incident_id)


def _existing_ticket(bpsn_bench: Harness, incident_id: str) -> TicketRef | None:
    rows = bpsn_bench.tickets(f"correlation_id={incident_id}^ORDERBYDESCsys_created_on")
    if not rows:
        return None
    row = rows[0]
    return TicketRef(row["sys_id"], row["number"], row["state"], fields={k: str(v) for k, v in row.items()})


@when("the transform rules run on the share BigPanda delivers")
def rules_run(bpsn_bench: Harness, bpsn_rule_store: RuleStore, bpsn_context: dict[str, Any]) -> None:
    share = _pending_share(bpsn_bench, bpsn_context["incident_id"])
    event = ShareReceived(
        share["share_id"],
        share["incident"],
        share["environment_id"],
        share["trigger"],
        _existing_ticket(bpsn_bench, bpsn_context["incident_id"]),
        tuple(share["triggers"]),
    )
    commands = IncidentEngine(bpsn_bench.incident_settings).handle(event, bpsn_bench.clock.now())
    command = next(c for c in commands if isinstance(c, (CreateTicket, UpdateTicket)))
    outcome = rules_for_command(bpsn_bench.run(bpsn_rule_store.rules(ORG)), share["incident"], command)
    bpsn_context.update(command=command, outcome=outcome, written=command_after_rules(command, outcome))


@when("the engineer dry-runs the transform rules on BigPanda's active incidents")
def engineer_dry_runs(
    bpsn_bench: Harness, bpsn_rule_store: RuleStore, bpsn_bigpanda_api: ApiClient, bpsn_context: dict[str, Any]
) -> None:
    bpsn_context["before"] = _snapshot(bpsn_bench)
    incidents = bpsn_bench.run(active_incidents(bpsn_bigpanda_api, 20))
    results = dry_run(bpsn_bench.run(bpsn_rule_store.rules(ORG)), incidents)
    bpsn_context["dry_run"] = {r.incident_id: r.outcome for r in results}


@when(parsers.parse('an administrator edits the rule "{name}" in ServiceNow to the regex "{pattern}"'))
def admin_edits_rule(bpsn_bench: Harness, name: str, pattern: str) -> None:
    rows = bpsn_bench.run(
        bpsn_bench.admin.get(f"/api/now/table/{TABLE}", params={"sysparm_query": f"name={name}"})
    ).json()
    conditions = json.dumps([{"alert_tag": "host", "operator": "regex", "value": pattern}])
    r = bpsn_bench.run(
        bpsn_bench.admin.patch(f"/api/now/table/{TABLE}/{rows['result'][0]['sys_id']}", json={"conditions": conditions})
    )
    assert r.status_code == 200, r.text


def _snapshot(bpsn_bench: Harness) -> dict[str, Any]:
    """What a dry run must leave as it was: ServiceNow's record counts, BigPanda's share queue,
    and every incident as its V2 API shows it, with the length of its activity feed."""
    views = bpsn_bench.bigpanda_views
    queue = views.share_queue()
    return {
        "servicenow": {t: _count(bpsn_bench, t) for t in ("incident", TABLE, "sys_journal_field", "sys_audit")},
        "shares": ([s["share_id"] for s in queue["pending"]], [s["share_id"] for s in queue["leased"]]),
        "incidents": {i.id: (i.raw, len(views.activities(i.id))) for i in views.incidents()},
    }


# --- then ----------------------------------------------------------------------------------------
def _written(bpsn_context: dict[str, Any]) -> CreateTicket | UpdateTicket:
    written = bpsn_context["written"]
    assert written is not None, "the rules skip the record:\n" + "\n".join(lines(bpsn_context["outcome"]))
    return written


@then(parsers.parse('the ticket would be written with {field} "{value}"'))
def written_with(bpsn_context: dict[str, Any], field: str, value: str) -> None:
    fields = _written(bpsn_context).fields
    assert fields.get(field) == value, (fields.get(field), lines(bpsn_context["outcome"]))


@then(parsers.parse('the ticket would not be written with {field} "{value}"'))
def not_written_with(bpsn_context: dict[str, Any], field: str, value: str) -> None:
    assert _written(bpsn_context).fields.get(field) != value


@then("the rules change nothing on the ticket")
def rules_change_nothing(bpsn_context: dict[str, Any]) -> None:
    outcome: RulesOutcome = bpsn_context["outcome"]
    assert (
        _written(bpsn_context) == bpsn_context["command"]
        and _written(bpsn_context).fields == bpsn_context["command"].fields
    )
    assert not outcome.tags and not outcome.work_notes, lines(outcome)


@then(parsers.parse('rule "{name}" is reported as "{expected}"'))
def rule_reported(bpsn_context: dict[str, Any], name: str, expected: str) -> None:
    trace = _trace(bpsn_context["outcome"], name)
    assert expected in (trace.status, result(trace)), result(trace)


@then(parsers.parse('the BigPanda incident would get the tag "{name}" set to "{value}"'))
def tag_would_be_set(bpsn_rule_store: RuleStore, bpsn_context: dict[str, Any], name: str, value: str) -> None:
    assert bpsn_context["outcome"].tags == {_tag_id(bpsn_rule_store, name): value}, lines(bpsn_context["outcome"])


@then(parsers.parse('no ticket would be written, because "{reason}"'))
def no_ticket(bpsn_context: dict[str, Any], reason: str) -> None:
    outcome: RulesOutcome = bpsn_context["outcome"]
    assert bpsn_context["written"] is None and outcome.skip, lines(outcome)
    assert outcome.skip_reason == reason


@then(parsers.parse('the ticket would get a work note containing "{text}"'))
def work_note(bpsn_context: dict[str, Any], text: str) -> None:
    assert text in _written(bpsn_context).fields.get("work_notes", ""), lines(bpsn_context["outcome"])


@then("the ticket would be updated without a work note from the rules")
def updated_without_note(bpsn_context: dict[str, Any]) -> None:
    written = _written(bpsn_context)
    assert isinstance(written, UpdateTicket), written
    assert bpsn_context["outcome"].work_notes == ()
    assert written.fields.get("work_notes") == bpsn_context["command"].fields.get("work_notes")


@then(parsers.parse('the rule "{rule}" is refused, naming {part} and saying "{why}"'))
def refused(bpsn_context: dict[str, Any], rule: str, part: str, why: str) -> None:
    message = bpsn_context["refusal"]
    assert message is not None, "the rule was saved"
    assert message.startswith(f'transform rule "{rule}" refused: '), message
    assert f"{part} " in message or f"{part}:" in message, message
    assert why in message, message


@then("ServiceNow holds no transform rules")
def no_rules(bpsn_bench: Harness) -> None:
    assert _count(bpsn_bench, TABLE) == 0


@then(parsers.parse('the dry run reports that rule "{name}" would set field "{field}" to "{value}"'))
def dry_run_would_set(bpsn_context: dict[str, Any], name: str, field: str, value: str) -> None:
    outcome: RulesOutcome = bpsn_context["dry_run"][bpsn_context["incident_id"]]
    assert outcome.dry_run and outcome.fields.get(field) != value  # reported, not done
    changes = [c for c in _trace(outcome, name).changes if c.action.kind == "set_field"]
    assert [(c.action.target, c.after, c.changed) for c in changes] == [(field, value, True)], lines(outcome)
    assert f'would set field "{field}"' in "\n".join(lines(outcome))


@then(parsers.parse('the dry run reports that rule "{name}" did not match'))
def dry_run_no_match(bpsn_context: dict[str, Any], name: str) -> None:
    assert _trace(bpsn_context["dry_run"][bpsn_context["incident_id"]], name).status == "not matched"


@then("the dry run wrote nothing to ServiceNow or BigPanda")
def dry_run_wrote_nothing(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    assert _snapshot(bpsn_bench) == bpsn_context["before"]


@then(parsers.parse('the engineer\'s rule list shows "{name}" as not applied because of "{why}"'))
def list_shows_broken(bpsn_bench: Harness, bpsn_rule_store: RuleStore, name: str, why: str) -> None:
    stored = {s.name: s for s in bpsn_bench.run(bpsn_rule_store.stored(ORG))}
    assert stored[name].rule is None and why in stored[name].problem, stored[name]
    assert name not in [r.name for r in bpsn_bench.run(bpsn_rule_store.rules(ORG))]


@then(parsers.parse("the core reports {count:d} share skipped by a rule"))
def core_reports_skipped(bpsn_context: dict[str, Any], count: int) -> None:
    assert bpsn_context["report"].skipped == count


@then("BigPanda has no share of the incident waiting")
def no_share_waiting(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    queue = bpsn_bench.bigpanda_views.share_queue()
    assert bpsn_context["incident_id"] not in str(queue), queue
