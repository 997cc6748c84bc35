"""Fixtures the ServiceNow API tests share: the instance in its seeded state on a virtual clock, and
an admin client talking to it in-process.

One instance and its app per pytest worker, put back before each test (the clock to its start,
then `reset()`, as `/_sim/reset` does): the state a new instance has, for milliseconds instead of
the ~0.2 s CPU a new instance and app cost. A test file that overrides `backend` with an instance
of its own still gets a `client` for it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from bpsn.base.clock import SimClock
from bpsn.simulator.servicenow.app import create_app
from bpsn.simulator.servicenow.backend import ServiceNowBackend

ADMIN = ("admin", "admin")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def pooled_servicenow() -> tuple[ServiceNowBackend, Any]:
    backend = ServiceNowBackend(clock=SimClock.virtual())
    return backend, create_app(backend)


@pytest.fixture
def backend(pooled_servicenow: tuple[ServiceNowBackend, Any]) -> Iterator[ServiceNowBackend]:
    backend, _ = pooled_servicenow
    outbound_client = backend.outbound.client  # a test may point the outbound messages elsewhere
    backend.clock.restart()  # first: the instance seeds its records at the start instant
    backend.reset()
    yield backend
    backend.outbound.client = outbound_client


@pytest.fixture
async def client(backend: ServiceNowBackend,
                 pooled_servicenow: tuple[ServiceNowBackend, Any]) -> AsyncIterator[httpx.AsyncClient]:
    pooled, app = pooled_servicenow
    transport = httpx.ASGITransport(app=app if backend is pooled else create_app(backend))
    async with httpx.AsyncClient(transport=transport, base_url="http://sn", auth=ADMIN) as c:
        yield c
