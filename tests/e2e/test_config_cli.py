"""`bpsn config` as a user runs it, against a ServiceNow simulator in its own process on a free port.

The commands run in this process as the console script runs them (cli_invoke.as_console_script: the
root command's main, its exit status, stdout and stderr, the value on stdin, the environment),
without a second of interpreter start-up each; one set (a credential piped on stdin) and the wrong-key
show run as `bpsn` subprocesses, the way a user's shell runs them."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from bpsn.cli.main import app
from bpsn.load.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
SECRET = "BPUe2e-clear-bearer-7c41"
OTHER_SECRET = "e2e-clear-api-key-9d02"
KEY = Fernet.generate_key().decode()

sys.path.insert(0, str(Path(__file__).parent))
from cli_invoke import as_console_script, invoke  # noqa: E402
from test_cli import wait_healthy  # noqa: E402

from bpsn.load.processes import child_env  # noqa: E402


@pytest.fixture(scope="module")
def servicenow() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bpsn.cli", "sim", "servicenow", "--port", str(port)],
                            cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        yield url
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _settings(url: str, user: tuple[str, str] | None) -> dict[str, str]:
    env = {"BPSN_SERVICENOW_URL": url, "BPSN_CONFIG_KEY": KEY, "COLUMNS": "200"}
    if user:
        env |= {"BPSN_CONFIG_USER": user[0], "BPSN_CONFIG_PASSWORD": user[1]}
    return env


def _no_clear_credential(proc: subprocess.CompletedProcess[str], args: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    for clear in (SECRET, OTHER_SECRET):
        assert clear not in proc.stdout + proc.stderr, f"clear credential printed by config {args}"
    return proc


def bpsn(url: str, *args: str, stdin: str = "", user: tuple[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`bpsn config ARGS` in this process, in this environment plus the settings given (as
    child_env gives a subprocess)."""
    return _no_clear_credential(as_console_script(["config", *args], env=_settings(url, user), input=stdin), args)


def bpsn_process(url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "bpsn.cli", "config", *args], cwd=ROOT,
                          env=child_env() | _settings(url, None), input=stdin, capture_output=True, text=True,
                          timeout=60)
    return _no_clear_credential(proc, args)


@pytest.mark.parametrize("command", ["show", "history", "diff", "rollback", "set"])
def test_config_commands_have_help(command: str) -> None:
    result = invoke(app, ["config", command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


@pytest.mark.e2e
def test_set_show_history_diff_rollback(servicenow: str) -> None:
    org = "e2e-main"
    assert bpsn(servicenow, "show", "--org", org).returncode == 1  # nothing yet
    first = bpsn_process(servicenow, "set", "bearer_token", "--org", org, "--note", "initial token",
                         stdin=SECRET + "\n")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "version 1 (current), by bigpanda.admin" in first.stdout
    assert bpsn(servicenow, "set", "api_key", "--org", org, stdin=OTHER_SECRET + "\n").returncode == 0
    assert bpsn(servicenow, "set", "retrieval_count", "50", "--org", org, "--note", "bigger").returncode == 0

    show = bpsn(servicenow, "show", "--org", org)
    assert show.returncode == 0 and "version 3 (current)" in show.stdout
    assert "(set)" in show.stdout and "(not set)" in show.stdout and "50" in show.stdout

    history = bpsn(servicenow, "history", "--org", org)
    assert history.returncode == 0
    for text in ("initial token", "bigger", "settings.retrieval_count", "api_key", "bigpanda.admin"):
        assert text in history.stdout

    diff = bpsn(servicenow, "diff", "1", "3", "--org", org)
    assert diff.returncode == 0 and "api_key" in diff.stdout and "changed" in diff.stdout
    assert "settings.retrieval_count" in diff.stdout and "bearer_token" not in diff.stdout

    rollback = bpsn(servicenow, "rollback", "1", "--org", org)
    assert rollback.returncode == 0 and "version 4 (current)" in rollback.stdout
    assert "rollback to version 1" in rollback.stdout
    again = bpsn(servicenow, "rollback", "1", "--org", org)
    assert again.returncode == 1 and "no change" in again.stdout
    shown = bpsn(servicenow, "show", "--org", org)
    assert "version 4" in shown.stdout and "30" in shown.stdout

    # other organisations see none of it
    assert "no configuration" in bpsn(servicenow, "show", "--org", "e2e-other").stdout


@pytest.mark.e2e
def test_credentials_never_come_from_argv(servicenow: str) -> None:
    refused = bpsn(servicenow, "set", "bearer_token", "BPUe2e-clear-bearer-7c41-argv", "--org", "e2e-argv")
    assert refused.returncode == 2 and "never as an argument" in refused.stdout
    assert "no configuration" in bpsn(servicenow, "show", "--org", "e2e-argv").stdout


@pytest.mark.e2e
def test_analyst_reads_masked_and_cannot_change(servicenow: str) -> None:
    org = "e2e-roles"
    assert bpsn(servicenow, "set", "bearer_token", "--org", org, stdin=SECRET + "\n").returncode == 0
    analyst = ("noc.analyst", "analyst")
    show = bpsn(servicenow, "show", "--org", org, user=analyst)
    assert show.returncode == 0 and "(set)" in show.stdout
    denied = bpsn(servicenow, "set", "retrieval_count", "7", "--org", org, user=analyst)
    assert denied.returncode == 1 and "403" in denied.stdout
    raw = httpx.get(f"{servicenow}/api/now/table/x_bip_panda_config", auth=analyst, timeout=5,
                    params={"sysparm_query": f"organization={org}"})
    assert raw.status_code == 200 and SECRET not in raw.text
    assert raw.json()["result"][0]["bearer_token"] == "********"  # x_bip_panda_user: credentials masked
    wrong_key = subprocess.run([sys.executable, "-m", "bpsn.cli", "config", "show", "--org", org], cwd=ROOT,
                               env=child_env() | {"BPSN_SERVICENOW_URL": servicenow, "BPSN_CONFIG_KEY": "other"},
                               capture_output=True, text=True, timeout=60)
    assert wrong_key.returncode == 1 and "BPSN_CONFIG_KEY" in wrong_key.stdout


@pytest.mark.e2e
def test_a_table_setting_is_set_as_json(servicenow: str) -> None:
    mappings = '[{"tag": "team", "field": "assignment_group", "direction": "both"}]'
    done = bpsn(servicenow, "set", "tag_mappings", mappings, "--org", "e2e-json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "assignment_group" in bpsn(servicenow, "show", "--org", "e2e-json").stdout
    bad = bpsn(servicenow, "set", "tag_mappings", '[{"tag": "team"', "--org", "e2e-json")
    assert bad.returncode == 2 and "not valid JSON" in bad.stdout
    wrong = bpsn(servicenow, "set", "tag_mappings", '[{"tag": "team", "field": "x", "direction": "up"}]',
                 "--org", "e2e-json")
    assert wrong.returncode != 0 and "direction" in wrong.stdout
