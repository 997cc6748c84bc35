"""Fixtures the ServiceNow API tests share: the instance in its seeded state on a virtual clock, and
an admin client talking to it in-process.

One instance and its app per pytest worker (tests/pooled_simulators.py), put back as new before
each test (the clock to its start, then `reset()` as `/_sim/reset` does, and what a running
instance keeps: settings, outbound client, dependency overrides, fault and journal ids): the state a
new instance has, for milliseconds instead of the ~0.2 s CPU a new instance and app cost. A test
file that overrides `backend` with an instance of its own still gets a `client` for it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pooled_simulators import backend, pooled_servicenow  # noqa: F401 - fixtures of this folder

from bpsn.simulator.servicenow.app import create_app
from bpsn.simulator.servicenow.backend import ServiceNowBackend

ADMIN = ("admin", "admin")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def client(backend: ServiceNowBackend,
                 pooled_servicenow: tuple[ServiceNowBackend, Any]) -> AsyncIterator[httpx.AsyncClient]:
    pooled, app = pooled_servicenow
    transport = httpx.ASGITransport(app=app if backend is pooled else create_app(backend))
    async with httpx.AsyncClient(transport=transport, base_url="http://sn", auth=ADMIN) as c:
        yield c
