"""Runs simulators and the integration core as real HTTP servers in one asyncio loop."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import uvicorn
from fastapi import FastAPI

from bpsn.base.clock import SimClock
from bpsn.integration.config.settings import ConnectionSettings
from bpsn.integration.factory import build_runner, close_runner
from bpsn.integration.runner import IntegrationRunner
from bpsn.simulator.bigpanda.app import create_app as create_bigpanda_app
from bpsn.simulator.bigpanda.backend import BigPandaBackend
from bpsn.simulator.bigpanda.settings import BigPandaSettings
from bpsn.simulator.servicenow.app import create_app as create_servicenow_app
from bpsn.simulator.servicenow.backend import ServiceNowBackend
from bpsn.simulator.servicenow.settings import ServiceNowSettings


class ListenError(OSError):
    """host:port cannot be listened on: the port is taken or not allowed, or the host is not this machine's."""

    def __init__(self, host: str, port: int, reason: str, *, bad_host: bool = False, role: str = "") -> None:
        super().__init__(reason)
        self.host, self.port, self.reason, self.bad_host, self.role = host, port, reason, bad_host, role


def listen(host: str, port: int, role: str = "") -> socket.socket:
    """A socket bound to host:port (0: a free port, read back with getsockname) before anyone says "ready"."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError) as exc:
        reason = f"cannot resolve {host!r}: {getattr(exc, 'strerror', None) or exc}"
        raise ListenError(host, port, reason, bad_host=True, role=role) from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: a port in TIME_WAIT is free
        sock.bind(address)
        sock.listen(2048)  # from here on connections wait in the backlog until uvicorn takes them
    except OSError as exc:
        sock.close()
        raise ListenError(host, port, _bind_problem(host, port, exc), bad_host=exc.errno == errno.EADDRNOTAVAIL,
                          role=role) from None
    return sock


def _bind_problem(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} is already in use on {host}"
    if exc.errno == errno.EACCES:
        return f"port {port} needs privileges on {host}"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{host} is not an address of this machine"
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}"


def bound_port(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


class QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signals to its owner, so several can share one loop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serve(app: FastAPI, host: str, port: int, log_level: str = "warning",
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
class Stack:
    bigpanda: BigPandaBackend
    servicenow: ServiceNowBackend
    bigpanda_url: str
    servicenow_url: str
    runner: IntegrationRunner | None
    stop: asyncio.Event = field(default_factory=asyncio.Event)


@contextlib.asynccontextmanager
async def run_stack(*, host: str = "127.0.0.1", bigpanda_port: int = 0, servicenow_port: int = 0,
                    poll_interval: float = 15.0, retrieval_count: int = 30, with_core: bool = True,
                    clock: SimClock | None = None, seed: int = 1) -> AsyncIterator[Stack]:
    """Both simulators (seeded with the demo tenants) and, unless told not to, the core.

    Port 0 is a free port; both are bound first (ListenError, with role bigpanda or servicenow, when
    one cannot be), so the URLs carry the real ports."""
    clock = clock or SimClock()
    with contextlib.ExitStack() as sockets:
        bp_sock = sockets.enter_context(listen(host, bigpanda_port, "bigpanda"))
        sn_sock = sockets.enter_context(listen(host, servicenow_port, "servicenow"))
        async with _serve_stack(host, bp_sock, sn_sock, poll_interval, retrieval_count, with_core, clock,
                                seed) as stack:
            yield stack


@contextlib.asynccontextmanager
async def _serve_stack(host: str, bp_sock: socket.socket, sn_sock: socket.socket, poll_interval: float,
                       retrieval_count: int, with_core: bool, clock: SimClock, seed: int) -> AsyncIterator[Stack]:
    bp_port, sn_port = bound_port(bp_sock), bound_port(sn_sock)
    bp_url, sn_url = f"http://{host}:{bp_port}", f"http://{host}:{sn_port}"
    bigpanda = BigPandaBackend(BigPandaSettings(base_url=bp_url, seed=seed), clock=clock)
    servicenow = ServiceNowBackend(ServiceNowSettings(instance_url=sn_url, seed=seed), clock=clock)
    async with serve(create_bigpanda_app(bigpanda), host, bp_port, sock=bp_sock), \
            serve(create_servicenow_app(servicenow), host, sn_port, sock=sn_sock):
        runner = None
        core_task = None
        stack = Stack(bigpanda, servicenow, bp_url, sn_url, None)
        if with_core:
            settings = ConnectionSettings(bigpanda_url=bp_url, servicenow_url=sn_url, poll_interval=poll_interval,
                                          retrieval_count=retrieval_count)
            runner = build_runner(settings, clock=clock, seed=seed)
            stack.runner = runner
            core_task = asyncio.create_task(runner.run(stack.stop))
        try:
            yield stack
        finally:
            stack.stop.set()
            if core_task is not None:
                await core_task
            if runner is not None:
                await close_runner(runner)
