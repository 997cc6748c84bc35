"""The core's Batch API writer against the ServiceNow simulator: many writes, few requests."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from pooled_simulators import running_servicenow_pool

from bpsn.integration.clients.batch import BatchWriter
from bpsn.integration.clients.http import ApiClient
from bpsn.integration.clients.servicenow import ServiceNowClient
from bpsn.simulator.servicenow.backend import ServiceNowBackend

Pooled = tuple[ServiceNowBackend, Any]  # the instance and its app


@pytest.fixture
def instance() -> Pooled:
    """The process's pooled instance (tests/pooled_simulators.py) as a new one starts: its clock, then
    its seeded records (as /_sim/reset)."""
    pool = running_servicenow_pool()
    return pool.as_new(), pool.app


def test_writes_go_in_chunks_each_with_its_own_outcome(instance: Pooled) -> None:
    _, app = instance

    async def scenario() -> None:
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sn.test",
                                 auth=("admin", "admin"))
        client = ServiceNowClient(ApiClient(http))
        writer = BatchWriter(client, max_items=4)
        creates = [writer.add("POST", "incident", {"short_description": f"n{i}"}, sys_id=f"{i:032x}")
                   for i in range(1, 10)]
        refused = writer.add("PATCH", "incident", {"short_description": "x"}, sys_id="f" * 32)  # no such record
        done = await writer.send()
        assert writer.requests == 3 and len(done) == 10
        assert all(w.ok and w.result and w.result["sys_id"] == w.sys_id for w in creates)
        assert refused.status == 404 and not refused.ok and refused.error
        update = writer.add("PATCH", "incident", {"short_description": "changed"}, sys_id=creates[0].sys_id)
        await writer.send()
        assert update.ok and update.result["short_description"] == "changed"
        await http.aclose()

    asyncio.run(scenario())


def test_batch_items_are_journaled_as_such_so_requests_can_be_counted(instance: Pooled) -> None:
    backend, app = instance

    async def scenario() -> None:
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sn.test",
                                 auth=("admin", "admin"))
        writer = BatchWriter(ServiceNowClient(ApiClient(http)))
        for i in range(3):
            writer.add("POST", "incident", {"short_description": f"n{i}"})
        await writer.send()
        await http.aclose()

    asyncio.run(scenario())
    entries = backend.journal.find()
    network = [e for e in entries if "batch-item" not in e.notes]
    assert [e.path for e in network] == ["/api/now/v1/batch"]
    assert len(entries) == 4
