"""`bpsn up` never prints a secret set through the environment; `bpsn wait` blocks until both
simulators are ready; the demo works with any alerts app key."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from bpsn.load.processes import child_env

SECRETS = {"BPSN_BP_ORG_TOKEN": "org-token-from-the-vault", "BPSN_BP_ALERTS_APP_KEY": "alerts-key-from-the-vault",
           "BPSN_BP_ADMIN_TOKEN": "admin-token-from-the-vault", "BPSN_SN_ADMIN_PASSWORD": "sn-admin-from-the-vault",
           "BPSN_SN_OAUTH_CLIENT_SECRET": "oauth-secret-from-the-vault"}


def bpsn(*args: str) -> list[str]:
    return [sys.executable, "-m", "bpsn.cli", *args]


@pytest.mark.e2e
def test_up_shows_where_an_overridden_secret_came_from_never_its_value() -> None:
    proc = subprocess.Popen(bpsn("up", "--bigpanda-port", "0", "--servicenow-port", "0"), env=child_env(**SECRETS),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any("Ctrl-C stops" in line for line in lines):
            lines.append(proc.stdout.readline())
        proc.send_signal(signal.SIGINT)
        out = "".join(lines) + proc.communicate(timeout=20)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for name, value in SECRETS.items():
        assert value not in out, name
    for name in ("BPSN_BP_ORG_TOKEN", "BPSN_BP_ADMIN_TOKEN", "BPSN_SN_ADMIN_PASSWORD"):
        assert f"(set by {name})" in out, out
    assert "Bearer $BPSN_BP_ORG_TOKEN" in out and "$BPSN_BP_ALERTS_APP_KEY" in out


@pytest.mark.e2e
def test_wait_blocks_until_ready_and_fails_in_one_line_on_timeout() -> None:
    up = subprocess.Popen(bpsn("up", "--bigpanda-port", "0", "--servicenow-port", "0"), env=child_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert up.stdout is not None
        urls: list[str] = []
        while len(urls) < 2:
            line = up.stdout.readline()
            assert line, "bpsn up stopped"
            if "simulator" in line and "http://" in line:
                urls.append(line.split("http://", 1)[1].split()[0])
        ready = subprocess.run(bpsn("wait", "--bigpanda-url", f"http://{urls[0]}", "--servicenow-url",
                                    f"http://{urls[1]}", "--timeout", "30"),
                               env=child_env(), capture_output=True, text=True, timeout=60)
        assert ready.returncode == 0 and "ready" in ready.stdout, ready.stdout + ready.stderr
    finally:
        up.send_signal(signal.SIGINT)
        try:
            up.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            up.kill()
            up.communicate()
    late = subprocess.run(bpsn("wait", "--bigpanda-url", "http://127.0.0.1:9", "--servicenow-url",
                               "http://127.0.0.1:9", "--timeout", "0.5"), env=child_env(), capture_output=True,
                          text=True, timeout=30)
    assert late.returncode == 1 and late.stderr.count("\n") == 1 and "not ready" in late.stderr


@pytest.mark.e2e
def test_the_demo_works_with_any_alerts_app_key() -> None:
    proc = subprocess.run(bpsn("demo", "--hosts", "3", "--timeout", "30"),
                          env=child_env(BPSN_BP_ALERTS_APP_KEY="a-key-of-our-own"), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK: every BigPanda incident became exactly one ServiceNow incident" in proc.stdout
