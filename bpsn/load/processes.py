"""Child processes of a load run: the simulators, the core, Locust master and workers.

Every child runs in its own session, so a Ctrl-C at the terminal reaches only `bpsn load`,
which then stops the children in order (Locust first, so it writes its reports). Children
are only ever stopped by their own pid: SIGINT, then SIGKILL after a grace period.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class StartError(RuntimeError):
    """A child exited or did not become ready in time."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def child_env(**extra: str) -> dict[str, str]:
    """This environment plus `extra` (children import the installed bpsn, as this process does)."""
    env = dict(os.environ, **extra)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


@dataclass
class Child:
    name: str
    args: list[str]
    log_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> Child:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(self.args, env=child_env(**self.env), stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, grace: float = 10.0) -> int | None:
        """SIGINT, wait up to `grace` seconds, then SIGKILL; the exit code (None if never started)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGINT)
                return self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait(10)

    def usage(self) -> dict[str, float]:
        """CPU seconds (user + system) and peak RSS so far, from /proc (empty where there is no /proc)."""
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return {}
        after_name = stat[stat.rindex(")") + 2:].split()  # field 3 onwards; the name may hold spaces
        utime, stime = int(after_name[11]), int(after_name[12])  # fields 14 and 15
        hwm_kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)
        return {"cpu_seconds": round((utime + stime) / CLOCK_TICKS, 2), "user_seconds": round(utime / CLOCK_TICKS, 2),
                "system_seconds": round(stime / CLOCK_TICKS, 2), "peak_rss_mb": round(hwm_kb / 1024, 1)}


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "bpsn.cli", *args]


def locust(*args: str) -> list[str]:
    return [sys.executable, "-m", "locust", *args]


def wait_until(ready: Callable[[], bool], children: list[Child], timeout: float, what: str) -> None:
    """Poll `ready` until true; StartError if a child dies or the time runs out."""
    deadline = time.monotonic() + timeout
    while not ready():
        for child in children:
            if not child.alive():
                raise StartError(f"{child.name} exited with {child.proc.returncode if child.proc else '?'} "
                                 f"before {what}:\n{child.tail()}")
        if time.monotonic() > deadline:
            raise StartError(f"{what}: not within {timeout:g} s\n" + "\n".join(
                f"--- {c.name} ---\n{c.tail(1500)}" for c in children))
        time.sleep(0.1)


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/_sim/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


class Group:
    """Children stopped in reverse order of start (Locust before the core before the simulators)."""

    def __init__(self) -> None:
        self.children: list[Child] = []

    def start(self, child: Child) -> Child:
        self.children.append(child)
        return child.start()

    def stop_all(self, grace: float = 10.0) -> dict[str, int | None]:
        codes: dict[str, int | None] = {}
        for child in reversed(self.children):
            try:
                codes[child.name] = child.stop(grace)
            except Exception:  # keep stopping the others whatever happens to one
                codes[child.name] = None
        return codes
