"""The step library and the fixtures against a stack in other processes, given by URL.

Both simulators run as `bpsn sim` processes on free loopback ports (as a CI service would run
them); the features and a RemoteStack of this process reach them only over HTTP.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bpsn.harness.remote import VIRTUAL_START, RemoteStack, RemoteStackError

pytestmark = pytest.mark.slow(seconds=35)
pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
URL = re.compile(r"simulator on (http://127\.0\.0\.1:\d+)")
UP_URLS = re.compile(r"(BigPanda|ServiceNow) simulator\W+(http://127\.0\.0\.1:\d+)")
# features that reach every part of the step library: views of incidents, activities, tags,
# changes and RCC, maintenance plans, enrichment maps, OIM alerts, the share queue, journals
FEATURES = ["alert_to_ticket", "tag_sync", "reopen", "snooze", "ai_features", "changes_maintenance",
            "cmdb_sync", "oim_feature", "transform_rules", "privacy", "incident_tasks", "notified_changes"]


# Installed pytest plugins the project's features and the usage check never use: without them each
# pytest session here starts on about half the CPU. (The example project's session keeps them all,
# as its CI recipe runs it.)
UNUSED_PLUGINS = "-p no:faker -p no:hypothesispytest -p no:schemathesis -p no:anyio"


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BPSN_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _pytest_environment() -> dict[str, str]:
    env = _environment()
    env["PYTEST_ADDOPTS"] = f"{env.get('PYTEST_ADDOPTS', '')} {UNUSED_PLUGINS}"
    return env


def _launch(simulator: str, output: Path) -> subprocess.Popen[bytes]:
    log = output.open("wb")
    return subprocess.Popen([sys.executable, "-m", "bpsn.cli", "sim", simulator, "--host", "127.0.0.1", "--port", "0"],
                            stdout=log, stderr=subprocess.STDOUT, env=_environment(), cwd=output.parent)


def _ready(simulator: str, proc: subprocess.Popen[bytes], output: Path) -> str:
    """The URL `bpsn sim` printed, once it answers healthy."""
    deadline = time.monotonic() + 60
    while not (found := URL.search(output.read_text(errors="replace"))):
        assert proc.poll() is None, f"bpsn sim {simulator} stopped:\n{output.read_text(errors='replace')}"
        assert time.monotonic() < deadline, f"bpsn sim {simulator} printed no URL"
        time.sleep(0.05)
    url = found.group(1)
    while httpx.get(f"{url}/_sim/health", timeout=5).status_code != 200:
        assert time.monotonic() < deadline, f"bpsn sim {simulator} never became ready"
        time.sleep(0.05)
    return url


def _start_up(output: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    """`bpsn up --no-core`: both simulators in one process, one clock, no core of its own."""
    log = output.open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "bpsn.cli", "up", "--no-core", "--bigpanda-port", "0",
                             "--servicenow-port", "0"], stdout=log, stderr=subprocess.STDOUT,
                            env={**_environment(), "COLUMNS": "200"}, cwd=output.parent)
    deadline = time.monotonic() + 60
    while len(urls := dict(UP_URLS.findall(output.read_text(errors="replace")))) < 2:
        assert proc.poll() is None, f"bpsn up stopped:\n{output.read_text(errors='replace')}"
        assert time.monotonic() < deadline, "bpsn up printed no URLs"
        time.sleep(0.05)
    return proc, urls["BigPanda"], urls["ServiceNow"]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def remote_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    folder = tmp_path_factory.mktemp("remote")
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for simulator in ("bigpanda", "servicenow"):  # both start side by side
            procs[simulator] = _launch(simulator, folder / f"{simulator}.log")
        bp_url, sn_url = (_ready(name, proc, folder / f"{name}.log") for name, proc in procs.items())
        yield bp_url, sn_url
    finally:
        for proc in procs.values():
            _stop(proc)


@pytest.fixture(scope="module")
def up_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    proc, bp_url, sn_url = _start_up(tmp_path_factory.mktemp("up") / "up.log")
    try:
        yield bp_url, sn_url
    finally:
        _stop(proc)


def test_the_project_features_pass_against_bpsn_up_in_another_process(up_urls: tuple[str, str]) -> None:
    bp_url, sn_url = up_urls
    files = [f"features/test_{name}.py" for name in FEATURES]
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                          *files, "--bpsn-remote-bigpanda", bp_url, "--bpsn-remote-servicenow", sn_url],
                         cwd=ROOT, env=_pytest_environment(), capture_output=True, text=True, timeout=600)
    tail = run.stdout[-3000:] + run.stderr[-2000:]
    assert run.returncode == 0, tail
    passed = int(re.search(r"(\d+) passed", run.stdout).group(1))  # type: ignore[union-attr]
    assert passed >= 60 and "failed" not in run.stdout.splitlines()[-1], tail


def test_a_remote_stack_starts_every_test_at_the_virtual_start(remote_urls: tuple[str, str]) -> None:
    stack = RemoteStack(*remote_urls)
    try:
        stack.clock.advance(3600)
        stack.send_alerts({"status": "critical", "host": "db-1", "check": "disk"})
        assert stack.poll().created == 1
        assert len(stack.tickets()) == 1
        stack.reset()
        for admin in stack.admins.values():  # both simulators, and the core's own clock
            assert admin.now() == VIRTUAL_START
        assert stack.clock.now() == VIRTUAL_START
        assert stack.journal.requests() == [] and stack.tickets() == []
        stack.clock.advance(90)
        assert [admin.now() for admin in stack.admins.values()] == [VIRTUAL_START + 90] * 2
        assert stack.clock.now() == VIRTUAL_START + 90
    finally:
        stack.close()


def test_wrong_admin_credentials_are_named(remote_urls: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BPSN_BP_ADMIN_TOKEN", "not-the-stack's-token")
    with pytest.raises(RemoteStackError, match="BPSN_BP_ADMIN_TOKEN"):
        RemoteStack(*remote_urls)


def test_one_url_alone_is_a_usage_error(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """In this process (the usage check runs at configure, before anything is imported for a test)."""
    for name in [n for n in os.environ if n.startswith("BPSN_")]:  # as the other runs here: no BPSN_* of ours
        monkeypatch.delenv(name)
    pytester.makepyfile(test_nothing="def test_it(bpsn_bench):\n    pass\n")
    run = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider", *UNUSED_PLUGINS.split(), "test_nothing.py",
                                       "--bpsn-remote-bigpanda", "http://127.0.0.1:1")
    assert run.ret != 0
    assert "a remote stack needs both URLs; missing --bpsn-remote-servicenow" in run.stdout.str() + run.stderr.str()


def test_the_example_project_runs_against_the_service_as_its_ci_recipe_does(up_urls: tuple[str, str]) -> None:
    """examples/ci: the user's tests and features with BPSN_REMOTE_*_URL naming `bpsn up --no-core`."""
    bp_url, sn_url = up_urls
    env = {**_environment(), "BPSN_REMOTE_BIGPANDA_URL": bp_url, "BPSN_REMOTE_SERVICENOW_URL": sn_url}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", "features"],
                         cwd=ROOT / "examples" / "user-project", env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert re.search(r"\d+ passed", run.stdout), run.stdout[-2000:]
    # the service itself served them: its journal holds the last test's requests
    journal = httpx.get(f"{sn_url}/_sim/journal", auth=("admin", "admin"), timeout=10).json()
    assert journal["total"] > 0, journal
