"""The transform rules engine: operators, order, stop, dry run, validation, the runner's hook,
the store in the ServiceNow simulator, dry runs on the BigPanda simulator, and `bpsn rules`."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from typer.testing import CliRunner

from bpsn.base.clock import SimClock
from bpsn.integration.clients.http import ApiClient
from bpsn.integration.clients.servicenow import ServiceNowClient, ServiceNowError
from bpsn.integration.engine.messages import CreateTicket, TicketRef, UpdateTicket
from bpsn.integration.rules import (
    RuleRefused,
    RulesRefused,
    RuleStore,
    command_after_rules,
    evaluate,
    parse_rule,
    parse_rules,
    rules_for_command,
)
from bpsn.integration.rules.catalog import Catalog, CatalogError, FieldSpec
from bpsn.integration.rules.dryrun import active_incidents, dry_run
from bpsn.integration.rules.explain import lines
from bpsn.integration.rules.files import FileError, incident_of, read_rules_file
from bpsn.integration.rules.store import TABLE
from bpsn.simulator.bigpanda.app import create_app as create_bigpanda_app
from bpsn.simulator.bigpanda.backend import BigPandaBackend
from bpsn.simulator.servicenow.app import create_app as create_servicenow_app
from bpsn.simulator.servicenow.backend import ServiceNowBackend

T = TypeVar("T")
FIELDS = Catalog({"short_description": FieldSpec("short_description", max_length=160),
                  "category": FieldSpec("category"), "impact": FieldSpec("impact", "integer"),
                  "urgency": FieldSpec("urgency", "integer"), "work_notes": FieldSpec("work_notes", "journal"),
                  "knowledge": FieldSpec("knowledge", "boolean")}, {"itd-1": "team", "itd-2": "owner"})


def incident(*alerts: dict[str, str], tags: dict[str, str] | None = None) -> dict[str, Any]:
    return {"id": "inc-1", "status": "critical", "severity": "critical", "active": True,
            "alerts": [{"id": f"a{i}", "status": a.pop("status", "critical"), "primary_property": "host",
                        "tags": [{"name": k, "value": v} for k, v in a.items()]} for i, a in enumerate(alerts)],
            "incident_tags": [{"tag_id": k, "value": v} for k, v in (tags or {}).items()]}


def rule(*conditions: dict[str, Any], actions: list[dict[str, Any]] | None = None, **extra: Any) -> Any:
    return parse_rule({"name": extra.pop("name", "r"), "conditions": list(conditions),
                       "actions": actions or [{"action": "set_field", "field": "category", "value": "hit"}], **extra},
                      FIELDS)


def hits(condition: dict[str, Any], inc: dict[str, Any], fields: dict[str, str] | None = None) -> bool:
    return evaluate([rule(condition)], inc, fields or {}).trace[0].matched


# --- operators -----------------------------------------------------------------------------------
DB = incident({"host": "db-prod-1", "cpu": "97.5"}, {"host": "web-1", "cpu": "12", "status": "warning"},
              tags={"itd-1": "dba"})


@pytest.mark.parametrize("condition, expected", [
    ({"alert_tag": "host", "operator": "equals", "value": "web-1"}, True),
    ({"alert_tag": "host", "operator": "equals", "value": "WEB-1"}, False),
    ({"alert_tag": "host", "operator": "equals", "value": "WEB-1", "ignore_case": True}, True),
    ({"alert_tag": "host", "operator": "not_equals", "value": "web-1"}, False),  # some alert is on web-1
    ({"alert_tag": "host", "operator": "not_equals", "value": "app-1"}, True),
    ({"alert_tag": "host", "operator": "contains", "value": "prod"}, True),
    ({"alert_tag": "host", "operator": "starts_with", "value": "db-"}, True),
    ({"alert_tag": "host", "operator": "ends_with", "value": "-9"}, False),
    ({"alert_tag": "host", "operator": "regex", "value": r"^db-\w+-\d$"}, True),
    ({"alert_tag": "host", "operator": "regex", "value": "^DB-", "ignore_case": True}, True),
    ({"alert_tag": "host", "operator": "in_list", "value": ["app-1", "web-1"]}, True),
    ({"alert_tag": "host", "operator": "in_list", "value": "app-1, db-x"}, False),
    ({"alert_tag": "cpu", "operator": "greater_than", "value": 95}, True),
    ({"alert_tag": "cpu", "operator": "less_than", "value": "10"}, False),
    ({"alert_tag": "host", "operator": "greater_than", "value": 1}, False),  # not a number: no match
    ({"alert_tag": "region", "operator": "is_empty"}, True),
    ({"alert_tag": "host", "operator": "is_empty"}, False),
    ({"alert_tag": "region", "operator": "is_not_empty"}, False),
    ({"alert_tag": "status", "operator": "equals", "value": "warning"}, True),  # an alert attribute
    ({"incident_tag": "team", "operator": "equals", "value": "dba"}, True),  # by name, resolved to itd-1
    ({"incident_tag": "itd-2", "operator": "is_empty"}, True),
    ({"field": "short_description", "operator": "contains", "value": "disk"}, True),
    ({"field": "category", "operator": "is_empty"}, True),
])
def test_operators(condition: dict[str, Any], expected: bool) -> None:
    assert hits(condition, DB, {"short_description": "BigPanda Incident: disk full"}) is expected


def test_a_field_condition_sees_the_ticket_as_it_is_under_the_fields_to_write() -> None:
    r = rule({"field": "category", "operator": "equals", "value": "network"})
    assert evaluate([r], DB, {}, current={"category": "network"}, is_new=False).trace[0].matched
    assert not evaluate([r], DB, {"category": "software"}, current={"category": "network"}, is_new=False).matched


# --- match, order, stop, run_on, dry run ---------------------------------------------------------
def test_all_needs_every_condition_and_any_needs_one_and_the_trace_shows_where_it_was_decided() -> None:
    yes = {"alert_tag": "host", "operator": "starts_with", "value": "db-"}
    no = {"alert_tag": "host", "operator": "equals", "value": "x"}
    [t] = evaluate([rule(no, yes)], DB, {}).trace
    assert (t.matched, t.conditions) == (False, (False, None))
    [t] = evaluate([rule(no, yes, match="any")], DB, {}).trace
    assert (t.matched, t.conditions) == (True, (False, True))
    assert not evaluate([rule(no, no, match="any")], DB, {}).trace[0].matched


def set_category(name: str, order: int, value: str, **extra: Any) -> Any:
    return rule({"alert_tag": "host", "operator": "is_not_empty"}, name=name, order=order,
                actions=[{"action": "set_field", "field": "category", "value": value}], **extra)


def test_rules_run_by_order_then_name_and_a_later_rule_sees_an_earlier_change() -> None:
    reads = rule({"field": "category", "operator": "equals", "value": "one"}, name="reads", order=30,
                 actions=[{"action": "set_field", "field": "impact", "value": "1"}])
    out = evaluate([reads, set_category("b", 10, "two"), set_category("a", 10, "one")], DB, {"category": "x"})
    assert [t.rule.name for t in out.trace] == ["a", "b", "reads"]
    assert out.fields == {"category": "two"}  # "reads" saw "two", not "one"
    assert out.matched == ["a", "b"]


def test_stop_processing_and_skip_end_the_run() -> None:
    out = evaluate([set_category("first", 1, "one", stop_processing=True), set_category("second", 2, "two")], DB, {})
    assert out.fields == {"category": "one"}
    assert out.trace[1].status == "not reached" and 'stopped by rule "first"' in out.trace[1].note
    skip = rule({"alert_tag": "host", "operator": "is_not_empty"}, name="skip", order=1,
                actions=[{"action": "skip_record"}, {"action": "set_tag", "tag": "team", "value": "x"}])
    out = evaluate([skip, set_category("later", 2, "two")], DB, {})
    assert out.skip and out.skip_reason == 'skipped by transform rule "skip"' and out.tags == {"itd-1": "x"}
    assert out.trace[1].status == "not reached"


def test_inactive_rules_and_run_on_are_honoured() -> None:
    off = set_category("off", 1, "one", active=False)
    assert evaluate([off], DB, {}).trace[0].status == "inactive"
    creates = set_category("creates", 1, "one", run_on="create")
    updates = set_category("updates", 2, "two", run_on="update")
    assert evaluate([creates, updates], DB, {}, is_new=True).fields == {"category": "one"}
    assert evaluate([creates, updates], DB, {}, is_new=False).fields == {"category": "two"}


def test_a_dry_run_reports_what_each_rule_would_do_and_changes_nothing() -> None:
    rules = [set_category("off", 1, "one", active=False),
             rule({"alert_tag": "host", "operator": "is_not_empty"}, name="all", order=2, actions=[
                 {"action": "set_tag", "tag": "owner", "value": "noc"}, {"action": "add_work_note", "text": "hi"}])]
    out = evaluate(rules, DB, {"category": "x"}, dry_run=True)
    assert (out.fields, out.tags, out.work_notes, out.skip) == ({"category": "x"}, {}, (), False)
    assert out.matched == ["off", "all"] and out.would_change()
    text = "\n".join(lines(out))
    assert 'would set field "category": "x" -> "one"' in text and 'would set incident tag "itd-2"' in text
    assert "would add work note" in text and "dry run: nothing is changed" in text
    assert evaluate(rules, DB, {}, dry_run=True, include_inactive=False).trace[0].status == "inactive"


def test_setting_a_value_the_ticket_already_has_writes_nothing() -> None:
    out = evaluate([set_category("same", 1, "network")], DB, {}, current={"category": "network"}, is_new=False)
    assert out.fields == {} and not out.would_change()
    assert "already" in lines(out)[1]


# --- the runner's hook ---------------------------------------------------------------------------
def test_the_hook_adds_notes_after_the_engines_own_and_skips_when_told() -> None:
    note = rule({"alert_tag": "host", "operator": "is_not_empty"}, name="note",
                actions=[{"action": "add_work_note", "text": "from a rule"}])
    create = CreateTicket("s-1", "inc-1", "sys-1", {"short_description": "x", "work_notes": "engine note"})
    after = command_after_rules(create, rules_for_command([note], DB, create))
    assert isinstance(after, CreateTicket) and after.fields["work_notes"] == "engine note\n\nfrom a rule"
    assert command_after_rules(create, rules_for_command([], DB, create)) is create
    skip = rule({"alert_tag": "host", "operator": "is_not_empty"}, actions=[{"action": "skip_record"}])
    assert command_after_rules(create, rules_for_command([skip], DB, create)) is None
    assert command_after_rules(create, rules_for_command([skip], DB, create, dry_run=True)) is create


def test_the_hook_gives_an_update_the_tickets_current_fields() -> None:
    r = rule({"field": "category", "operator": "equals", "value": "network"}, name="net",
             actions=[{"action": "set_field", "field": "impact", "value": "1"}])
    update = UpdateTicket("s-1", "inc-1", TicketRef("sys-1", "INC1", "2", fields={"category": "network"}),
                          {"description": "d"})
    after = command_after_rules(update, rules_for_command([r], DB, update))
    assert isinstance(after, UpdateTicket) and after.fields == {"description": "d", "impact": "1"}


# --- validation ----------------------------------------------------------------------------------
def refusal(data: dict[str, Any], catalog: Catalog = FIELDS) -> str:
    with pytest.raises(RuleRefused) as exc:
        parse_rule(data, catalog)
    return str(exc.value)


def test_every_problem_is_named_in_one_refusal() -> None:
    message = refusal({"name": "Bad", "match": "most", "order": "first", "colour": "red", "conditions": [
        {"alert_tag": "host", "operator": "regex", "value": "db-("},
        {"field": "categry", "operator": "equals", "value": "x"},
        {"alert_tag": "host", "field": "x", "operator": "equals", "value": "y"},
        {"alert_tag": "host", "operator": "equals"},
        {"alert_tag": "host", "operator": "in_list", "value": []},
        {"alert_tag": "host", "operator": "is_empty", "value": "x"}],
        "actions": [{"action": "set_field", "field": "impact", "value": "high"},
                    {"action": "set_field", "field": "work_notes", "value": "x"},
                    {"action": "set_field", "field": "sys_id", "value": "x"},
                    {"action": "set_tag", "tag": "colour", "value": "red"},
                    {"action": "add_work_note", "text": " "},
                    {"action": "set_field", "field": "short_description", "value": "x" * 161},
                    {"action": "page_oncall"}]})
    assert message.startswith('transform rule "Bad" refused: ')
    for part in ["match: 'most' is not one of all, any", "order: 'first' is not a whole number",
                 "unknown key 'colour'", "condition 1 (alert tag \"host\" regex \"db-(\"): bad regular expression",
                 "unknown incident field 'categry' (did you mean 'category'?)", "condition 3: name exactly one of",
                 "equals needs a value (use is empty", "in list needs at least one value", "is empty takes no value",
                 "action 1 (set field): impact holds whole numbers", "work_notes is a journal; use the add_work_note",
                 "a rule may not set 'sys_id'", "BigPanda has no incident tag 'colour' (defined: owner, team)",
                 "action 5 (add work note): needs the text", "holds at most 160 characters",
                 "unknown action 'page_oncall'"]:
        assert part in message, part


def test_empty_conditions_or_actions_and_notes_on_a_skipped_record_are_refused() -> None:
    assert "a rule needs at least one condition" in refusal({"name": "x", "conditions": [], "actions": [{}]})
    assert "a rule needs at least one action" in refusal({"name": "x", "conditions": [
        {"alert_tag": "h", "operator": "is_empty"}]})
    message = refusal({"name": "x", "conditions": [{"alert_tag": "h", "operator": "is_empty"}],
                       "actions": [{"action": "skip_record"}, {"action": "add_work_note", "text": "n"}]})
    assert "action 2 (add work note \"n\"): the rule skips the record, so there is no ticket to change" in message
    assert 'transform rule "(unnamed)" refused: name: a rule needs a name' in refusal({"conditions": []})


def test_without_a_catalog_only_the_shape_is_checked_and_a_rule_round_trips() -> None:
    data = {"name": "x", "order": "5", "active": "false", "stop_processing": True, "run_on": "update",
            "match": "any", "description": "why", "conditions": [
                {"field": "u_anything", "operator": "in_list", "value": ["a", "b"], "ignore_case": True},
                {"incident_tag": "itd-9", "operator": "greater_than", "value": 3}],
            "actions": [{"action": "set_tag", "tag": "itd-9", "value": "v"}, {"action": "skip_record",
                                                                                 "reason": "noise"}]}
    parsed = parse_rule(data)
    assert (parsed.order, parsed.active, parsed.stop_processing, parsed.run_on) == (5, False, True, "update")
    assert parse_rule(parsed.to_data()) == parsed


def test_several_rules_are_refused_together_and_names_must_be_unique() -> None:
    good = {"name": "same", "conditions": [{"alert_tag": "h", "operator": "is_empty"}],
            "actions": [{"action": "skip_record"}]}
    with pytest.raises(RulesRefused) as exc:
        parse_rules([good, good, {"name": "bad", "conditions": [], "actions": []}])
    assert 'rule name "same" is used 2 times' in str(exc.value) and 'transform rule "bad" refused' in str(exc.value)


def test_rules_files_and_share_files(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text("rules:\n  - {name: a}\n")
    assert read_rules_file(tmp_path / "r.yaml") == [{"name": "a"}]
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(FileError, match="not valid JSON"):
        read_rules_file(tmp_path / "bad.json")
    with pytest.raises(FileError, match="holds no rules"):
        (tmp_path / "empty.yaml").write_text("[]")
        read_rules_file(tmp_path / "empty.yaml")
    assert incident_of({"incident": {"id": "i"}}) == {"id": "i"} and incident_of(DB) is DB
    with pytest.raises(FileError, match="expected a share"):
        incident_of({"id": "x"})


# --- the store in the ServiceNow simulator, dry runs on the BigPanda simulator ---------------------
def run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


class _Systems:
    """Both simulators on one virtual clock and their apps, built once for the file (an app costs
    ~0.2-0.3 s CPU); `as_new()` puts them in the state new ones have."""

    def __init__(self) -> None:
        clock = SimClock.virtual()
        self.sn = ServiceNowBackend(clock=clock)
        self.bp = BigPandaBackend(clock=clock)
        self.sn_app, self.bp_app = create_servicenow_app(self.sn), create_bigpanda_app(self.bp)
        # what reset() does not put back: the BigPanda settings object, its pusher's client, loop and task
        self.bp_settings, self.pusher = self.bp.settings, dict(vars(self.bp.pusher))
        self.outbound_client = self.sn.outbound.client
        self.overrides = [(app, dict(app.dependency_overrides)) for app in (self.sn_app, self.bp_app)]

    def as_new(self) -> tuple[Any, Any, BigPandaBackend]:
        self.sn.clock.restart()  # the clock both share, first: ServiceNow seeds at its start
        self.sn.outbound.client = self.outbound_client
        self.sn.reset()
        self.bp.settings = self.bp_settings
        vars(self.bp.pusher).clear()
        vars(self.bp.pusher).update(self.pusher)
        self.bp.reset()
        for app, overrides in self.overrides:
            app.dependency_overrides.clear()
            app.dependency_overrides.update(overrides)
        return self.sn_app, self.bp_app, self.bp


@pytest.fixture(scope="module")
def pooled_systems() -> Iterator[_Systems]:
    pool = _Systems()
    yield pool
    pool.sn.store.close()


@pytest.fixture
def systems(pooled_systems: _Systems) -> Iterator[tuple[Any, Any, BigPandaBackend]]:
    yield pooled_systems.as_new()
    pooled_systems.as_new()  # nothing this test changed is left for the next one


@contextlib.asynccontextmanager
async def connect(app: Any, auth: tuple[str, str] = ("admin", "admin")) -> AsyncIterator[RuleStore]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sn", auth=auth) as http:
        yield RuleStore(ServiceNowClient(ApiClient(http)))


def with_store(app: Any, work: Callable[[RuleStore], Awaitable[T]], auth: tuple[str, str] = ("admin", "admin")) -> T:
    async def go() -> T:
        async with connect(app, auth) as store:
            return await work(store)
    return run(go())


RULE = {"name": "DB", "conditions": [{"alert_tag": "host", "operator": "starts_with", "value": "db-"}],
        "actions": [{"action": "set_field", "field": "category", "value": "database"}]}


def test_the_store_saves_replaces_lists_per_organisation_and_deletes(systems: Any) -> None:
    sn, _, _ = systems

    async def work(store: RuleStore) -> None:
        first = await store.save("demo", RULE)
        assert first.sys_id and (await store.rules("demo")) == [first]
        replaced = await store.save("demo", {**RULE, "order": 5, "active": False})
        assert replaced.sys_id == first.sys_id and (await store.rules("demo"))[0].order == 5
        await store.save("other-org", {**RULE, "name": "Other"})
        assert [r.name for r in await store.rules("demo")] == ["DB"]
        with pytest.raises(RulesRefused):
            await store.save_all("demo", [{**RULE, "name": "ok"}, {**RULE, "name": "bad", "conditions": []}])
        assert [r.name for r in await store.rules("demo")] == ["DB"]  # nothing of the batch was written
        assert await store.delete("demo", "DB") and not await store.delete("demo", "DB")
        assert await store.rules("demo") == []

    with_store(sn, work)


def test_a_refused_save_writes_nothing_and_checks_the_instances_dictionary(systems: Any) -> None:
    sn, _, _ = systems

    async def work(store: RuleStore) -> None:
        with pytest.raises(RuleRefused, match="unknown incident field 'u_team'"):
            await store.save("demo", {**RULE, "actions": [{"action": "set_field", "field": "u_team", "value": "x"}]})
        catalog = await store.catalog()
        assert catalog.fields is not None and {"category", "impact", "short_description"} <= set(catalog.fields)
        assert catalog.fields["impact"].type == "integer" and catalog.fields["state"].type == "integer"
        r = await store.client.api.request("GET", f"/api/now/table/{TABLE}")
        assert r.json()["result"] == []

    with_store(sn, work)


def test_a_hand_edited_record_that_cannot_work_is_listed_with_the_reason_and_not_run(systems: Any) -> None:
    sn, _, _ = systems

    async def work(store: RuleStore) -> None:
        saved = await store.save("demo", RULE)
        await store.save("demo", {**RULE, "name": "Fine", "order": 200})
        await store.client.update(TABLE, saved.sys_id, {"actions": "not json"})
        listed = {s.name: s for s in await store.stored("demo")}
        assert listed["DB"].rule is None and "actions: the stored value is not JSON" in listed["DB"].problem
        assert [r.name for r in await store.rules("demo")] == ["Fine"]

    with_store(sn, work)


def test_roles_the_bigpanda_admin_lists_without_the_dictionary_the_analyst_cannot_save(systems: Any) -> None:
    sn, _, _ = systems
    with_store(sn, lambda s: s.save("demo", RULE))
    assert [r.name for r in with_store(sn, lambda s: s.rules("demo"), ("bigpanda.admin", "bigpanda-admin"))] == ["DB"]
    with pytest.raises(CatalogError, match="refused reading sys_dictionary"):
        with_store(sn, lambda s: s.save("demo", RULE), ("bigpanda.admin", "bigpanda-admin"))

    async def analyst(store: RuleStore) -> None:
        store._fields = {"category": FieldSpec("category")}  # the caller knows the fields
        await store.save("demo", {**RULE, "name": "Analyst's"})
    with pytest.raises(ServiceNowError, match="403"):
        with_store(sn, analyst, ("noc.analyst", "analyst"))


def send(bp: BigPandaBackend, *alerts: dict[str, Any]) -> None:
    principal = bp.resolve_token(bp.settings.org_token)
    bp.ingest(principal, {"app_key": bp.settings.alerts_app_key, "alerts": list(alerts)})


def test_a_dry_run_reads_bigpandas_incidents_in_the_shares_shape_without_leasing_shares(systems: Any) -> None:
    _, app, bp = systems
    send(bp, {"status": "critical", "host": "db-prod-1", "check": "Lag", "region": "eu"},
         {"status": "warning", "host": "web-1", "check": "HTTP"})
    org = bp.orgs[bp.settings.organization]
    pending = [s.id for s in org.shares.pending()]

    async def read() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bp",
                                     headers={"Authorization": f"Bearer {bp.settings.user_api_key}"}) as http:
            return await active_incidents(ApiClient(http), 20)

    incidents = run(read())
    assert [s.id for s in org.shares.pending()] == pending and not org.shares.leased()
    shares = {s.incident_id: bp.render_share(org, s)["incident"] for s in org.shares.pending()}
    assert {i["id"] for i in incidents} == set(shares)
    for inc in incidents:  # the same tags as the share carries
        def tags(i: dict[str, Any]) -> list[list[tuple[str, str]]]:
            return [sorted((t["name"], t["value"]) for t in a["tags"]) for a in i["alerts"]]
        assert tags(inc) == tags(shares[inc["id"]])
    [db] = [r for r in dry_run([parse_rule(RULE)], incidents) if r.outcome.matched]
    assert db.outcome.dry_run and db.outcome.trace[0].changes[0].after == "database"


# --- bpsn rules ----------------------------------------------------------------------------------
def test_the_cli_saves_lists_tests_dry_runs_and_deletes(systems: Any, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from bpsn.cli import rules as cli_rules
    from bpsn.cli.main import app
    from bpsn.integration.rules.connect import open_rules

    sn, bpapp, bp = systems
    monkeypatch.setattr(cli_rules, "open_rules", lambda: open_rules(
        servicenow_transport=httpx.ASGITransport(app=sn), bigpanda_transport=httpx.ASGITransport(app=bpapp)))
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    (tmp_path / "rules.yaml").write_text(json.dumps([RULE, {**RULE, "name": "Later", "order": 300,
                                                            "active": False}]))
    (tmp_path / "bad.yaml").write_text(json.dumps([{**RULE, "conditions": [
        {"alert_tag": "host", "operator": "regex", "value": "("}]}]))
    bad = runner.invoke(app, ["rules", "save", str(tmp_path / "bad.yaml")])
    assert bad.exit_code == 1 and "bad regular expression" in " ".join(bad.output.split())  # any width
    saved = runner.invoke(app, ["rules", "save", str(tmp_path / "rules.yaml")])
    assert saved.exit_code == 0, saved.output
    assert "saved DB (order 100)" in saved.output and "saved Later (order 300, inactive)" in saved.output
    listed = runner.invoke(app, ["rules", "list"])
    assert listed.exit_code == 0 and 'alert tag "host" starts with "db-"' in listed.output

    send(bp, {"status": "critical", "host": "db-prod-1", "check": "Lag"})
    org = bp.orgs[bp.settings.organization]
    (tmp_path / "share.json").write_text(json.dumps(bp.render_share(org, org.shares.pending()[0])))
    tested = runner.invoke(app, ["rules", "test", "--share", str(tmp_path / "share.json")])
    assert tested.exit_code == 0, tested.output
    assert "category" in tested.output and "database" in tested.output and "inactive" in tested.output
    dry = runner.invoke(app, ["rules", "dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would set field" in dry.output and "1 of 1 incidents would be changed; nothing was written" in dry.output
    assert len(org.shares.pending()) == 1 and not org.shares.leased()
    deleted = runner.invoke(app, ["rules", "delete", "DB"])
    assert deleted.exit_code == 0 and runner.invoke(app, ["rules", "delete", "DB"]).exit_code == 1
    missing = runner.invoke(app, ["rules", "test", "--share", str(tmp_path / "nope.json")])
    assert missing.exit_code == 2 and "cannot read" in missing.output


# --- the benchmark (no timing assertions: figures go to the report) ------------------------------------
@pytest.mark.bench_check
def test_the_benchmark_runs_real_rules_on_real_shares_and_reports_a_row() -> None:
    from bpsn.bench import rules as bench_rules
    from bpsn.bench.common import Sizes
    from bpsn.bench.report import Row

    assert len(bench_rules.fifty_rules()) == 50
    results = {"rules": bench_rules.run(Sizes.tiny())}
    r = results["rules"]
    assert r["shares_per_s"]["0"] > 0 and r["shares_per_s"]["50"] > 0 and r["ratio"] > 0
    assert 0 < r["mean_rules_matched"] < 50  # the rules do match, and not all of them
    [row] = [Row(*x) for x in bench_rules.report_rows(results)]
    assert row.area == "Transform rules (in-process)" and "50 rules:" in row.value
    assert "alternating rounds" in bench_rules.method_note(results)
