"""Fixtures the ServiceNow API tests share: a fresh instance on a virtual clock, and an
admin client talking to it in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from bpsn.base.clock import SimClock
from bpsn.simulator.servicenow.app import create_app
from bpsn.simulator.servicenow.backend import ServiceNowBackend

ADMIN = ("admin", "admin")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def backend() -> ServiceNowBackend:
    return ServiceNowBackend(clock=SimClock.virtual())


@pytest.fixture
async def client(backend: ServiceNowBackend) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(backend))
    async with httpx.AsyncClient(transport=transport, base_url="http://sn", auth=ADMIN) as c:
        yield c
