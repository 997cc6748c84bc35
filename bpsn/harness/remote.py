"""A stack started elsewhere, reached by URL: `bpsn up --no-core` in another process (or a CI
service), or two `bpsn sim` processes. The core runs here, in the test process, as it does
for the other harnesses, so a test configures it per scenario exactly as in-process.

What makes it the same bench as the in-process one:
- credentials come from the same `BPSN_BP_*`, `BPSN_SN_*` and `BPSN_*` variables the stack was
  started with (the defaults when none are set);
- before every reset both simulators' clocks begin again, frozen, at the virtual start
  (2026-01-01 00:00:00 UTC), so every test starts at the same instant and only `advance()` moves
  time; the core here reads a clock that follows them;
- the stack must run no core of its own: two cores would share one queue of shares;
- ServiceNow's change notifications reach the core here through a listener on a free loopback
  port of this process (`notify_core_of_changes()` points the outbound message at it), so the
  stack must run on this machine for those scenarios.
"""

from __future__ import annotations

import socket
import ssl
import time
from typing import Any

import httpx

from bpsn.base.clock import SimClock
from bpsn.integration.config.settings import ConnectionSettings
from bpsn.integration.factory import close_runner
from bpsn.simulator.bigpanda.settings import BigPandaSettings
from bpsn.simulator.servicenow.settings import ServiceNowSettings

from bpsn.integration.notifications import NOTIFICATION_PATH, ChangeFollower, NotificationApp, notification_token

from .admin import SharedClock
from .base import EventLoopThread, Harness
from .config import BenchConfig
from .servers import ServerStack, _listen

NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
VIRTUAL_START = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC, as SimClock.virtual()


class RemoteStackError(RuntimeError):
    """The stack at the given URLs cannot be used (not reachable, not ready, wrong credentials)."""


class FollowingClock:
    """The shared clock of a remote stack: `advance()` moves both simulators' clocks (their
    timers fire) and the core's local clock follows them to the same instant."""

    def __init__(self, stack: RemoteStack) -> None:
        self._stack = stack

    def now(self) -> float:
        return self._stack._sim_clock.now()

    def advance(self, seconds: float) -> float:
        remote = self._stack._shared_clock.advance(seconds)
        local = self._stack._sim_clock
        local.advance(max(0.0, remote - local.now()))
        return remote


class RemoteStack(Harness):
    """Both simulators at `bigpanda_url` and `servicenow_url`, and a core in this process."""

    def __init__(self, bigpanda_url: str, servicenow_url: str, *, config: BenchConfig | None = None,
                 ready_timeout: float = 30.0) -> None:
        self.bigpanda_url, self.servicenow_url = bigpanda_url.rstrip("/"), servicenow_url.rstrip("/")
        self._tls = ssl.create_default_context()
        bp = BigPandaSettings(base_url=self.bigpanda_url)
        sn = ServiceNowSettings(instance_url=self.servicenow_url)
        self._sim_clock = SimClock.virtual(VIRTUAL_START)
        self._loop_thread = EventLoopThread("bpsn-remote")
        try:
            self._connect(lambda _url: httpx.HTTPTransport(verify=self._tls, socket_options=NODELAY),
                          self._loop_thread, bp, sn)
            self._wait_ready(ready_timeout)
            self._listen_for_notifications()
            self._shared_clock = SharedClock(self.admins["bigpanda"], self.admins["servicenow"])
            self.clock = FollowingClock(self)
            self.settings = ConnectionSettings(bigpanda_url=self.bigpanda_url, servicenow_url=self.servicenow_url)
            self.config = config or BenchConfig()
            self._restart_clock()
            for admin in self.admins.values():
                admin.reset()
            self._apply_config()
        except BaseException:
            self.close()
            raise

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        waiting = dict(self.admins)
        while waiting:
            waiting = {name: admin for name, admin in waiting.items() if not admin.healthy()}
            if waiting and time.monotonic() > deadline:
                urls = {"bigpanda": self.bigpanda_url, "servicenow": self.servicenow_url}
                raise RemoteStackError("not ready after {:.0f} s: {}".format(
                    timeout, ", ".join(f"{name} at {urls[name]}" for name in waiting)))
            if waiting:
                time.sleep(0.1)  # waiting for another process to come up: real time is all there is
        for admin in self.admins.values():
            try:
                admin.now()  # an admin route: the credentials are right
            except Exception as exc:
                raise RemoteStackError(f"{admin.name}: {exc} (are BPSN_BP_ADMIN_TOKEN and BPSN_SN_ADMIN_PASSWORD "
                                       "the ones the stack was started with?)") from None

    def _listen_for_notifications(self) -> None:
        """The core's notification endpoint on a free loopback port, served on the harness's loop."""
        self.follower = ChangeFollower(lambda: self.runner)
        self._notifying = False
        token = notification_token()
        self._notification_header = f"Bearer {token}"
        self._notify_socket = _listen("127.0.0.1", 0)
        port = self._notify_socket.getsockname()[1]
        self._notify_server = self.run(ServerStack._start(NotificationApp(self.follower, token), self._notify_socket))
        self.notification_url = f"http://127.0.0.1:{port}{NOTIFICATION_PATH}"

    def notify_core_of_changes(self, *, tables: str = "incident", authorization: str | None = None) -> None:
        super().notify_core_of_changes(tables=tables, authorization=authorization)
        self._notifying = True

    def settle_notifications(self) -> None:
        """ServiceNow delivers what is due (and this waits for it), then the core does what its
        notices ask, until nothing more is due now (a watch pass may write and notify again).
        Nothing to do until notifications are on; nor from the core's own waits (they run on the
        harness's loop, which this would wait on)."""
        if not self._notifying or self._loop_thread.on_loop():
            return
        for _ in range(10):
            self.admins["servicenow"].call("POST", "/outbound/flush")
            self.run(self.follower.catch_up())
            if self.follower.due_in() != 0.0:
                return

    def reset(self, config: BenchConfig | None = None) -> None:
        super().reset(config)
        self.follower.forget()
        self._notifying = False

    def advance(self, seconds: float) -> None:
        super().advance(seconds)
        self.settle_notifications()

    # --- the clock --------------------------------------------------------------------------------
    def _restart_clock(self) -> None:
        """Both simulators' clocks begin again, frozen, at the virtual start (a stack started with
        `bpsn up` shares one clock: restarting it twice is harmless), and so does the core's."""
        for admin in self.admins.values():
            admin.call("POST", "/clock/restart", json={"at": VIRTUAL_START, "frozen": True})
        self._sim_clock.restart()

    async def _virtual_sleep(self, seconds: float) -> None:
        """The core's waits move the simulators' clocks too (their timers fire as they fall due)."""
        self.clock.advance(seconds)
        self.slept += seconds

    # --- transports -------------------------------------------------------------------------------
    def _transports(self) -> dict[str, Any]:
        return {f"{side}_transport": self._async_transport(side) for side in ("bigpanda", "servicenow")}

    def _async_transport(self, simulator: str) -> httpx.AsyncBaseTransport:
        return httpx.AsyncHTTPTransport(verify=self._tls, socket_options=NODELAY)

    def close(self) -> None:
        if getattr(self, "runner", None) is not None:
            self.run(close_runner(self.runner))
        if getattr(self, "_notify_server", None) is not None:
            server = self._notify_server

            async def stop_listening() -> None:
                server.should_exit = True
                await server.task  # type: ignore[attr-defined]
            self.run(stop_listening())
            self._notify_socket.close()
        if hasattr(self, "admins"):
            self._close_clients()
        self._loop_thread.stop()
