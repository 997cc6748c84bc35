"""Both simulators as real HTTP servers on loopback, and the core, in a background thread.

What the `bpsn_stack` fixture and `bpsn.running(...)` give: clients of your own (or a real
client library) talk to `bigpanda_url` and `servicenow_url` over sockets, exactly as they would
to the SaaS services. The servers live until `close()`; `reset()` gives the next test the
seeded state again without restarting them. The core does not poll on its own: `poll()` runs
one cycle now, so a test decides when the core acts (`poll_interval` starts its own loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import uvicorn

from bpsn.base.clock import SimClock
from bpsn.integration.config.settings import ConnectionSettings
from bpsn.integration.factory import close_runner
from bpsn.simulator.bigpanda.app import create_app as create_bigpanda_app
from bpsn.simulator.bigpanda.backend import BigPandaBackend
from bpsn.simulator.bigpanda.settings import BigPandaSettings
from bpsn.simulator.servicenow.app import create_app as create_servicenow_app
from bpsn.simulator.servicenow.backend import ServiceNowBackend
from bpsn.simulator.servicenow.settings import ServiceNowSettings

from .admin import SharedClock
from .base import EventLoopThread, Harness
from .config import BenchConfig

START_TIMEOUT = 30.0
# a request's headers and body leave in two writes: without this, Nagle holds the body until the
# server's delayed ACK (40 ms on Linux) for every POST the harness makes
NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


class _Server(uvicorn.Server):
    """Leaves signals to the test process (several servers share one loop in a thread)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _listen(host: str, port: int) -> socket.socket:
    """A bound, listening socket: the port is ours before anything is printed or returned."""
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on such sockets (and their accepted
    # connections); without it every answer waits 40 ms for the client's delayed ACK
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


class ServerStack(Harness):
    """Two uvicorn servers and a core on one event loop, in a daemon thread of this process."""

    def __init__(self, *, host: str = "127.0.0.1", bigpanda_port: int = 0, servicenow_port: int = 0,
                 seed: int = 1, config: BenchConfig | None = None, virtual_clock: bool = True,
                 poll_interval: float | None = None) -> None:
        self._tls = ssl.create_default_context()
        self._sockets = [_listen(host, bigpanda_port), _listen(host, servicenow_port)]
        bp_port, sn_port = (s.getsockname()[1] for s in self._sockets)
        self.bigpanda_url, self.servicenow_url = f"http://{host}:{bp_port}", f"http://{host}:{sn_port}"
        self._sim_clock = SimClock.virtual() if virtual_clock else SimClock()
        bp = BigPandaSettings(base_url=self.bigpanda_url, seed=seed)
        sn = ServiceNowSettings(instance_url=self.servicenow_url, seed=seed)
        self.bigpanda_backend = BigPandaBackend(bp, clock=self._sim_clock)
        self.servicenow_backend = ServiceNowBackend(sn, clock=self._sim_clock)
        self._loop_thread = EventLoopThread("bpsn-stack")
        self._servers: list[_Server] = []
        self._core_task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        try:
            for app, sock in ((create_bigpanda_app(self.bigpanda_backend), self._sockets[0]),
                              (create_servicenow_app(self.servicenow_backend), self._sockets[1])):
                self._servers.append(self.run(self._start(app, sock), timeout=START_TIMEOUT))
            self._connect(lambda _url: httpx.HTTPTransport(socket_options=NODELAY), self._loop_thread, bp, sn)
            self.clock = SharedClock(self.admins["bigpanda"], self.admins["servicenow"])
            self.settings = ConnectionSettings(bigpanda_url=self.bigpanda_url, servicenow_url=self.servicenow_url,
                                               poll_interval=poll_interval or 15.0)
            self.config = config or BenchConfig()
            self._apply_config()
            if poll_interval is not None:
                self.run(self._start_core_loop())
        except BaseException:
            self.close()
            raise

    @staticmethod
    async def _start(app: Any, sock: socket.socket) -> _Server:
        server = _Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False))
        task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
        while not server.started:
            if task.done():
                task.result()  # raises why it could not start
                raise RuntimeError("a simulator stopped during start-up")
            await asyncio.sleep(0.005)
        server.task = task  # type: ignore[attr-defined]
        return server

    def _transports(self) -> dict[str, Any]:
        """Network transports for a new core; one TLS context serves them all (a context per
        client costs ~30 ms of loading certificates)."""
        return {f"{side}_transport": httpx.AsyncHTTPTransport(verify=self._tls, socket_options=NODELAY)
                for side in ("bigpanda", "servicenow")}

    def _async_transport(self, simulator: str) -> httpx.AsyncBaseTransport:
        return httpx.AsyncHTTPTransport(verify=self._tls, socket_options=NODELAY)

    async def _start_core_loop(self) -> None:
        self._stop = asyncio.Event()
        self._core_task = asyncio.get_running_loop().create_task(self.runner.run(self._stop))

    def reset(self, config: BenchConfig | None = None) -> None:
        looping = self._core_task is not None
        if looping:
            self.run(self._stop_core_loop())
        super().reset(config)
        if looping:
            self.run(self._start_core_loop())

    async def _stop_core_loop(self) -> None:
        self._stop.set()
        if self._core_task is not None:
            await self._core_task
            self._core_task = None

    def close(self) -> None:
        async def shutdown() -> None:
            await self._stop_core_loop()
            if getattr(self, "runner", None) is not None:
                await close_runner(self.runner)
            for server in self._servers:
                server.should_exit = True
            for server in self._servers:
                with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
                    await asyncio.wait_for(server.task, 10)  # type: ignore[attr-defined]
        with contextlib.suppress(Exception):
            self.run(shutdown())
        if hasattr(self, "admins"):
            self._close_clients()
        self._loop_thread.stop()
        for sock in self._sockets:
            sock.close()
        self.servicenow_backend.store.close()


@contextlib.contextmanager
def running(**options: Any) -> Iterator[ServerStack]:
    """`with bpsn.running() as stack:` both simulators and the core, as in the `bpsn_stack`
    fixture, for unittest and scripts. Options: host, bigpanda_port, servicenow_port, seed,
    config (a BenchConfig), virtual_clock (default True), poll_interval (the core polls on its
    own when given)."""
    stack = ServerStack(**options)
    try:
        yield stack
    finally:
        stack.close()
