"""`bpsn upgrade` on the 2.9 instance fixture: the three fix scripts, their idempotence, the report,
and the core running from the migrated configuration."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from typer.testing import CliRunner

from bpsn.cli import upgrade as upgrade_cli
from bpsn.cli.main import app
from bpsn.integration.bootstrap import RunnerBuilder, load_plans, open_reader
from bpsn.integration.config.crypto import ConfigCipher
from bpsn.integration.logs import Redactor
from bpsn.integration.supervisor import Supervisor
from bpsn.integration.upgrade.fix_scripts import UpgradeError
from bpsn.integration.upgrade.instance import UpgradeSettings
from bpsn.integration.upgrade.legacy import LegacyValueError, decode_basic, encode_basic
from bpsn.integration.upgrade.report import UpgradeReport
from bpsn.integration.upgrade.run import run_upgrade
from bpsn.simulator.common.yaml_text import load_yaml
from bpsn.testing import SN_URL, InProcessBench

KEY = Fernet.generate_key().decode()
SERVICE_ACCOUNT = ("bigpanda.svc29", "bigpanda-svc29")
LEGACY_MAP = "BigPanda Incident (2.9)"
# every table a fix script may write: a second run must leave each record exactly as it was
WATCHED = ("sys_properties", "x_bip_panda_config", "sys_transform_map", "sys_transform_entry", "sys_user_role",
           "sys_user_has_role")


def fixture_data() -> dict[str, Any]:
    text = resources.files("bpsn.simulator.servicenow.admin").joinpath("v29_instance.yaml").read_text()
    return dict(load_yaml(text))


@pytest.fixture
def bench(bpsn_bench: InProcessBench) -> InProcessBench:
    """The pooled bench (reset to the seeded state for this test), made a 2.9 instance."""
    bpsn_bench.admins["servicenow"].load_fixtures(fixture_data())
    return bpsn_bench


def upgrade(bench: InProcessBench, org: str = "demo") -> UpgradeReport:
    return bench.run(run_upgrade(org, UpgradeSettings(servicenow_url=SN_URL), cipher=ConfigCipher(KEY),
                                 transport=httpx.ASGITransport(app=bench.servicenow_app)))


def demo_credentials(bench: InProcessBench) -> dict[str, str]:
    s = bench.bigpanda.settings
    return {"bearer_token": s.user_api_key, "api_key": s.org_token, "incidents_app_key": s.incidents_app_key,
            "changes_app_key": s.changes_app_key}


def items(report: UpgradeReport, script: str) -> dict[str, tuple[str, str]]:
    [result] = [s for s in report.scripts if s.script == script]
    return {i.name: (i.outcome, i.detail) for i in result.items}


def test_the_fixture_is_a_29_instance(bench: InProcessBench) -> None:
    props = {p["name"]: p for p in bench.records("sys_properties", "nameSTARTSWITHx_bip_panda.")}
    assert all(p["sys_scope"] == "global" for p in props.values())
    secrets_ = {name: p for name, p in props.items() if p["type"] == "password"}
    assert set(secrets_) == {"x_bip_panda.bearer_token", "x_bip_panda.api_key", "x_bip_panda.app_key",
                             "x_bip_panda.changes_app_key"}
    assert decode_basic("x", secrets_["x_bip_panda.bearer_token"]["value"]) == bench.bigpanda.settings.user_api_key
    assert all(bench.bigpanda.settings.user_api_key not in p["value"] for p in props.values())
    [role] = bench.records("sys_user_role", "name=bigpanda_integration")
    assert role["contains_roles"] == "itil"
    [user] = bench.records("sys_user", f"user_name={SERVICE_ACCOUNT[0]}")
    assert [g["role"] for g in bench.records("sys_user_has_role", f"user={user['sys_id']}")] == [role["sys_id"]]
    [legacy] = bench.records("sys_transform_map", f"name={LEGACY_MAP}")
    assert legacy["source_table"] == "u_bigpanda_incident" and legacy["active"] == "true"


def test_basic_encryption_stand_in_round_trips_and_names_a_bad_property() -> None:
    assert decode_basic("p", encode_basic("s3cret-ü")) == "s3cret-ü" and encode_basic("s3cret") != "s3cret"
    with pytest.raises(LegacyValueError, match="x_bip_panda.api_key") as err:
        decode_basic("x_bip_panda.api_key", "plain-text-token")
    assert "plain-text-token" not in str(err.value)


def test_the_properties_become_version_1_with_credentials_re_encrypted(bench: InProcessBench) -> None:
    report = upgrade(bench)
    assert report.version == 1 and report.changed
    [row] = bench.records("x_bip_panda_config", "organization=demo")
    creds = demo_credentials(bench)
    for field, clear in creds.items():
        assert row[field] and clear not in row[field] and not row[field].startswith("basic:")
        assert ConfigCipher(KEY).decrypt(row[field]) == clear
    settings = json.loads(row["settings"])
    assert (settings["assignment_group"], settings["close_code"], settings["retrieval_count"]) == (
        "BigPanda 2.9 NOC", "Resolved by BigPanda 2.9", 20)
    assert (row["integration_user"], row["api_base_url"], row["version"]) == (SERVICE_ACCOUNT[0],
                                                                             "http://127.0.0.1:8001", "1")
    assert bench.records("sys_properties", "nameSTARTSWITHx_bip_panda.") == []  # no credential left in global
    assert bench.records("sys_properties", "name=glide.buildname")  # not the app's: untouched
    moved = items(report, "migration")
    assert moved["x_bip_panda.app_key"] == ("moved", "credential incidents_app_key, re-encrypted")
    assert moved["x_bip_panda.cmdb_export_tables"][0] == "dropped" and "v2 delta sync" in moved[
        "x_bip_panda.cmdb_export_tables"][1]
    defaults = items(report, "default population")
    assert defaults["settings.poll_interval"] == ("populated", "v3 default 15.0")
    assert "settings.retrieval_count" not in defaults  # the properties gave it
    shown = report.to_text() + json.dumps(report.to_dict())
    assert not any(clear in shown for clear in creds.values())


def snapshot(bench: InProcessBench) -> dict[str, list[dict[str, Any]]]:
    return {table: bench.records(table, "ORDERBYsys_id") for table in WATCHED}


def test_a_second_run_changes_nothing(bench: InProcessBench) -> None:
    upgrade(bench)
    before = snapshot(bench)
    again = upgrade(bench)
    assert not again.changed and all(not s.changed for s in again.scripts)
    assert items(again, "default population") == {}
    assert snapshot(bench) == before
    assert "nothing changed: already upgraded" in again.to_text()


def test_transform_map_customisations_are_kept(bench: InProcessBench) -> None:
    report = upgrade(bench)
    [v3] = bench.records("sys_transform_map", "name=BigPanda Incident")
    entries = {e["target_field"]: e for e in bench.records("sys_transform_entry", f"map={v3['sys_id']}")}
    assert entries["subcategory"]["source_field"] == "u_bp_environment_name"
    assert entries["correlation_display"]["source_field"] == "u_correlation_display"  # the dropped one did not land
    fields = items(report, "migration")
    assert fields[f"{LEGACY_MAP}: subcategory <- u_bp_environment_name"][0] == "moved"
    outcome, why = fields[f"{LEGACY_MAP}: correlation_display <- u_bp_legacy_source"]
    assert outcome == "dropped" and "not a column of x_bip_panda_shareincident" in why
    outcome, why = fields[f"{LEGACY_MAP}: correlation_id <- u_bp_incident_id"]
    assert outcome == "dropped" and "coalesces on sys_id" in why
    assert entries["correlation_id"]["coalesce"] == "false" and entries["sys_id"]["coalesce"] == "true"
    assert fields[f"{LEGACY_MAP}: description <- u_description"][0] == "kept"
    [legacy] = bench.records("sys_transform_map", f"name={LEGACY_MAP}")
    assert legacy["active"] == "false" and len(bench.records("sys_transform_entry", f"map={legacy['sys_id']}")) == 5


def test_the_report_flags_the_checklist_until_it_holds(bench: InProcessBench) -> None:
    checks = {c.check: c for c in upgrade(bench).checklist}
    release, roles = checks["platform release"], checks[f"roles of the service account {SERVICE_ACCOUNT[0]}"]
    assert release.ok is False and "Washington" in release.detail and "Xanadu" in release.fix
    assert roles.ok is False and "itil, x_bip_panda_user" in roles.detail
    assert checks["BigPanda permissions"].ok is None and "Manage Environments" in checks["BigPanda permissions"].detail
    assert items(upgrade(bench), "artefact clean-up") == {}  # nothing left to clean
    fix_checklist(bench)
    report = upgrade(bench)
    assert report.ready and not report.changed


def fix_checklist(bench: InProcessBench) -> None:
    """What the operator does for the checklist: a newer release, the two roles on the service account."""
    [build] = bench.records("sys_properties", "name=glide.buildname")
    assert bench.servicenow_client.patch(f"/api/now/table/sys_properties/{build['sys_id']}",
                                         json={"value": "Xanadu"}).status_code == 200
    [user] = bench.records("sys_user", f"user_name={SERVICE_ACCOUNT[0]}")
    for role in ("itil", "x_bip_panda_user"):
        [r] = bench.records("sys_user_role", f"name={role}")
        assert bench.servicenow_client.post("/api/now/table/sys_user_has_role", json={
            "user": user["sys_id"], "role": r["sys_id"]}).status_code == 201


def test_an_existing_different_configuration_is_never_overwritten(bench: InProcessBench) -> None:
    upgrade(bench, "acme")
    bench.admins["servicenow"].load_fixtures({"tables": {"sys_properties": [
        {"name": "x_bip_panda.close_code", "value": "Another code"}]}})
    with pytest.raises(UpgradeError, match="never overwrites"):
        upgrade(bench, "acme")
    assert len(bench.records("x_bip_panda_config", "organization=acme")) == 1



def test_a_clean_up_interrupted_half_way_finishes_on_the_next_run(bench: InProcessBench) -> None:
    props = [p for p in fixture_data()["tables"]["sys_properties"] if p["name"] in (
        "x_bip_panda.app_key", "x_bip_panda.retrieval_count")]
    upgrade(bench)
    bench.admins["servicenow"].load_fixtures({"tables": {"sys_properties": props}})  # as if never deleted
    report = upgrade(bench)
    assert items(report, "migration")["demo"] == ("unchanged", "version 1 already holds the properties")
    assert sorted(items(report, "artefact clean-up")) == ["x_bip_panda.app_key", "x_bip_panda.retrieval_count"]
    assert bench.records("sys_properties", "nameSTARTSWITHx_bip_panda.") == []
    assert len(bench.records("x_bip_panda_config", "organization=demo")) == 1

def test_an_instance_without_the_29_app_is_refused(bpsn_bench: InProcessBench) -> None:
    with pytest.raises(UpgradeError, match="not a BigPanda 2.9 instance"):
        upgrade(bpsn_bench)


def test_the_core_runs_from_the_migrated_configuration(bench: InProcessBench) -> None:
    upgrade(bench)
    fix_checklist(bench)
    base = bench.settings.model_copy(update={"servicenow_user": SERVICE_ACCOUNT[0],
                                             "servicenow_password": SecretStr(SERVICE_ACCOUNT[1])})
    builder = RunnerBuilder(bench.clock, bigpanda_transport=httpx.ASGITransport(app=bench.bigpanda_app),
                            servicenow_transport=httpx.ASGITransport(app=bench.servicenow_app), pace=False,
                            sleep=bench._virtual_sleep)

    async def start() -> tuple[Any, Supervisor]:
        reader = open_reader(base, transport=httpx.ASGITransport(app=bench.servicenow_app), cipher=ConfigCipher(KEY))
        store = await reader.__aenter__()
        plans = await load_plans(store, ["demo"], base, Redactor())
        return reader, Supervisor.start(plans, store, builder, base, redactor=Redactor())
    reader, sup = bench.run(start())
    try:
        worker = sup.worker("demo")
        assert (worker.plan.version, worker.runner.retrieval_count) == (1, 20)
        incident = bench.send_alerts({"status": "critical", "host": "pay-prod-29", "check": "CPU load"}
                                     ).json()["alerts"][0]["incident_id"]
        bench.run(sup.cycle_all())
        [ticket] = bench.tickets(f"correlation_id={incident}")
        [group] = bench.records("sys_user_group", "name=BigPanda 2.9 NOC")
        assert ticket["assignment_group"] == group["sys_id"]  # the migrated Incidents setting
        [row] = bench.records("x_bip_panda_shareincident", f"u_ticket={ticket['sys_id']}")
        assert row["u_bp_environment_name"] and ticket["subcategory"] == row["u_bp_environment_name"]  # carried map
        [creator] = bench.records("sys_user", f"user_name={SERVICE_ACCOUNT[0]}")
        assert ticket["sys_created_by"] == SERVICE_ACCOUNT[0] and creator
    finally:
        async def stop() -> None:
            await sup.aclose()
            await reader.__aexit__(None, None, None)
        bench.run(stop())


def test_cli_reports_as_json_and_text(bench: InProcessBench, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upgrade_cli, "transport", httpx.ASGITransport(app=bench.servicenow_app))
    monkeypatch.setenv("BPSN_SERVICENOW_URL", SN_URL)
    monkeypatch.setenv("BPSN_CONFIG_KEY", KEY)
    first = CliRunner().invoke(app, ["upgrade", "--org", "demo", "--json"])
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout)
    assert data["configuration_version"] == 1 and data["changed"] and not data["ready"]
    assert [s["script"] for s in data["scripts"]] == ["migration", "artefact clean-up", "default population"]
    second = CliRunner().invoke(app, ["upgrade", "--org", "demo"])
    assert second.exit_code == 0 and "nothing changed: already upgraded" in second.stdout
    assert "FAIL roles of the service account bigpanda.svc29" in second.stdout


def test_cli_bad_flags_are_one_line_with_exit_2() -> None:
    for args, words in ((["upgrade", "--org", "a^b"], "'--org'"), (["upgrade", "--nope"], "--nope")):
        result = CliRunner().invoke(app, args, prog_name="bpsn")
        assert result.exit_code == 2
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("bpsn upgrade: error:") and words in lines[0]


def test_cli_prints_the_fixture_it_documents() -> None:
    result = CliRunner().invoke(app, ["upgrade", "--print-fixture"])
    assert result.exit_code == 0 and load_yaml(result.stdout) == fixture_data()

