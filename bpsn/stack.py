"""Runs simulators and the integration core as real HTTP servers in one asyncio loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import uvicorn
from fastapi import FastAPI

from bpsn.base.clock import SimClock
from bpsn.integration.config.settings import ConnectionSettings
from bpsn.integration.factory import build_runner, close_runner
from bpsn.integration.runner import IntegrationRunner
from bpsn.load.processes import free_port
from bpsn.simulator.bigpanda.app import create_app as create_bigpanda_app
from bpsn.simulator.bigpanda.backend import BigPandaBackend
from bpsn.simulator.bigpanda.settings import BigPandaSettings
from bpsn.simulator.servicenow.app import create_app as create_servicenow_app
from bpsn.simulator.servicenow.backend import ServiceNowBackend
from bpsn.simulator.servicenow.settings import ServiceNowSettings


class QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signals to its owner, so several can share one loop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serve(app: FastAPI, host: str, port: int, log_level: str = "warning") -> AsyncIterator[QuietServer]:
    server = QuietServer(uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="off",
                                        access_log=False))
    task = asyncio.create_task(server.serve())
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
    """Both simulators (seeded with the demo tenants) and, unless told not to, the core."""
    clock = clock or SimClock()
    bp_port = bigpanda_port or free_port(host)
    sn_port = servicenow_port or free_port(host)
    bp_url, sn_url = f"http://{host}:{bp_port}", f"http://{host}:{sn_port}"
    bigpanda = BigPandaBackend(BigPandaSettings(base_url=bp_url, seed=seed), clock=clock)
    servicenow = ServiceNowBackend(ServiceNowSettings(instance_url=sn_url, seed=seed), clock=clock)
    async with serve(create_bigpanda_app(bigpanda), host, bp_port), \
            serve(create_servicenow_app(servicenow), host, sn_port):
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
