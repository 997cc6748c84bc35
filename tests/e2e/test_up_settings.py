"""`bpsn up`'s settings: its flag, else its BPSN_* variable, else the default; the banner says which;
a bad value is one line naming what the operator set, exit 2; --fixtures and --state-file."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path

import httpx
import pytest
from bpsn_up_process import bpsn_up, eventually, run_up
from cli_invoke import refusal

from bpsn.cli.up import SETTINGS

pytestmark = [pytest.mark.e2e, pytest.mark.slow(seconds=10)]


def assert_refused_naming(proc: subprocess.CompletedProcess[str], named: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.count("\n") == 1 and " up: error: " in proc.stderr, proc.stderr
    assert named in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and "bpsn is up" not in proc.stdout


@pytest.mark.parametrize(("env", "args", "named"), [
    ({"BPSN_POLL_INTERVAL": "fast"}, (), "BPSN_POLL_INTERVAL='fast'"),
    ({"BPSN_POLL_INTERVAL": "-1"}, (), "BPSN_POLL_INTERVAL='-1'"),
    ({"BPSN_RETRIEVAL_COUNT": "500"}, (), "BPSN_RETRIEVAL_COUNT='500'"),
    ({"BPSN_LOG_LEVEL": "loud"}, (), "BPSN_LOG_LEVEL='loud'"),
    ({"BPSN_SEED": "one"}, (), "BPSN_SEED='one'"),
    ({"BPSN_FIXTURES": "missing.yaml"}, (), "BPSN_FIXTURES"),
    ({}, ("--fixtures", "missing.yaml"), "'--fixtures'"),
    ({}, ("--log-level", "loud"), "'--log-level'"),
], ids=["interval-word", "interval-negative", "retrieval-range", "log-level", "seed", "fixtures-env",
        "fixtures-flag", "log-level-flag"])
def test_a_bad_setting_is_one_line_naming_the_flag_or_the_variable(
        env: dict[str, str], args: tuple[str, ...], named: str) -> None:
    """Refused before anything is built: in this process, as the console script runs it (cli_invoke)."""
    assert_refused_naming(refusal("up", "--bigpanda-port", "0", "--servicenow-port", "0", *args, env=env), named)


def test_a_host_that_is_not_this_machine_names_its_variable(tmp_path: Path) -> None:
    """Refused when the simulators bind: a process of its own."""
    assert_refused_naming(run_up(tmp_path, "--bigpanda-port", "0", env={"BPSN_HOST": "no-such-host.invalid"}),
                          "BPSN_HOST")


def test_the_banner_shows_each_setting_in_force_and_where_it_came_from(tmp_path: Path) -> None:
    env = {"BPSN_POLL_INTERVAL": "0.2", "BPSN_SEED": "5", "BPSN_RETRIEVAL_COUNT": "9"}
    with bpsn_up(tmp_path, "--retrieval-count", "7", env=env) as up:
        banner = up.text()
        rows = {m[0]: (m[1], m[2]) for m in re.findall(r"│ (--[a-z/-]+)\s+│ (\S+)\s+│ (\S+)\s+│", banner)}
        assert set(rows) == {s.flag for s in SETTINGS.values()}, banner
        assert rows["--poll-interval"] == ("0.2", "BPSN_POLL_INTERVAL")
        assert rows["--seed"] == ("5", "BPSN_SEED")
        assert rows["--retrieval-count"] == ("7", "--retrieval-count")  # the flag wins over its variable
        assert rows["--host"] == ("127.0.0.1", "default")
        assert rows["--log-level"] == ("info", "default")
        assert rows["--core/--no-core"] == ("True", "default")

        def polls() -> int:
            r = up.bp_admin("GET", "/journal", params={"path": "/integrations/v3/servicenow/shares"})
            return int(r.json()["total"])
        # the core polls at BPSN_POLL_INTERVAL: at the default 15 s it would not reach 5 polls in 10 s
        eventually(lambda: polls() >= 5, "5 polls at BPSN_POLL_INTERVAL=0.2", timeout=10)
        limits = [e["query"] for e in up.bp_admin("GET", "/journal", params={
            "path": "/integrations/v3/servicenow/shares"}).json()["entries"]]
        assert limits and all("limit=7" in q for q in limits), limits


def test_the_core_uses_the_simulators_credentials_and_the_banner_masks_them(tmp_path: Path) -> None:
    env = {"BPSN_BP_INCIDENTS_APP_KEY": "incidents-key-from-the-vault",
           "BPSN_BP_USER_API_KEY": "BPUuser-key-from-the-vault",
           "BPSN_SN_INTEGRATION_PASSWORD": "sn-password-from-the-vault",
           "BPSN_INCIDENTS_APP_KEY": "a-core-only-key"}
    with bpsn_up(tmp_path, "--poll-interval", "0.2", env=env) as up:
        assert up.send_alert("web-creds-01").is_success
        eventually(up.tickets, "a ticket made with the overridden credentials")
        banner = up.text()
    out = up.text()
    for value in env.values():
        assert value not in out
    assert "(set by BPSN_BP_INCIDENTS_APP_KEY)" in banner and "(set by BPSN_BP_USER_API_KEY)" in banner
    assert "BPSN_INCIDENTS_APP_KEY is for `bpsn core`" in banner


FIXTURES = {
    "organizations": [{"name": "acme", "org_token": "acme-org-token",
                       "user_api_keys": {"BPUacme-user-key": "integration@acme.example.com"},
                       "app_keys": {"alerts": "acme-alerts-app-key", "incidents": "acme-incidents-app-key"},
                       "environments": [{"name": "production", "filter": "", "autoshare_targets": ["servicenow"]}]}],
    "tables": {"sys_user_group": [{"name": "Payments On-Call", "email": "payments-oncall@example.com"}]},
}


def test_fixtures_are_loaded_into_both_simulators_at_start(tmp_path: Path) -> None:
    (tmp_path / "seed.json").write_text(json.dumps(FIXTURES))
    with bpsn_up(tmp_path, "--fixtures", "seed.json") as up:
        groups = httpx.get(f"{up.servicenow_url}/api/now/table/sys_user_group", auth=("admin", "admin"),
                           params={"sysparm_query": "name=Payments On-Call"}, timeout=10).json()["result"]
        assert len(groups) == 1
        assert up.bp_admin("GET", "/organizations/acme/rate-limits").status_code == 200
        assert "fixtures loaded: 1 ServiceNow records; acme" in up.text()


def test_bad_fixtures_start_nothing(tmp_path: Path) -> None:
    bad = dict(FIXTURES, tables={"no_such_table": [{"name": "x"}]})
    (tmp_path / "seed.json").write_text(json.dumps(bad))
    proc = run_up(tmp_path, "--fixtures", "seed.json")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "'--fixtures'" in proc.stderr and "no_such_table" in proc.stderr, proc.stderr
    (tmp_path / "other.yaml").write_text("users: []\n")
    proc = run_up(tmp_path, "--fixtures", "other.yaml")
    assert proc.returncode == 2 and "'users'" in proc.stderr, proc.stderr


def test_the_state_file_is_saved_on_sigterm_and_loaded_at_the_next_start(tmp_path: Path) -> None:
    state = tmp_path / "stack-state.json"
    with bpsn_up(tmp_path, "--state-file", str(state), "--poll-interval", "0.2", stop=signal.SIGTERM) as up:
        assert up.send_alert("web-state-01").is_success
        ticket = eventually(up.tickets, "a ticket before the stop")[0]
    assert up.proc.returncode == 0, up.text()
    assert f"state saved to {state}" in up.text()
    assert oct(state.stat().st_mode & 0o777) == "0o600"
    (tmp_path / "seed.json").write_text(json.dumps(FIXTURES))
    with bpsn_up(tmp_path, "--state-file", str(state), "--fixtures", "seed.json", stop=signal.SIGINT) as again:
        assert f"state loaded from {state}; fixtures --fixtures not applied" in again.text()
        assert [t["sys_id"] for t in again.tickets()] == [ticket["sys_id"]]
        incidents = httpx.get(f"{again.bigpanda_url}/resources/v2.0/environments/production/incidents",
                              headers={"Authorization": "Bearer BPUdemo-user-key"}, timeout=10).json()
        assert incidents["total"] == 1
        assert again.bp_admin("GET", "/organizations/acme/rate-limits").status_code == 404  # fixtures skipped
    assert f"state saved to {state}" in again.text()


def test_a_damaged_state_file_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text('{"format": "something-else"}')
    proc = run_up(tmp_path, env={"BPSN_STATE_FILE": "state.json"})
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "BPSN_STATE_FILE" in proc.stderr and "not a bpsn up state file" in proc.stderr, proc.stderr
