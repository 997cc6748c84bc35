"""Privacy compliance: pseudonyms, detection, the policy, cleaning payloads, and data-subject
export / erase against an in-process ServiceNow simulator (and through `bpsn privacy`)."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from pydantic import ValidationError
from typer.testing import CliRunner

from bpsn.base.clock import SimClock
from bpsn.integration.clients.http import ApiClient, RetryPolicy
from bpsn.integration.clients.servicenow import ServiceNowClient
from bpsn.integration.privacy import PrivacyPolicy, Pseudonymiser, apply, detect, to_bigpanda, to_servicenow
from bpsn.integration.privacy.pseudonym import DEV_KEY, KEY_ENV, is_masked, normalise
from bpsn.integration.privacy.subject import (
    Account,
    DeleteRecord,
    Found,
    KeepRecord,
    Subject,
    UpdateRecord,
    counts,
    matches,
    plan_erase,
    pseudonymise_text,
    query,
    validate_email,
)
from bpsn.integration.privacy.subject_service import PrivacyError, SubjectTools
from bpsn.integration.privacy.tables import AUDIT_TABLE, DECLARED, TablePrivacy
from bpsn.simulator.servicenow.app import create_app
from bpsn.simulator.servicenow.backend import ServiceNowBackend

KEY = Pseudonymiser(b"unit-test-key")
ALICE = "alice.ops@example.com"


# --- pseudonyms ------------------------------------------------------------------------------------
def test_same_person_same_pseudonym_whatever_the_spelling() -> None:
    assert KEY.pseudonym("email", "Alice.Ops@Example.COM ") == KEY.pseudonym("email", ALICE)
    assert KEY.pseudonym("name", "alice   OPS") == KEY.pseudonym("name", "Alice Ops")
    assert KEY.pseudonym("phone", "+44 (20) 7946-0958") == KEY.pseudonym("phone", "+442079460958")
    assert KEY.pseudonym("email", ALICE) != KEY.pseudonym("email", "bob.dba@example.com")


def test_pseudonyms_depend_on_the_key_and_keep_their_shape() -> None:
    other = Pseudonymiser(b"another-key")
    assert other.pseudonym("email", ALICE) != KEY.pseudonym("email", ALICE)
    assert KEY.pseudonym("email", ALICE).endswith("@pseudonym.invalid")
    assert KEY.pseudonym("ip", "10.0.0.1").startswith("2001:db8:")
    assert ALICE not in KEY.pseudonym("email", ALICE) and "alice" not in KEY.subject_hash(ALICE)
    assert len(KEY.subject_hash(ALICE)) == 64 and KEY.subject_hash(ALICE) != KEY.subject_hash("bob@example.com")


def test_masked_values_are_recognised_so_cleaning_twice_changes_nothing() -> None:
    for kind, value in (("email", ALICE), ("ip", "10.1.2.3"), ("name", "Alice Ops"), ("phone", "+1 555 010 4477")):
        assert is_masked(KEY.pseudonym(kind, value)) and is_masked(KEY.mask(kind, "redact", value))
    assert not is_masked(ALICE) and not is_masked("10.1.2.3")


def test_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    dev = Pseudonymiser.from_env()
    assert dev.default_key and dev.key == DEV_KEY.encode()
    monkeypatch.setenv(KEY_ENV, "prod-secret")
    prod = Pseudonymiser.from_env()
    assert not prod.default_key and prod.pseudonym("email", ALICE) != dev.pseudonym("email", ALICE)


def test_unknown_kind_or_action_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        normalise("passport", "X1")
    with pytest.raises(ValueError, match="unknown privacy action"):
        KEY.mask("email", "encrypt", ALICE)


# --- detection in free text ----------------------------------------------------------------------
@pytest.mark.parametrize(("text", "kinds"), [
    ("mail alice.ops@example.com now", ["email"]),
    ("from 10.20.30.40:8443 and fe80::1:2:3", ["ip", "ip"]),
    ("call +44 20 7946 0958 or (555) 010-4477 or 555.010.4477", ["phone", "phone", "phone"]),
    ("ops@10.0.0.1.example.com", ["email"]),
])
def test_detects_personal_data(text: str, kinds: list[str]) -> None:
    assert [f.kind for f in detect.find(text, ["email", "ip", "phone"])] == kinds


@pytest.mark.parametrize("text", [
    "at 2026-01-01 10:15:30 after 12:30", "version 1.2.3 build 20260101", "999.1.1.1 is no address",
    "INC0010042 took 1234567 ms", "1.2.3.4.5 is a version", "+12 34",
])
def test_leaves_operational_text_alone(text: str) -> None:
    assert detect.find(text, ["email", "ip", "phone"]) == []


def test_names_cannot_be_detected_by_pattern() -> None:
    with pytest.raises(ValueError, match="cannot detect name"):
        detect.find("Alice Ops", ["name"])


# --- the policy ------------------------------------------------------------------------------------
def test_policy_refuses_bad_configuration_with_a_clear_message() -> None:
    with pytest.raises(ValidationError, match="identifies a record"):
        PrivacyPolicy.model_validate({"to_servicenow": {"fields": [{"name": "correlation_id", "kind": "email"}]}})
    with pytest.raises(ValidationError, match="listed twice"):
        PrivacyPolicy.model_validate({"to_bigpanda": {"fields": [{"name": "Owner", "kind": "email"},
                                                                 {"name": "owner", "kind": "name"}]}})
    with pytest.raises(ValidationError, match="detect"):
        PrivacyPolicy.model_validate({"to_bigpanda": {"detect": ["name"]}})
    with pytest.raises(ValidationError, match="kind"):
        PrivacyPolicy.model_validate({"to_bigpanda": {"fields": [{"name": "x", "kind": "passport"}]}})
    with pytest.raises(ValidationError, match="Extra inputs"):
        PrivacyPolicy.model_validate({"to_jira": {}})
    with pytest.raises(ValueError, match="unknown direction"):
        PrivacyPolicy().direction("sideways")


def test_policy_round_trips_through_json() -> None:
    policy = PrivacyPolicy.model_validate({"to_servicenow": {"fields": [{"name": "owner", "kind": "email",
                                                                        "action": "redact"}], "detect": ["ip"]}})
    assert PrivacyPolicy.model_validate_json(policy.model_dump_json()) == policy


# --- cleaning payloads -------------------------------------------------------------------------------
SHARE_INCIDENT: dict[str, Any] = {
    "id": "inc-1", "status": "critical",
    "alerts": [{"id": "a1", "primary_property": "host",
                "description": "VPN drop for 10.8.0.14, ask alice.ops@example.com",
                "tags": [{"name": "host", "value": "vpn-01"}, {"name": "owner", "value": ALICE},
                         {"name": "on_call", "value": "+44 20 7946 0958"}]}],
    "incident_tags": [{"tag_id": "t-77", "value": "Alice Ops"}],
}
POLICY = PrivacyPolicy.model_validate({
    "to_servicenow": {"fields": [{"name": "owner", "kind": "email"}, {"name": "on_call", "kind": "phone",
                                                                        "action": "redact"},
                                 {"name": "requester", "kind": "name"}],
                      "detect": ["email", "ip"]},
    "to_bigpanda": {"action": "redact", "fields": [{"name": "caller_email", "kind": "email"}], "detect": ["email"]},
})


def test_share_incident_is_cleaned_by_tag_name_and_in_free_text() -> None:
    original = copy.deepcopy(SHARE_INCIDENT)
    cleaned, report = apply(POLICY, "to_servicenow", SHARE_INCIDENT, KEY, tag_names={"t-77": "requester"})
    assert SHARE_INCIDENT == original  # the input is never changed
    alert = cleaned["alerts"][0]
    tags = {t["name"]: t["value"] for t in alert["tags"]}
    assert tags == {"host": "vpn-01", "owner": KEY.pseudonym("email", ALICE), "on_call": "[redacted phone]"}
    assert alert["description"] == (f"VPN drop for {KEY.pseudonym('ip', '10.8.0.14')}, "
                                    f"ask {KEY.pseudonym('email', ALICE)}")
    assert cleaned["incident_tags"] == [{"tag_id": "t-77", "value": KEY.pseudonym("name", "Alice Ops")}]
    assert cleaned["id"] == "inc-1"
    assert report.counts() == {"email": 2, "ip": 1, "name": 1, "phone": 1}
    assert {c.path for c in report.cleaned} == {"alerts[0].tags[1].owner", "alerts[0].tags[2].on_call",
                                                "alerts[0].description", "incident_tags[0].requester"}
    assert ALICE not in json.dumps(report.cleaned, default=vars)


def test_cleaning_is_idempotent_and_the_whole_share_works_too() -> None:
    share = {"share_id": "s1", "incident_id": "inc-1", "incident": SHARE_INCIDENT}
    once = to_servicenow(POLICY, share, KEY)
    twice, report = apply(POLICY, "to_servicenow", once, KEY)
    assert twice == once and not report.changed
    assert once["incident"]["alerts"][0]["tags"][1]["value"] == KEY.pseudonym("email", ALICE)


def test_servicenow_fields_bound_for_bigpanda_are_redacted() -> None:
    body = {"comments": "Closed after a call with bob.dba@example.com", "caller_email": "bob.dba@example.com",
            "state": "6", "count": 3}
    cleaned = to_bigpanda(POLICY, body, KEY)
    assert cleaned == {"comments": "Closed after a call with [redacted email]", "caller_email": "[redacted email]",
                       "state": "6", "count": 3}
    tags = to_bigpanda(POLICY, [{"tag_id": "caller_email", "tag_value": "bob.dba@example.com"}], KEY)
    assert tags == [{"tag_id": "caller_email", "tag_value": "[redacted email]"}]


def test_without_a_policy_nothing_changes() -> None:
    cleaned, report = apply(PrivacyPolicy(), "to_servicenow", SHARE_INCIDENT, KEY)
    assert cleaned is SHARE_INCIDENT and not report.changed


def test_free_text_is_scanned_only_when_the_policy_asks() -> None:
    fields_only = PrivacyPolicy.model_validate({"to_servicenow": {"fields": [{"name": "owner", "kind": "email"}]}})
    cleaned = to_servicenow(fields_only, SHARE_INCIDENT, KEY)
    assert cleaned["alerts"][0]["description"] == SHARE_INCIDENT["alerts"][0]["description"]


# --- data subjects (pure) ------------------------------------------------------------------------------
SUBJECT = Subject(ALICE, KEY.subject_hash(ALICE), (Account("u1", "alice.ops", "Alice Ops"),))


def test_email_validation_names_the_bad_input() -> None:
    assert validate_email(" alice@example.com ") == "alice@example.com"
    for bad in ("alice", "alice@example", "a^b@example.com", "@example.com"):
        with pytest.raises(ValueError, match="not an email address"):
            validate_email(bad)


def test_matches_whole_addresses_names_and_exact_user_names() -> None:
    decl = DECLARED["x_bip_panda_bp_alerts"]
    assert matches({"u_tags": '{"owner": "ALICE.OPS@example.com"}'}, decl, SUBJECT) == {"u_tags": ["email"]}
    assert matches({"u_description": "paged Alice  Ops twice"}, decl, SUBJECT) == {"u_description": ["name"]}
    assert matches({"u_primary_property": "alice.ops"}, decl, SUBJECT) == {"u_primary_property": ["user"]}
    for other in ("malice.ops@example.com", "alice.ops@example.com.au", "see alice.ops docs", "Alice Opsworth"):
        assert matches({"u_description": other}, decl, SUBJECT) == {}, other
    assert matches({"sys_created_by": "alice.ops"}, decl, SUBJECT) == {"sys_created_by": ["user"]}


def test_query_narrows_each_column_and_is_none_with_nothing_to_look_for() -> None:
    q = query(DECLARED["x_bip_panda_correlation"], SUBJECT)
    assert q is not None and q.startswith(f"u_sourceLIKE{ALICE}^ORu_sourceLIKEAlice Ops^ORu_targetLIKE{ALICE}")
    assert "u_source=alice.ops" in q and "sys_created_by=alice.ops" in q and q.endswith("^ORDERBYsys_id")
    assert query(DECLARED["x_bip_panda_external_ticket"], Subject(ALICE, "h")) is None


def test_pseudonymise_text_replaces_every_occurrence() -> None:
    text = pseudonymise_text(f"{ALICE} (Alice Ops) asked", SUBJECT, KEY)
    assert text == f"{KEY.pseudonym('email', ALICE)} ({KEY.pseudonym('name', 'Alice Ops')}) asked"
    assert pseudonymise_text("alice.ops", SUBJECT, KEY) == KEY.pseudonym("user", "alice.ops")


def test_erase_plan_follows_each_table_declaration() -> None:
    found = [
        Found("x_bip_panda_shareincident", "s1", {"u_bp_sharer_email": ["email"]}, {}),
        Found("x_bip_panda_bp_alerts", "a1", {"u_tags": ["email"]}, {"u_tags": f'{{"owner": "{ALICE}"}}'}),
        Found("x_bip_panda_config", "c1", {"integration_user": ["user"]}, {"integration_user": "alice.ops"}),
        Found("x_bip_panda_bp_alerts", "a2", {"sys_created_by": ["user"]}, {}),
    ]
    declared = {**DECLARED, "x_bip_panda_blankme": TablePrivacy("x_bip_panda_blankme", ("u_who",), "blank", "test")}
    found.append(Found("x_bip_panda_blankme", "b1", {"u_who": ["email"]}, {"u_who": ALICE}))
    steps = plan_erase(found, declared, SUBJECT, KEY)
    assert steps[0] == DeleteRecord("x_bip_panda_shareincident", "s1")
    assert steps[1] == UpdateRecord("x_bip_panda_bp_alerts", "a1", "pseudonymise",
                                    {"u_tags": f'{{"owner": "{KEY.pseudonym("email", ALICE)}"}}'})
    assert isinstance(steps[2], KeepRecord) and "integration_user" in steps[2].why
    assert isinstance(steps[3], KeepRecord) and "sys_created_by" in steps[3].why
    assert steps[4] == UpdateRecord("x_bip_panda_blankme", "b1", "blank", {"u_who": ""})
    assert counts(steps) == {"x_bip_panda_blankme": {"blank": 1},
                             "x_bip_panda_bp_alerts": {"keep": 1, "pseudonymise": 1},
                             "x_bip_panda_config": {"keep": 1}, "x_bip_panda_shareincident": {"delete": 1}}


def test_table_declarations_are_checked() -> None:
    with pytest.raises(ValueError, match="only x_bip_panda_"):
        TablePrivacy("incident", ("caller_id",), "blank", "")
    with pytest.raises(ValueError, match="not among its columns"):
        TablePrivacy("x_bip_panda_x", ("u_a",), "pseudonymise", "", retained=("u_b",))


def test_every_x_bip_panda_table_is_declared_with_columns_that_exist() -> None:
    tables = yaml.safe_load(Path("simulator/servicenow/records/dictionary.yaml").read_text())["tables"]
    scoped = {name for name in tables if name.startswith("x_bip_panda_")}
    assert scoped - set(DECLARED) == set(), "declare its personal-data columns in integration/privacy/tables.py"
    for name, decl in DECLARED.items():
        assert name in tables, name
        assert set(decl.columns) <= set(tables[name]["fields"]), name


# --- data subjects over the Table API ---------------------------------------------------------------
class Instance:
    def __init__(self, backend: ServiceNowBackend, app: Any) -> None:
        self.backend, self.app, self.clock = backend, app, backend.clock

    def client(self, user: str, password: str, transport: httpx.AsyncBaseTransport | None = None
               ) -> ServiceNowClient:
        http = httpx.AsyncClient(transport=transport or httpx.ASGITransport(app=self.app), base_url="http://sn",
                                 auth=(user, password))
        return ServiceNowClient(ApiClient(http, policy=RetryPolicy(max_attempts=1)))

    def tools(self, user: str = "bigpanda.admin", password: str = "bigpanda-admin",
              transport: httpx.AsyncBaseTransport | None = None) -> SubjectTools:
        return SubjectTools(self.client(user, password, transport), KEY, self.clock)

    def rows(self, table: str) -> list[dict[str, Any]]:
        async def get() -> list[dict[str, Any]]:
            return await self.client("admin", "admin").query_all(table, "ORDERBYsys_created_on")
        return asyncio.run(get())


@pytest.fixture(scope="module")
def pooled_instance() -> Iterator[tuple[ServiceNowBackend, Any]]:
    """One instance and app for the module (a new one costs ~0.3 s CPU), put back before each test."""
    backend = ServiceNowBackend(clock=SimClock.virtual())
    yield backend, create_app(backend)
    backend.store.close()


@pytest.fixture
def instance(pooled_instance: tuple[ServiceNowBackend, Any]) -> Instance:
    backend, app = pooled_instance
    backend.clock.restart()  # first: the instance seeds its records at the start instant (as /_sim/reset after it)
    backend.reset()
    i = Instance(backend, app)
    i.backend.insert_system("x_bip_panda_shareincident", {"u_bp_incident_id": "inc-1", "u_bp_sharer_email": ALICE})
    i.backend.insert_system("x_bip_panda_bp_alerts", {"u_alert_id": "a1", "u_tags": f'{{"owner": "{ALICE}"}}',
                                                      "u_description": "Disk full"})
    i.backend.insert_system("x_bip_panda_bp_alerts", {"u_alert_id": "a2", "u_tags": '{"owner": "bob.dba@example.com"}'})
    i.backend.insert_system("x_bip_panda_correlation", {"u_source": "alice.ops", "u_target": "vpn-01"})
    return i


def test_tables_come_from_the_instance_or_the_declared_list(instance: Instance) -> None:
    names, source = asyncio.run(instance.tools("admin", "admin").tables())
    assert source == "sys_dictionary" and "x_bip_panda_bp_alerts" in names and "incident" not in names
    names, source = asyncio.run(instance.tools().tables())  # bigpanda.admin may not read sys_dictionary
    assert source.startswith("declared list") and names == sorted(DECLARED)


def test_export_lists_every_record_of_the_subject_and_only_theirs(instance: Instance) -> None:
    data = asyncio.run(instance.tools().export(ALICE))
    assert data["subject"]["accounts"] == [{"sys_id": data["subject"]["accounts"][0]["sys_id"],
                                            "user_name": "alice.ops", "name": "Alice Ops"}]
    assert set(data["records"]) == {"x_bip_panda_shareincident", "x_bip_panda_bp_alerts", "x_bip_panda_correlation"}
    assert [r["record"]["u_alert_id"] for r in data["records"]["x_bip_panda_bp_alerts"]] == ["a1"]
    assert data["records"]["x_bip_panda_correlation"][0]["matched"] == {"u_source": ["user"]}
    assert data["searched"]["x_bip_panda_shareincident"] == {"erase": "delete", "records": 1,
                                                              "why": DECLARED["x_bip_panda_shareincident"].why}


def test_erase_deletes_pseudonymises_and_audits_without_the_email(instance: Instance) -> None:
    instance.clock.advance(3600)
    result = asyncio.run(instance.tools().erase(ALICE, operator="dpo", servicenow_user="bigpanda.admin",
                                                reason="DSR-42"))
    assert result.counts == {"x_bip_panda_bp_alerts": {"pseudonymise": 1}, "x_bip_panda_correlation":
                             {"pseudonymise": 1}, "x_bip_panda_shareincident": {"delete": 1}}
    assert instance.rows("x_bip_panda_shareincident") == []
    alerts = {r["u_alert_id"]: r for r in instance.rows("x_bip_panda_bp_alerts")}
    assert alerts["a1"]["u_tags"] == f'{{"owner": "{KEY.pseudonym("email", ALICE)}"}}'
    assert alerts["a2"]["u_tags"] == '{"owner": "bob.dba@example.com"}'
    assert instance.rows("x_bip_panda_correlation")[0]["u_source"] == KEY.pseudonym("user", "alice.ops")
    [audit] = instance.rows(AUDIT_TABLE)
    assert audit["u_subject_hash"] == KEY.subject_hash(ALICE) and audit["u_outcome"] == "completed"
    assert (audit["u_operator"], audit["u_servicenow_user"], audit["u_reason"]) == ("dpo", "bigpanda.admin", "DSR-42")
    assert audit["u_performed_at"] == "2026-01-01 01:00:00" and audit["sys_created_by"] == "bigpanda.admin"
    assert json.loads(audit["u_record_counts"]) == result.counts
    assert "alice" not in json.dumps(audit).lower()
    assert asyncio.run(instance.tools().export(ALICE))["records"] == {}  # nothing left to find


def test_erase_without_the_admin_role_changes_nothing(instance: Instance) -> None:
    before = instance.rows("x_bip_panda_bp_alerts")
    with pytest.raises(PrivacyError, match="x_bip_panda.admin.*nothing was erased"):
        asyncio.run(instance.tools("noc.analyst", "analyst").erase(ALICE, operator="dpo", servicenow_user="x"))
    assert instance.rows("x_bip_panda_bp_alerts") == before and instance.rows(AUDIT_TABLE) == []
    assert len(instance.rows("x_bip_panda_shareincident")) == 1


class RefuseWrites(httpx.AsyncBaseTransport):
    """The instance refuses every change to one table (an ACL changed half-way)."""

    def __init__(self, app: Any, table: str) -> None:
        self.inner, self.table = httpx.ASGITransport(app=app), table

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method in ("PATCH", "DELETE") and f"/table/{self.table}/" in request.url.path:
            return httpx.Response(403, json={"error": {"message": "Operation Failed", "detail": "ACL"}})
        return await self.inner.handle_async_request(request)


def test_an_erase_that_stops_half_way_is_audited_as_failed(instance: Instance) -> None:
    tools = instance.tools(transport=RefuseWrites(instance.app, "x_bip_panda_shareincident"))
    with pytest.raises(PrivacyError, match="stopped after 2 of 3 records"):
        asyncio.run(tools.erase(ALICE, operator="dpo", servicenow_user="bigpanda.admin"))
    [audit] = instance.rows(AUDIT_TABLE)
    assert audit["u_outcome"] == "failed" and "403" in audit["u_detail"]
    assert json.loads(audit["u_record_counts"]) == {"x_bip_panda_bp_alerts": {"pseudonymise": 1},
                                                    "x_bip_panda_correlation": {"pseudonymise": 1}}
    assert len(instance.rows("x_bip_panda_shareincident")) == 1


def test_an_undeclared_table_is_reported_not_searched(instance: Instance) -> None:
    declared = {k: v for k, v in DECLARED.items() if k != "x_bip_panda_correlation"}
    tools = SubjectTools(instance.client("admin", "admin"), KEY, instance.clock, declared)
    data = asyncio.run(tools.export(ALICE))
    assert "x_bip_panda_correlation" in data["not_searched"] and "x_bip_panda_correlation" not in data["records"]


# --- bpsn privacy ---------------------------------------------------------------------------------------------
@pytest.fixture
def cli(instance: Instance, monkeypatch: pytest.MonkeyPatch) -> Instance:
    import bpsn.cli.privacy
    monkeypatch.setattr(bpsn.cli.privacy, "transport", httpx.ASGITransport(app=instance.app))
    monkeypatch.setenv("BPSN_SERVICENOW_URL", "http://sn")
    monkeypatch.setenv("BPSN_SERVICENOW_USER", "bigpanda.admin")
    monkeypatch.setenv("BPSN_SERVICENOW_PASSWORD", "bigpanda-admin")
    monkeypatch.setenv(KEY_ENV, "unit-test-key")
    return instance


def test_cli_export_prints_json(cli: Instance) -> None:
    from bpsn.cli.main import app
    result = CliRunner().invoke(app, ["privacy", "export", "--email", ALICE])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["subject"]["subject_hash"] == KEY.subject_hash(ALICE) and len(data["records"]) == 3


def test_cli_erase_asks_first_and_a_no_changes_nothing(cli: Instance) -> None:
    from bpsn.cli.main import app
    result = CliRunner().invoke(app, ["privacy", "erase", "--email", ALICE], input="n\n")
    assert result.exit_code == 1 and "x_bip_panda_shareincident" in result.stdout and "delete" in result.stdout
    assert cli.rows(AUDIT_TABLE) == [] and len(cli.rows("x_bip_panda_shareincident")) == 1
    result = CliRunner().invoke(app, ["privacy", "erase", "--email", ALICE, "--yes", "--operator", "dpo"])
    assert result.exit_code == 0, result.output
    assert cli.rows("x_bip_panda_shareincident") == [] and cli.rows(AUDIT_TABLE)[0]["u_operator"] == "dpo"


def test_cli_refuses_bad_input_with_a_message(cli: Instance) -> None:
    from bpsn.cli.main import app
    result = CliRunner().invoke(app, ["privacy", "export", "--email", "not-an-address"])
    assert result.exit_code == 1 and "not an email address" in result.stderr
