"""Runs simulators and the integration core as real HTTP servers in one asyncio loop."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bpsn.base.clock import SimClock
from bpsn.base.listening import ListenError, bound_port, listen  # re-exported: bpsn.stack is where they were
from bpsn.simulator.bigpanda.app import create_app as create_bigpanda_app
from bpsn.simulator.bigpanda.backend import BigPandaBackend
from bpsn.simulator.bigpanda.settings import BigPandaSettings
from bpsn.simulator.common.asgi_call import InProcessTransport
from bpsn.simulator.common.dashboard import share_scope
from bpsn.simulator.servicenow.app import create_app as create_servicenow_app
from bpsn.simulator.servicenow.backend import SYSTEM, ServiceNowBackend
from bpsn.simulator.servicenow.records.outbound import SEEDED_SYS_ID as OUTBOUND_SYS_ID
from bpsn.simulator.servicenow.records.outbound import TABLE as OUTBOUND_TABLE
from bpsn.simulator.servicenow.records.outbound import seed_outbound_message
from bpsn.simulator.servicenow.settings import ServiceNowSettings

if TYPE_CHECKING:
    from bpsn.integration.config.settings import ConnectionSettings
    from bpsn.integration.notifications import ChangeFollower
    from bpsn.integration.runner import IntegrationRunner
# The core's modules are imported where a core is built: `bpsn up --no-core` never needs them.


class QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signals to its owner, so several can share one loop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serve(app: FastAPI | ASGIApp, host: str, port: int, log_level: str = "warning",
                sock: socket.socket | None = None) -> AsyncIterator[QuietServer]:
    """The app served on `sock`, or on host:port (ListenError when it cannot be had)."""
    if sock is None:
        sock = listen(host, port)
    server = QuietServer(uvicorn.Config(app, host=host, port=bound_port(sock), log_level=log_level, lifespan="off",
                                        access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # raises the reason it could not start
                raise RuntimeError(f"server on {host}:{port} stopped during start-up")
            await asyncio.sleep(0.01)
        yield server
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
        sock.close()  # uvicorn closes it too, unless it never started


@dataclass
class CoreWiring:
    """How `run_stack` builds the core: its connection settings and seed, so a reset builds the same core
    with no memory."""

    settings: ConnectionSettings
    seed: int
    notifications: bool = True  # ServiceNow's change notifications wake the core between polls


@dataclass
class Stack:
    bigpanda: BigPandaBackend
    servicenow: ServiceNowBackend
    bigpanda_url: str
    servicenow_url: str
    runner: IntegrationRunner | None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    clock: SimClock = field(default_factory=SimClock)
    core: CoreWiring | None = None
    _core_stop: asyncio.Event = field(default_factory=asyncio.Event)
    _core_task: asyncio.Task[None] | None = None
    _reset_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _tls: ssl.SSLContext | None = None
    _follower: ChangeFollower | None = None

    def __post_init__(self) -> None:
        self._clock_start = self._clock_reading()  # a reset after the clock moved restarts it

    def start_core(self) -> None:
        """A new core (no memory but what the two systems hold), polling on its own until stopped."""
        if self.core is None:
            return
        from bpsn.integration.factory import build_runner

        if self._tls is None:  # one TLS context for every core: each client's own costs ~60 ms of certificates
            self._tls = ssl.create_default_context()
        self.runner = build_runner(self.core.settings, clock=self.clock, seed=self.core.seed,
                                   bigpanda_transport=httpx.AsyncHTTPTransport(verify=self._tls),
                                   servicenow_transport=httpx.AsyncHTTPTransport(verify=self._tls))
        if self.core.notifications:
            wire_notifications(self)
        self._resume_core()

    def _resume_core(self) -> None:
        if self.runner is not None:
            self._core_stop = asyncio.Event()
            self._core_task = asyncio.create_task(self.runner.run(self._core_stop))

    async def pause_core(self) -> None:
        """The core's loop stopped after its current cycle (its shares leased now are finished)."""
        self._core_stop.set()
        task, self._core_task = self._core_task, None
        if task is not None:
            await task

    async def stop_core(self) -> None:
        await self.pause_core()
        if self.runner is not None:
            from bpsn.integration.factory import close_runner
            await close_runner(self.runner)

    def _clock_reading(self) -> tuple[bool, float]:
        """Frozen or not, and where: the frozen instant, or a running clock's offset from real time."""
        now = self.clock.now()
        return (True, now) if self.clock.frozen else (False, now - time.time())

    def _clock_moved(self) -> bool:
        (was_frozen, start), (frozen, reading) = self._clock_start, self._clock_reading()
        return frozen != was_frozen or abs(reading - start) > (0 if frozen else 0.5)

    @contextlib.asynccontextmanager
    async def resetting(self) -> AsyncIterator[Callable[[BigPandaBackend | ServiceNowBackend], None]]:
        """Hold the core still while an admin reset is tried; call the yielded function with the
        simulator that accepted it: the clock, both simulators and a core with no memory start again.
        Refused (no credentials, a bad query): the same core goes on, nothing changed."""
        accepted = False

        def accept(reset_already: BigPandaBackend | ServiceNowBackend) -> None:
            nonlocal accepted
            accepted = True
            pending: list[BigPandaBackend | ServiceNowBackend] = [self.bigpanda, self.servicenow]
            if self._clock_moved():  # the one just reset seeded its records at the moved instant: again
                self.clock.restart()
            else:
                pending.remove(reset_already)
            for backend in pending:
                backend.reset()

        async with self._reset_lock:
            await self.pause_core()
            try:
                yield accept
            finally:
                if accepted and self.runner is not None:
                    from bpsn.integration.factory import close_runner
                    await close_runner(self.runner)
                    self.start_core()
                else:
                    self._resume_core()


class ResetsTheStack:
    """ASGI wrapper of one simulator under `run_stack`: a `POST /_sim/reset` that the simulator
    accepts (its own admin credentials and strict query rules apply) resets the whole stack, both
    simulators and the core, before the answer leaves. `bpsn sim NAME` has no wrapper: it resets
    only itself."""

    def __init__(self, app: ASGIApp, stack: Stack, backend: BigPandaBackend | ServiceNowBackend) -> None:
        self.app, self.stack, self.backend = app, stack, backend

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/_sim/reset":
            await self.app(scope, receive, send)
            return
        async with self.stack.resetting() as accept:
            async def answer(message: Message) -> None:
                if message["type"] == "http.response.start" and message["status"] == 200:
                    accept(self.backend)
                await send(message)
            await self.app(scope, receive, answer)


@contextlib.asynccontextmanager
async def run_stack(*, host: str = "127.0.0.1", bigpanda_port: int = 0, servicenow_port: int = 0,
                    poll_interval: float = 15.0, retrieval_count: int = 30, with_core: bool = True,
                    clock: SimClock | None = None, seed: int = 1,
                    bigpanda_settings: BigPandaSettings | None = None,
                    servicenow_settings: ServiceNowSettings | None = None,
                    prepare: Callable[[Stack], None] | None = None,
                    notifications: bool = True) -> AsyncIterator[Stack]:
    """Both simulators (seeded with the demo tenants) and, unless told not to, the core.

    Port 0 is a free port; both are bound first (ListenError, with role bigpanda or servicenow, when
    one cannot be), so the URLs carry the real ports. The simulators' settings (credentials, limits)
    come from `bigpanda_settings` / `servicenow_settings` (default: their BPSN_BP_* / BPSN_SN_*
    environment), and the core connects with the same credentials. `prepare(stack)` runs before
    anything is served or polled (fixtures, a saved state); what it raises ends the start. With
    `notifications` (the default) ServiceNow's change notifications wake the core between polls
    (wire_notifications); without, only its per-cycle delta watch sees ticket changes."""
    clock = clock or SimClock()
    with contextlib.ExitStack() as sockets:
        bp_sock = sockets.enter_context(listen(host, bigpanda_port, "bigpanda"))
        sn_sock = sockets.enter_context(listen(host, servicenow_port, "servicenow"))
        bp_url, sn_url = f"http://{host}:{bound_port(bp_sock)}", f"http://{host}:{bound_port(sn_sock)}"
        bp = (bigpanda_settings or BigPandaSettings()).model_copy(update={"base_url": bp_url, "seed": seed})
        sn = (servicenow_settings or ServiceNowSettings()).model_copy(update={"instance_url": sn_url, "seed": seed})
        stack = Stack(BigPandaBackend(bp, clock=clock), ServiceNowBackend(sn, clock=clock), bp_url, sn_url, None,
                      clock=clock)
        if with_core:
            stack.core = CoreWiring(core_settings(bp, sn, poll_interval, retrieval_count), seed, notifications)
        if prepare is not None:
            prepare(stack)
        bp_app, sn_app = create_bigpanda_app(stack.bigpanda), create_servicenow_app(stack.servicenow)
        whole_stack_dashboards(bp_app, sn_app, stack)
        async with serve(ResetsTheStack(bp_app, stack, stack.bigpanda), host, bound_port(bp_sock), sock=bp_sock), \
                serve(ResetsTheStack(sn_app, stack, stack.servicenow), host, bound_port(sn_sock), sock=sn_sock):
            stack.start_core()
            try:
                yield stack
            finally:
                stack.stop.set()
                await stack.stop_core()


CORE_NOTIFY_HOST = "http://core.inprocess"  # the core's notification app, reached in-process: no port


def __getattr__(name: str) -> Any:
    if name == "CORE_NOTIFY_URL":  # kept importable; its path lives with the core (imported on use)
        from bpsn.integration.notifications import NOTIFICATION_PATH
        return CORE_NOTIFY_HOST + NOTIFICATION_PATH
    raise AttributeError(f"module 'bpsn.stack' has no attribute {name!r}")


def wire_notifications(stack: Stack) -> None:
    """ServiceNow's change notifications to this stack's core (called for every new core: a reset
    reseeds the outbound message inactive)."""
    if stack.runner is None:
        return
    if stack._follower is None:
        from bpsn.integration.notifications import ChangeFollower
        stack._follower = ChangeFollower(lambda: stack.runner)  # type: ignore[arg-type,return-value]
    connect_notifications(stack.servicenow, stack._follower, stack.runner)


def connect_notifications(servicenow: ServiceNowBackend, follower: ChangeFollower, runner: IntegrationRunner) -> None:
    """Activate ServiceNow's outbound change notification and point it at `runner` in-process (an
    ASGI transport to a notification app with a fresh shared token): the core then waits between
    polls with `follower`, so a notice wakes its watch at once."""
    from bpsn.integration.notifications import NOTIFICATION_PATH, NotificationApp, notification_token

    follower.forget()
    token = notification_token()
    old = servicenow.outbound.client
    servicenow.outbound.client = httpx.AsyncClient(transport=InProcessTransport(NotificationApp(follower, token)))
    if old is not None:
        asyncio.get_running_loop().create_task(old.aclose())
    if servicenow.lookup(OUTBOUND_TABLE, OUTBOUND_SYS_ID) is None:  # a state file saved before the table existed
        seed_outbound_message(servicenow.insert_system)
    servicenow.update(OUTBOUND_TABLE, OUTBOUND_SYS_ID, {
        "active": "true", "endpoint": CORE_NOTIFY_HOST + NOTIFICATION_PATH, "auth_header": f"Bearer {token}",
        "exclude_users": runner.watch.user_name}, SYSTEM)  # the core's own writes: nothing to hear
    runner.between_cycles = follower.between_cycles


def core_settings(bp: BigPandaSettings, sn: ServiceNowSettings, poll_interval: float,
                  retrieval_count: int) -> ConnectionSettings:
    """The core wired to these two simulators, with their credentials: the BigPanda user API key and
    org token, the incidents app key, and ServiceNow's integration user (the core's own BPSN_*
    connection variables are for `bpsn core`, which reaches systems it did not start)."""
    from bpsn.integration.config.settings import ConnectionSettings

    return ConnectionSettings(
        bigpanda_url=bp.base_url, servicenow_url=sn.instance_url, poll_interval=poll_interval,
        retrieval_count=retrieval_count, bigpanda_bearer_token=SecretStr(bp.user_api_key),
        bigpanda_api_key=SecretStr(bp.org_token), incidents_app_key=SecretStr(bp.incidents_app_key),
        servicenow_user=sn.integration_user, servicenow_password=SecretStr(sn.integration_password))


# --- dashboards (issue #18): the page at / of either simulator shows the whole stack ---------------
def whole_stack_dashboards(bigpanda_app: FastAPI, servicenow_app: FastAPI, stack: Stack) -> None:
    """`/` on either simulator shows the whole stack: both simulators (incidents beside their
    tickets, both journals, both sets of fault rules) and the core's counters. Links point at each
    simulator's real URL, so a ticket opens on ServiceNow from BigPanda's page too."""
    sides = [dataclasses.replace(app.state.dashboard.sides[0], url=url)
             for app, url in ((bigpanda_app, stack.bigpanda_url), (servicenow_app, stack.servicenow_url))]
    scope = share_scope(sides, core=lambda: core_counters(stack.runner))  # read at each poll: a reset makes a new core
    bigpanda_app.state.dashboard = servicenow_app.state.dashboard = scope


def core_counters(runner: IntegrationRunner | None) -> dict[str, Any] | None:
    """What the dashboard shows of the core: its poll interval and its totals since it (re)started."""
    if runner is None:
        return None
    totals = runner.totals
    return {"poll_interval_s": runner.poll_interval, "shares": totals.shares, "tickets_created": totals.created,
            "tickets_updated": totals.updated, "unchanged": totals.unchanged, "skipped": totals.skipped,
            "errors": totals.errors, "callback_failures": runner.callback_failures}
