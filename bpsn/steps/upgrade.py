"""Steps of upgrade_rehearsal.feature: the 2.9 instance fixture, `bpsn upgrade`'s work and report,
and the core started from the migrated configuration. Everything goes over the simulators' HTTP
APIs and /_sim, so the steps run against a live stack as well."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from cryptography.fernet import Fernet
from pydantic import SecretStr
from pytest_bdd import given, parsers, then, when

from bpsn.harness.base import Harness
from bpsn.integration.bootstrap import RunnerBuilder, load_plans, open_reader
from bpsn.integration.config.crypto import ConfigCipher
from bpsn.integration.logs import Redactor
from bpsn.integration.supervisor import Supervisor
from bpsn.integration.upgrade.instance import UpgradeSettings
from bpsn.integration.upgrade.legacy import BASIC_PREFIX, decode_basic
from bpsn.integration.upgrade.report import UpgradeReport
from bpsn.integration.upgrade.run import run_upgrade
from bpsn.simulator.common.yaml_text import load_yaml

FIXTURE = ("bpsn.simulator.servicenow.admin", "v29_instance.yaml")
WATCHED = ("sys_properties", "x_bip_panda_config", "sys_transform_map", "sys_transform_entry", "sys_user_role",
           "sys_user_has_role")


def _fixture(bigpanda_url: str) -> dict[str, Any]:
    """The 2.9 fixture, its BigPanda URL pointed at this bench's BigPanda (the fixture names the demo stack's)."""
    data = load_yaml(resources.files(FIXTURE[0]).joinpath(FIXTURE[1]).read_text())
    for prop in data["tables"]["sys_properties"]:
        if prop["name"] == "x_bip_panda.api_url":
            prop["value"] = bigpanda_url
    return dict(data)


def _cipher(ctx: dict[str, Any]) -> ConfigCipher:
    key = ctx.setdefault("upgrade_key", Fernet.generate_key().decode())  # one key per scenario
    return ConfigCipher(key)


def _upgrade(bench: Harness, ctx: dict[str, Any], org: str) -> UpgradeReport:
    c = bench.credentials
    settings = UpgradeSettings(servicenow_url=bench.servicenow_url, upgrade_user=c.servicenow_admin,
                               upgrade_password=SecretStr(c.servicenow_admin_password))
    report = bench.run(run_upgrade(org, settings, cipher=_cipher(ctx), transport=bench.core_transport("servicenow")))
    ctx.setdefault("upgrade_reports", []).append(report)
    return report


def _report(ctx: dict[str, Any]) -> UpgradeReport:
    return ctx["upgrade_reports"][-1]


def _items(ctx: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(name, outcome, detail) of every item of every fix script of the latest run."""
    return [(i.name, i.outcome, i.detail) for s in _report(ctx).scripts for i in s.items]


def _check(ctx: dict[str, Any], prefix: str) -> Any:
    [check] = [c for c in _report(ctx).checklist if c.check.startswith(prefix)]
    return check


def _entries(bench: Harness, map_name: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    [record] = bench.records("sys_transform_map", f"name={map_name}")
    return record, {e["target_field"]: e for e in bench.records("sys_transform_entry", f"map={record['sys_id']}")}


def _user_roles(bench: Harness, user_name: str) -> tuple[str, list[dict[str, Any]]]:
    [user] = bench.records("sys_user", f"user_name={user_name}")
    grants = bench.records("sys_user_has_role", f"user={user['sys_id']}")
    ids = ",".join(g["role"] for g in grants)
    return user["sys_id"], bench.records("sys_user_role", f"sys_idIN{ids}") if ids else []


# --- the starting point -------------------------------------------------------------------------
@given("a ServiceNow instance running the BigPanda 2.9 app")
def instance_29(bpsn_bench: Harness) -> None:
    bpsn_bench.admins["servicenow"].load_fixtures(_fixture(bpsn_bench.bigpanda_url))


@then("the BigPanda settings are x_bip_panda system properties in the global scope")
def settings_are_properties(bpsn_bench: Harness) -> None:
    props = bpsn_bench.records("sys_properties", "nameSTARTSWITHx_bip_panda.")
    assert len(props) >= 10 and {p["sys_scope"] for p in props} == {"global"}, props


@then("the credential properties hold only basic-encrypted values")
def credentials_basic(bpsn_bench: Harness) -> None:
    secrets_ = bpsn_bench.records("sys_properties", "nameSTARTSWITHx_bip_panda.^type=password")
    assert len(secrets_) == 4
    clear = {decode_basic(p["name"], p["value"]) for p in secrets_}
    assert bpsn_bench.credentials.bigpanda_user_api_key in clear
    assert all(p["value"].startswith(BASIC_PREFIX) and p["value"] not in clear for p in secrets_)


@then(parsers.parse('the service account "{user}" holds only the 2.9 app role, which contains itil'))
def old_roles(bpsn_bench: Harness, user: str) -> None:
    _, roles = _user_roles(bpsn_bench, user)
    assert [(r["name"], r["contains_roles"]) for r in roles] == [("bigpanda_integration", "itil")], roles


@then(parsers.parse('the {which} transform map "{name}" maps "{source}" to "{target}"'))
def map_maps(bpsn_bench: Harness, which: str, name: str, source: str, target: str) -> None:
    _, entries = _entries(bpsn_bench, name)
    assert entries[target]["source_field"] == source, entries.get(target)


# --- the upgrade --------------------------------------------------------------------------------
@given(parsers.parse('the upgrade has run for organisation "{org}"'))
@when(parsers.parse('the upgrade runs for organisation "{org}"'))
def upgrade_runs(bpsn_bench: Harness, bpsn_context: dict[str, Any], org: str) -> None:
    assert _upgrade(bpsn_bench, bpsn_context, org).changed


@when(parsers.parse('the upgrade runs for organisation "{org}" again'))
def upgrade_runs_again(bpsn_bench: Harness, bpsn_context: dict[str, Any], org: str) -> None:
    bpsn_context["before_second_run"] = {t: bpsn_bench.records(t, "ORDERBYsys_id") for t in WATCHED}
    _upgrade(bpsn_bench, bpsn_context, org)


@then(parsers.parse('organisation "{org}" has configuration version 1 with the 2.9 settings'))
def version_1(bpsn_bench: Harness, bpsn_context: dict[str, Any], org: str) -> None:
    [row] = bpsn_bench.records("x_bip_panda_config", f"organization={org}")
    settings = json.loads(row["settings"])
    assert (row["version"], row["current"], row["integration_user"]) == ("1", "true", "bigpanda.svc29"), row
    assert (settings["assignment_group"], settings["retrieval_count"]) == ("BigPanda 2.9 NOC", 20)
    bpsn_context["config_row"] = row


@then("its credentials are re-encrypted, never stored as the 2.9 values")
def re_encrypted(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    row, c = bpsn_context["config_row"], bpsn_bench.credentials
    for field, clear in (("bearer_token", c.bigpanda_user_api_key), ("api_key", c.bigpanda_org_token),
                         ("incidents_app_key", c.bigpanda_incidents_app_key)):
        assert row[field] != clear and not row[field].startswith(BASIC_PREFIX)
        assert _cipher(bpsn_context).decrypt(row[field]) == clear


@then("no x_bip_panda system property is left in the global scope")
def no_properties(bpsn_bench: Harness) -> None:
    assert bpsn_bench.records("sys_properties", "nameSTARTSWITHx_bip_panda.") == []


@then("the second run reports nothing changed and the instance is as the first run left it")
def second_run_no_change(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    assert not _report(bpsn_context).changed
    assert {t: bpsn_bench.records(t, "ORDERBYsys_id") for t in WATCHED} == bpsn_context["before_second_run"]


@then(parsers.parse('the legacy transform map "{name}" is kept, inactive'))
def legacy_kept(bpsn_bench: Harness, name: str) -> None:
    record, entries = _entries(bpsn_bench, name)
    assert record["active"] == "false" and "subcategory" in entries


# --- the report ---------------------------------------------------------------------------------
@then(parsers.parse('the report says "{name}" moved to "{where}"'))
def report_moved(bpsn_context: dict[str, Any], name: str, where: str) -> None:
    found = [(o, d) for n, o, d in _items(bpsn_context) if n == name]
    assert any(o == "moved" and d.startswith(where) for o, d in found), found


@then(parsers.parse('the report says "{name}" was dropped because "{why}"'))
@then(parsers.parse('the report says the field map "{name}" was dropped because "{why}"'))
def report_dropped(bpsn_context: dict[str, Any], name: str, why: str) -> None:
    matches = [(o, d) for n, o, d in _items(bpsn_context) if n == name or n.endswith(f": {name}")]
    assert any(o == "dropped" and why in d for o, d in matches), matches


@then(parsers.parse('the checklist flags the platform release "{release}"'))
def flags_release(bpsn_context: dict[str, Any], release: str) -> None:
    check = _check(bpsn_context, "platform release")
    assert check.ok is False and release in check.detail and "Xanadu" in check.fix


@then(parsers.parse('the checklist flags the service account lacks "{roles}"'))
def flags_roles(bpsn_context: dict[str, Any], roles: str) -> None:
    check = _check(bpsn_context, "roles of the service account")
    assert check.ok is False and f"lacks {roles}" in check.detail, check


@then(parsers.parse('the checklist asks for the BigPanda permissions "{permissions}"'))
def asks_permissions(bpsn_context: dict[str, Any], permissions: str) -> None:
    check = _check(bpsn_context, "BigPanda permissions")
    assert check.ok is None and permissions in check.detail, check


# --- the check: the core on the migrated configuration -------------------------------------------
@given(parsers.parse('the service account "{user}" is given the roles "{first}" and "{second}"'))
def grant_roles(bpsn_bench: Harness, user: str, first: str, second: str) -> None:
    user_id, _ = _user_roles(bpsn_bench, user)
    for role in (first, second):
        [record] = bpsn_bench.records("sys_user_role", f"name={role}")
        r = bpsn_bench.servicenow_client.post("/api/now/table/sys_user_has_role",
                                              json={"user": user_id, "role": record["sys_id"]})
        assert r.status_code == 201, r.text


@given(parsers.parse('the core starts from the configuration of "{org}" as "{user}" with password "{password}"'))
def core_from_config(request: Any, bpsn_bench: Harness, bpsn_context: dict[str, Any], org: str, user: str,
                     password: str) -> None:
    base = bpsn_bench.settings.model_copy(update={"servicenow_user": user, "servicenow_password": SecretStr(password)})
    clock = bpsn_bench.clock

    async def virtual_sleep(seconds: float) -> None:  # backoff passes on the virtual clock
        clock.advance(seconds)
    builder = RunnerBuilder(clock, bigpanda_transport=bpsn_bench.core_transport("bigpanda"),
                            servicenow_transport=bpsn_bench.core_transport("servicenow"), pace=False,
                            sleep=virtual_sleep)

    async def start() -> tuple[Any, Supervisor]:
        reader = open_reader(base, transport=bpsn_bench.core_transport("servicenow"), cipher=_cipher(bpsn_context))
        store = await reader.__aenter__()
        plans = await load_plans(store, [org], base, Redactor())
        return reader, Supervisor.start(plans, store, builder, base, redactor=Redactor())
    reader, supervisor = bpsn_bench.run(start())

    async def stop() -> None:
        await supervisor.aclose()
        await reader.__aexit__(None, None, None)
    request.addfinalizer(lambda: bpsn_bench.run(stop()))
    assert supervisor.worker(org).plan.version == 1
    bpsn_context["migrated_core"] = supervisor


@when("the migrated core runs one cycle")
def migrated_cycle(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    bpsn_bench.run(bpsn_context["migrated_core"].cycle_all())


@then(parsers.parse('the ticket is assigned to "{group}" and was created by "{user}"'))
def ticket_assigned(bpsn_bench: Harness, bpsn_context: dict[str, Any], group: str, user: str) -> None:
    [record] = bpsn_bench.records("sys_user_group", f"name={group}")
    ticket = bpsn_context["ticket"]
    assert (ticket["assignment_group"], ticket["sys_created_by"]) == (record["sys_id"], user), ticket
