"""Saves racing for one organisation: never two records of one version, always exactly one current."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from bpsn.integration.clients.http import ApiClient, RetryPolicy
from bpsn.integration.clients.servicenow import ServiceNowClient
from bpsn.integration.config.crypto import ConfigCipher
from bpsn.integration.config.models import IntegrationConfig
from bpsn.integration.config.versioned import TABLE, ConfigStore, NoChange, version_sys_id
from bpsn.simulator.servicenow.backend import ServiceNowBackend

pytestmark = pytest.mark.anyio
ADMIN = ("bigpanda.admin", "bigpanda-admin")
KEY = Fernet.generate_key().decode()


class Recording(httpx.AsyncBaseTransport):
    """Passes requests to the simulator, letting other tasks run first, and keeps (method, path, status)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, *, lose_first_create_answer: bool = False) -> None:
        self.inner = inner
        self.seen: list[tuple[str, str, int]] = []
        self.lose_first_create_answer = lose_first_create_answer

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)  # as on a network: other savers move while this request is on its way
        response = await self.inner.handle_async_request(request)
        self.seen.append((request.method, request.url.path, response.status_code))
        if self.lose_first_create_answer and request.method == "POST":
            self.lose_first_create_answer = False
            await response.aread()
            return httpx.Response(503, json={"error": {"message": "answer lost", "detail": "after handling"}})
        return response


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def connect(backend: ServiceNowBackend,
                  pooled_servicenow: tuple[ServiceNowBackend, Any]) -> AsyncIterator[Callable[..., tuple[ConfigStore, Recording]]]:
    _, app = pooled_servicenow
    clients: list[httpx.AsyncClient] = []

    def make(**transport_options: bool) -> tuple[ConfigStore, Recording]:
        transport = Recording(httpx.ASGITransport(app=app), **transport_options)
        http = httpx.AsyncClient(transport=transport, base_url="http://sn", auth=ADMIN)
        clients.append(http)
        api = ApiClient(http, policy=RetryPolicy(max_attempts=3, base=0.0))
        return ConfigStore(ServiceNowClient(api), ConfigCipher(KEY)), transport

    yield make
    for c in clients:
        await c.aclose()


def config(n: int) -> IntegrationConfig:
    return IntegrationConfig().replace(bearer_token=f"BPUrace-{n:04d}", retrieval_count=n)


def stored(backend: ServiceNowBackend, org: str) -> list[dict[str, str]]:
    return [row for row in backend.store.select(TABLE) if row["organization"] == org]


async def test_concurrent_saves_get_distinct_versions_and_leave_one_current(connect, backend) -> None:
    savers = [connect() for _ in range(8)]
    saved = await asyncio.gather(*(store.save("demo", config(n + 1), f"saver {n}") for n, (store, _) in
                                   enumerate(savers)))
    assert sorted(v.version for v in saved) == list(range(1, 9))
    rows = stored(backend, "demo")
    assert sorted(int(r["version"]) for r in rows) == list(range(1, 9))  # no version twice
    assert [r["version"] for r in rows if r["current"] == "true"] == ["8"]
    assert all(r["sys_id"] == version_sys_id("demo", int(r["version"])) for r in rows)
    # the race was real: inserts were refused because another saver had taken the number
    refused = sum(1 for _, t in savers for method, path, status in t.seen if method == "POST" and status == 403)
    assert refused > 0
    current = await savers[0][0].current("demo")
    assert current is not None and current.version == 8
    # each saver's own version holds its own configuration
    for v in saved:
        assert (await savers[0][0].get("demo", v.version)).config == v.config


async def test_racing_rollbacks_and_saves_of_two_organisations(connect, backend) -> None:
    (a, _), (b, _), (c, _) = connect(), connect(), connect()
    await a.save("demo", config(1))
    await a.save("acme", config(1))
    await asyncio.gather(a.save("demo", config(2)), b.save("demo", config(3)), c.save("acme", config(4)),
                         b.save("acme", config(5)))
    await asyncio.gather(a.rollback("demo", 1), b.save("demo", config(6)))
    for org, versions in (("demo", 5), ("acme", 3)):
        rows = stored(backend, org)
        assert sorted(int(r["version"]) for r in rows) == list(range(1, versions + 1))
        assert [int(r["version"]) for r in rows if r["current"] == "true"] == [versions]


async def test_identical_concurrent_saves_make_one_version(connect, backend) -> None:
    (a, _), (b, _) = connect(), connect()
    await a.save("demo", config(1))
    outcomes = await asyncio.gather(a.save("demo", config(2), "same"), b.save("demo", config(2), "same"),
                                    return_exceptions=True)
    versions = [o.version for o in outcomes if not isinstance(o, BaseException)]
    assert all(isinstance(o, NoChange) for o in outcomes if isinstance(o, BaseException))
    assert set(versions) == {2}
    assert sorted(int(r["version"]) for r in stored(backend, "demo")) == [1, 2]


async def test_a_save_whose_answer_was_lost_is_not_saved_twice(connect, backend) -> None:
    store, transport = connect(lose_first_create_answer=True)
    v1 = await store.save("demo", config(1), "first")
    assert v1.version == 1 and v1.current
    posts = [(m, s) for m, _, s in transport.seen if m == "POST"]
    assert posts == [("POST", 201), ("POST", 403)]  # the retry met its own record
    assert len(stored(backend, "demo")) == 1
