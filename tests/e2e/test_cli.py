"""The `bpsn` command as a user runs it: help everywhere, the simulators, the demo."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cli_invoke import invoke

from bpsn.cli.main import app
from bpsn.load.processes import child_env, free_port

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = [[], ["sim"], ["sim", "bigpanda"], ["sim", "servicenow"], ["up"], ["core"], ["demo"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "bpsn")
def test_every_command_has_help(command: list[str]) -> None:
    result = invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def healthy(client: httpx.Client, url: str) -> bool:
    """bpsn.load.processes.healthy's check on one client: httpx.get() builds a client and its SSL
    context on each call, ~30 ms of this process's CPU per poll while the simulator starts."""
    try:
        return client.get(f"{url}/_sim/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client() as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"exited early: {proc.stderr.read().decode() if proc.stderr else ''}")
            if healthy(client, url):
                return
            time.sleep(0.1)
    raise AssertionError(f"{url} never became healthy")


@pytest.fixture
def simulator(request: pytest.FixtureRequest) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bpsn.cli", "sim", request.param, "--port", str(port)],
                            cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        yield url
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.e2e
@pytest.mark.parametrize("simulator", ["servicenow"], indirect=True)
def test_servicenow_simulator_serves_the_table_api(simulator: str) -> None:
    r = httpx.post(f"{simulator}/api/now/table/incident", auth=("admin", "admin"),
                   json={"short_description": "from the CLI test"})
    assert r.status_code == 201 and r.json()["result"]["number"].startswith("INC")
    assert httpx.get(f"{simulator}/api/now/table/incident", timeout=5).status_code == 401
    assert httpx.get(f"{simulator}/openapi.json", timeout=5).json()["info"]["title"].startswith("bpsn ServiceNow")


@pytest.mark.e2e
@pytest.mark.parametrize("simulator", ["bigpanda"], indirect=True)
def test_bigpanda_simulator_takes_alerts(simulator: str) -> None:
    r = httpx.post(f"{simulator}/data/v2/alerts", headers={"Authorization": "Bearer demo-org-token"},
                   json={"app_key": "demo-alerts-app-key", "status": "critical", "host": "web-1"})
    assert r.status_code == 201 and r.json()["alerts"][0]["incident_id"]


@pytest.mark.e2e
def test_demo_ends_with_one_ticket_per_incident() -> None:
    proc = subprocess.run([sys.executable, "-m", "bpsn.cli", "demo", "--hosts", "8", "--timeout", "20"],
                          cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK: every BigPanda incident became exactly one ServiceNow incident" in proc.stdout
    for measure in ("alerts sent", "BigPanda incidents", "ServiceNow incidents", "callbacks acknowledged",
                    "alert-to-ticket p50", "alert-to-ticket p95", "alert-to-ticket max"):
        assert measure in proc.stdout
