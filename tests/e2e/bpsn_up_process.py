"""`bpsn up` as a subprocess on free loopback ports, for the e2e tests: its banner read, its URLs
parsed, always stopped (by the signal a test chooses, killed if it does not stop in time).

Requests to the stack go through one httpx.Client per process: `httpx.get()` and friends build a
client, and with it an SSL context from certifi's bundle, on every call (~30 ms of the test's CPU
per request, and `eventually` polls ten times a second). The client keeps no cookies, so each
request carries what the test gave it and nothing from an earlier answer."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from typing import Any

import httpx

from bpsn.load.processes import child_env

URL = re.compile(r"(BigPanda|ServiceNow) simulator\W+(http://[0-9.]+:[0-9]+)")
SN_ADMIN = ("admin", "admin")
BP_ADMIN = {"Authorization": "Bearer bpsn-admin-token"}
BP_ORG_TOKEN = "demo-org-token"
DEMO_ALERTS_APP_KEY = "demo-alerts-app-key"


def bpsn(*args: str) -> list[str]:
    return [sys.executable, "-m", "bpsn.cli", *args]


class UpProcess:
    def __init__(self, proc: subprocess.Popen[bytes], output: Path) -> None:
        self.proc, self.output = proc, output
        self.bigpanda_url = self.servicenow_url = ""
        self._http: httpx.Client | None = None

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])))
        return self._http

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def wait_for_output(self, needle: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while needle not in (text := self.text()):
            assert self.proc.poll() is None, f"bpsn up stopped (exit {self.proc.returncode}):\n{text}"
            assert time.monotonic() < deadline, f"no {needle!r} in bpsn up's output:\n{text}"
            time.sleep(0.05)
        return text

    def stop(self, how: signal.Signals = signal.SIGINT) -> int:
        if self._http is not None:  # its idle keep-alive connections closed before the stack stops
            self._http.close()
            self._http = None
        if self.proc.poll() is None:
            self.proc.send_signal(how)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    # --- the stack over HTTP ---------------------------------------------------------------------
    def send_alert(self, host: str, status: str = "critical", **extra: str) -> httpx.Response:
        return self.http.post(f"{self.bigpanda_url}/data/v2/alerts",
                              headers={"Authorization": f"Bearer {BP_ORG_TOKEN}"},
                              json={"app_key": DEMO_ALERTS_APP_KEY, "status": status, "host": host,
                                    "check": "CPU load", **extra}, timeout=10)

    def tickets(self) -> list[dict[str, Any]]:
        r = self.http.get(f"{self.servicenow_url}/api/now/table/incident", auth=SN_ADMIN, timeout=10,
                          params={"sysparm_query": "correlation_display=BigPanda"})
        r.raise_for_status()
        return list(r.json()["result"])

    def bp_admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, f"{self.bigpanda_url}/_sim{path}", headers=BP_ADMIN, timeout=10, **kwargs)

    def sn_admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, f"{self.servicenow_url}/_sim{path}", auth=SN_ADMIN, timeout=10, **kwargs)


def eventually(check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    """The first truthy answer of `check`, polled: the stack runs on real time in its own process."""
    deadline = time.monotonic() + timeout
    while not (answer := check()):
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.1)
    return answer


@contextmanager
def bpsn_up(tmp_path: Path, *args: str, env: dict[str, str] | None = None,
            stop: signal.Signals = signal.SIGINT) -> Iterator[UpProcess]:
    """`bpsn up` on free ports, ready (its banner printed); stopped by `stop` when the block ends."""
    output = tmp_path / f"up-{time.monotonic_ns()}.log"
    with output.open("wb") as sink:
        proc = subprocess.Popen(bpsn("up", "--bigpanda-port", "0", "--servicenow-port", "0", *args),
                                env=child_env(COLUMNS="200", **(env or {})), cwd=tmp_path, stdout=sink,
                                stderr=subprocess.STDOUT)
    up = UpProcess(proc, output)
    try:
        urls = dict(URL.findall(up.wait_for_output("Ctrl-C stops")))
        up.bigpanda_url, up.servicenow_url = urls["BigPanda"], urls["ServiceNow"]
        yield up
    finally:
        up.stop(stop)


def run_up(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`bpsn up` that is expected to refuse to start."""
    return subprocess.run(bpsn("up", "--bigpanda-port", "0", "--servicenow-port", "0", *args),
                          env=child_env(**(env or {})), cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
