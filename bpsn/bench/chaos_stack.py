"""Both simulators and the core as three separate processes on loopback, for the chaos runs.

Each process is started from the `bpsn` CLI (`bpsn sim bigpanda`, `bpsn sim servicenow`,
`bpsn core`) on ports chosen free once and kept across restarts, so a restarted process is
reached at the same URL. `kill9(name)` is SIGKILL: nothing of the process runs after it (no
signal handler, no `finally`), as in a power cut of that process alone. `stop(name)` is a clean
SIGTERM. The stack is always stopped by `close()` (a context manager), even when a run fails.

A ticket count ends every run: `count(incidents)` says, for the incident ids BigPanda answered
to the alerts, which have no ticket (lost), which more than one (duplicates), and which tickets
carry an id that is not one of those incidents (orphans).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import httpx

from bpsn.load.processes import Child, StartError, cli, free_port, healthy, wait_until
from bpsn.simulator.bigpanda.settings import BigPandaSettings
from bpsn.simulator.servicenow.settings import ServiceNowSettings

START_TIMEOUT = 60.0
HOST = "127.0.0.1"


@dataclass
class TicketCount:
    incidents: int
    lost: list[str]
    duplicates: list[str]
    orphans: list[str]

    @property
    def ok(self) -> bool:
        return not self.lost and not self.duplicates and not self.orphans

    def line(self) -> str:
        return (f"{self.incidents} incidents: lost {len(self.lost)}, duplicates {len(self.duplicates)}, "
                f"tickets without an incident {len(self.orphans)}")


@dataclass
class ProcessStack:
    """Three children sharing one working directory (state files, snapshots, logs)."""

    workdir: Path
    poll_interval: float = 0.5
    share_lease_seconds: float = 5.0
    bigpanda_state: bool = False
    servicenow_state: bool = False
    env: dict[str, str] = field(default_factory=dict)  # extra environment for every child
    core_args: list[str] = field(default_factory=list)  # extra `bpsn core` flags, e.g. --log-level DEBUG

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.logs = self.workdir / "logs"
        self.snapshots = self.workdir / "snapshots"
        self.bp_port, self.sn_port = free_port(HOST), free_port(HOST)
        self.bigpanda_url, self.servicenow_url = f"http://{HOST}:{self.bp_port}", f"http://{HOST}:{self.sn_port}"
        self.bp_settings = BigPandaSettings()  # defaults; `env` overrides what the children read
        self.sn_settings = ServiceNowSettings()
        self.children: dict[str, Child] = {}
        self._starts: Counter[str] = Counter()
        self.bp_admin = httpx.Client(base_url=self.bigpanda_url, timeout=30, headers={
            "X-Bpsn-Admin-Token": self._secret("BPSN_BP_ADMIN_TOKEN", self.bp_settings.admin_token.get_secret_value())})
        self.sn_admin = httpx.Client(base_url=self.servicenow_url, timeout=60, auth=(
            "admin", self._secret("BPSN_SN_ADMIN_PASSWORD", self.sn_settings.admin_password)))
        self.alerts = httpx.Client(base_url=self.bigpanda_url, timeout=30, headers={
            "Authorization": f"Bearer {self._secret('BPSN_BP_ORG_TOKEN', self.bp_settings.org_token)}"})

    def _secret(self, name: str, default: str) -> str:
        return self.env.get(name, default)

    # --- processes ---------------------------------------------------------------------------------
    def _child(self, name: str) -> Child:
        common = {"BPSN_BP_SNAPSHOT_DIR": str(self.snapshots), "BPSN_SN_SNAPSHOT_DIR": str(self.snapshots),
                  **self.env}
        self._starts[name] += 1
        log_name = f"{name}-{self._starts[name]}"
        if name == "bigpanda":
            args = cli("sim", "bigpanda", "--host", HOST, "--port", str(self.bp_port))
            if self.bigpanda_state:
                args += ["--state-file", str(self.bigpanda_state_file)]
            # the alert source posts faster than BigPanda's 5/s; the core keeps its own pacing
            env = {"BPSN_BP_ALERTS_PER_SECOND": "1000000",
                   "BPSN_BP_SHARE_LEASE_SECONDS": f"{self.share_lease_seconds:g}", **common}
        elif name == "servicenow":
            args = cli("sim", "servicenow", "--host", HOST, "--port", str(self.sn_port))
            if self.servicenow_state:
                args += ["--state-file", str(self.servicenow_state_file)]
            env = common
        else:
            args = cli("core", "--poll-interval", f"{self.poll_interval:g}", *self.core_args)
            env = {"BPSN_BIGPANDA_URL": self.bigpanda_url, "BPSN_SERVICENOW_URL": self.servicenow_url,
                   "BPSN_HTTP_TIMEOUT": "5", **common}
        return Child(log_name, args, self.logs, env)

    @property
    def bigpanda_state_file(self) -> Path:
        return self.snapshots / "bigpanda-state.json"  # inside the snapshot dir: /_sim/snapshot/save can write it

    @property
    def servicenow_state_file(self) -> Path:
        return self.workdir / "servicenow-state.sqlite"

    def start(self, name: str, wait: bool = True) -> Child:
        """Start `bigpanda`, `servicenow` or `core`; wait until a simulator is healthy."""
        if name in self.children and self.children[name].alive():
            raise RuntimeError(f"{name} is already running")
        child = self.children[name] = self._child(name).start()
        if wait and name != "core":
            url = self.bigpanda_url if name == "bigpanda" else self.servicenow_url
            wait_until(lambda: healthy(url), [child], START_TIMEOUT, f"{name} healthy")
        return child

    def start_all(self) -> None:
        self.snapshots.mkdir(parents=True, exist_ok=True)
        for name in ("bigpanda", "servicenow"):
            self.start(name, wait=False)
        for name, url in (("bigpanda", self.bigpanda_url), ("servicenow", self.servicenow_url)):
            wait_until(lambda u=url: healthy(u), [self.children[name]], START_TIMEOUT, f"{name} healthy")  # type: ignore[misc]
        self.start("core")
        self.wait_for(self.core_polled, "the core's first poll", [self.children["core"]])

    def kill9(self, name: str) -> None:
        child = self.children[name]
        assert child.proc is not None
        child.proc.kill()  # SIGKILL, by the child's own pid
        child.proc.wait(10)

    def stop(self, name: str) -> int | None:
        """A clean stop: SIGTERM (state files are written), then SIGKILL after 15 s."""
        child = self.children[name]
        if child.proc is None or child.proc.poll() is not None:
            return child.proc.returncode if child.proc else None
        child.proc.terminate()
        try:
            return child.proc.wait(15)
        except subprocess.TimeoutExpired:
            child.proc.kill()
            return child.proc.wait(10)

    def close(self) -> None:
        for name in ("core", "bigpanda", "servicenow"):
            if name in self.children:
                with contextlib.suppress(OSError, subprocess.SubprocessError):  # keep stopping the others
                    self.stop(name)
        for client in (self.bp_admin, self.sn_admin, self.alerts):
            client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def log_mark(self, name: str) -> int:
        """Where `name`'s log ends now: `logged(name, text, mark)` looks only at what follows."""
        try:
            return self.children[name].log.stat().st_size
        except OSError:
            return 0

    def logged(self, name: str, text: str, mark: int = 0) -> bool:
        try:
            with open(self.children[name].log, "rb") as f:
                f.seek(mark)
                return text.encode() in f.read()
        except OSError:
            return False

    def log_text(self) -> str:
        return "\n".join(f"--- {c.name} ---\n{c.tail(2000)}" for c in self.children.values())

    def wait_for(self, ready: Callable[[], bool], what: str, watch: list[Child] | None = None,
                 timeout: float = START_TIMEOUT) -> None:
        wait_until(ready, watch or [], timeout, what)

    # --- traffic and faults ------------------------------------------------------------------------
    def send_alert(self, host: str, status: str = "critical") -> str:
        """One alert on its own host (a new incident, or a change of the host's one); its incident id."""
        key = self._secret("BPSN_BP_ALERTS_APP_KEY", self.bp_settings.alerts_app_key)
        r = self.alerts.post("/data/v2/alerts", json={"app_key": key, "status": status, "host": host,
                                                       "check": "disk"})
        if r.status_code != 201:
            raise StartError(f"alert for {host}: {r.status_code} {r.text[:300]}")
        return str(r.json()["alerts"][0]["incident_id"])

    def add_fault(self, side: str, **rule: Any) -> dict[str, Any]:
        client = self.bp_admin if side == "bigpanda" else self.sn_admin
        r = client.post("/_sim/faults", json=rule)
        if r.status_code != 201:
            raise StartError(f"fault rule {rule} on {side}: {r.status_code} {r.text[:300]}")
        return dict(r.json())

    def clear_faults(self) -> None:
        self.bp_admin.delete("/_sim/faults").raise_for_status()
        self.sn_admin.delete("/_sim/faults").raise_for_status()

    # --- reading state -----------------------------------------------------------------------------
    def queue(self) -> dict[str, Any]:
        return dict(self.bp_admin.get("/_sim/shares").raise_for_status().json())

    def core_polled(self) -> bool:
        try:
            r = self.bp_admin.get("/_sim/journal", params={"path": "/integrations/v3/servicenow/shares",
                                                           "limit": 1}, timeout=2)
            return r.status_code == 200 and r.json()["total"] > 0
        except httpx.HTTPError:
            return False

    def drained(self) -> bool:
        try:
            q = self.queue()
        except httpx.HTTPError:
            return False
        return not q["pending"] and not q["leased"]

    def drain(self, timeout: float = 60.0) -> float:
        """Wait until BigPanda's share queue is empty; the seconds it took."""
        started = time.monotonic()
        watch = list(self.children.values())
        self.wait_for(self.drained, f"an empty share queue ({self.log_text()[-3000:]})", watch, timeout)
        return time.monotonic() - started

    def ticket_ids(self) -> list[str]:
        r = self.sn_admin.get("/api/now/table/incident", params={
            "sysparm_query": "correlation_display=BigPanda", "sysparm_fields": "correlation_id",
            "sysparm_limit": 100_000})
        return [row["correlation_id"] for row in r.raise_for_status().json()["result"]]

    def count(self, incidents: list[str]) -> TicketCount:
        per_incident = Counter(self.ticket_ids())
        wanted = set(incidents)
        return TicketCount(incidents=len(wanted),
                           lost=sorted(i for i in wanted if per_incident[i] == 0),
                           duplicates=sorted(i for i in wanted if per_incident[i] > 1),
                           orphans=sorted(i for i in per_incident if i not in wanted))

    def journal(self, side: str, **query: Any) -> dict[str, Any]:
        client = self.bp_admin if side == "bigpanda" else self.sn_admin
        return dict(client.get("/_sim/journal", params={"limit": 100_000, **query}).raise_for_status().json())

    def dump(self, path: Path, value: Any) -> None:
        path.write_text(json.dumps(value, indent=2) + "\n")
