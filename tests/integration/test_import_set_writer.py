"""The core's Import Set writer against the ServiceNow simulator: each write a staging row, all
of them in one insertMultiple, each ticket learned from its row, refusals kept per write."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from pooled_simulators import running_servicenow_pool

from bpsn.integration.clients.batch import BatchError, BatchWrite, BatchWriter
from bpsn.integration.clients.http import ApiClient
from bpsn.integration.clients.import_set import ImportSetWriter, carries, staging_row
from bpsn.integration.clients.servicenow import ServiceNowClient
from bpsn.simulator.servicenow.backend import ServiceNowBackend

CORE = ("bigpanda.integration", "bigpanda")
FIELDS = ["sys_id", "number", "state", "correlation_id", "short_description"]


Simulator = tuple[ServiceNowBackend, Any]  # the backend and its app


@pytest.fixture
def simulator() -> Simulator:
    """The process's pooled simulator (tests/pooled_simulators.py) in the state a new one has (its
    clock runs: reset seeds it anew; it also clears the fault rules a test adds)."""
    pool = running_servicenow_pool()
    return pool.as_new(), pool.app


def run(simulator: Simulator,
        scenario: Callable[[ImportSetWriter, ServiceNowBackend], Awaitable[None]]) -> ServiceNowBackend:
    backend, app = simulator

    async def main() -> None:
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sn.test", auth=CORE)
        client = ServiceNowClient(ApiClient(http))
        await scenario(ImportSetWriter(client, BatchWriter(client), lambda: FIELDS), backend)
        await http.aclose()

    asyncio.run(main())
    return backend


def test_one_insert_multiple_and_one_read_for_many_tickets(simulator: Simulator) -> None:
    async def scenario(writer: ImportSetWriter, backend: ServiceNowBackend) -> None:
        creates = [writer.add("POST", "incident", {"short_description": f"disk {i}", "correlation_id": f"bp-{i}",
                                                   "impact": "2", "urgency": "2"}, sys_id=f"{i:032x}")
                   for i in range(1, 9)]
        sn0 = max((e.id for e in backend.journal.find()), default=0)
        done = await writer.send()
        assert len(done) == 8 and writer.requests == 2
        network = [(e.method, e.path) for e in backend.journal.find(since_id=sn0)]
        assert network == [("POST", "/api/now/import/x_bip_panda_shareincident/insertMultiple"),
                           ("GET", "/api/now/table/x_bip_panda_shareincident")], network
        for i, w in enumerate(creates, start=1):
            assert w.ok and w.status == 201 and w.result is not None, w.error
            assert w.result["sys_id"] == f"{i:032x}" and w.result["number"].startswith("INC")
            assert w.result["correlation_id"] == f"bp-{i}" and w.result["state"] == "1"
        update = writer.add("PATCH", "incident", {"short_description": "disk 1 again"}, sys_id=creates[0].sys_id)
        same = writer.add("PATCH", "incident", {"short_description": "disk 2"}, sys_id=creates[1].sys_id)
        await writer.send()
        assert update.status == 200 and update.result and update.result["short_description"] == "disk 1 again"
        assert same.ok and same.result and same.result["number"] == creates[1].result["number"]  # ignored: as wanted

    run(simulator, scenario)


def test_a_refused_row_is_that_writes_error_and_a_retried_create_finds_its_ticket(simulator: Simulator) -> None:
    async def scenario(writer: ImportSetWriter, backend: ServiceNowBackend) -> None:
        first = writer.add("POST", "incident", {"short_description": "a", "correlation_id": "bp-a"}, sys_id="a" * 32)
        await writer.send()
        resolve = writer.add("PATCH", "incident", {"state": "6"}, sys_id="a" * 32)  # no resolution code
        retried = writer.add("POST", "incident", {"short_description": "a", "correlation_id": "bp-a"}, sys_id="a" * 32)
        await writer.send()
        assert first.status == 201
        assert resolve.status == 400 and not resolve.ok and "Data Policy Exception" in resolve.error
        assert retried.ok and retried.result and retried.result["sys_id"] == "a" * 32  # no second ticket
        rows = backend.store.select("incident")
        assert sum(1 for r in rows if r["correlation_id"] == "bp-a") == 1

    run(simulator, scenario)


def test_writes_the_staging_table_cannot_carry_go_through_the_batch_api(simulator: Simulator) -> None:
    async def scenario(writer: ImportSetWriter, backend: ServiceNowBackend) -> None:
        custom = writer.add("POST", "incident", {"short_description": "c", "u_not_a_column": "x"}, sys_id="c" * 32)
        staged = writer.add("POST", "incident", {"short_description": "s"}, sys_id="d" * 32)
        sn0 = max((e.id for e in backend.journal.find()), default=0)
        done = await writer.send()
        assert {id(w) for w in done} == {id(custom), id(staged)}
        assert custom.ok and staged.ok
        paths = {e.path for e in backend.journal.find(since_id=sn0) if "batch-item" not in e.notes}
        assert "/api/now/v1/batch" in paths and "/api/now/import/x_bip_panda_shareincident/insertMultiple" in paths

    run(simulator, scenario)


def test_an_admin_changed_coalesce_is_followed_and_the_written_ticket_read(simulator: Simulator) -> None:
    async def scenario(writer: ImportSetWriter, backend: ServiceNowBackend) -> None:
        writer.add("POST", "incident", {"short_description": "x", "correlation_id": "bp-x"}, sys_id="e" * 32)
        await writer.send()
        [ticket_map] = [m for m in backend.transform_maps.for_source("x_bip_panda_shareincident")
                        if m.target_table == "incident"]
        for entry in backend.store.select("sys_transform_entry"):
            if entry["target_field"] in ("sys_id", "correlation_id") and entry["source_table"] == ticket_map.source_table:
                backend.store.update("sys_transform_entry", entry["sys_id"],
                                     {"coalesce": "true" if entry["target_field"] == "correlation_id" else "false"})
        moved = writer.add("POST", "incident", {"short_description": "y", "correlation_id": "bp-x"}, sys_id="f" * 32)
        await writer.send()
        assert writer.requests == 5  # 2 + 2, and one read of the ticket the map chose
        assert moved.ok and moved.result and moved.result["sys_id"] == "e" * 32
        assert moved.result["short_description"] == "y"

    run(simulator, scenario)


def test_rows_are_pure_data() -> None:
    write = BatchWrite("PATCH", "incident", "1" * 32, {"state": "3", "hold_reason": "1", "correlation_id": "bp"})
    assert carries(write)
    assert staging_row(write) == {"u_state": "3", "u_hold_reason": "1", "u_bp_incident_id": "bp", "u_ticket": "1" * 32}
    assert not carries(BatchWrite("POST", "incident_task", "1" * 32, {"short_description": "t"}))
    assert not carries(BatchWrite("DELETE", "incident", "1" * 32))


def test_a_refused_import_leaves_no_batch_write_behind_and_a_refused_batch_spares_the_staged_rows(
        simulator: Simulator) -> None:
    async def scenario(writer: ImportSetWriter, backend: ServiceNowBackend) -> None:
        backend.faults.add(method="POST", path="/api/now/import/x_bip_panda_shareincident/insertMultiple",
                           status=400, times=1)
        writer.add("POST", "incident", {"short_description": "s"}, sys_id="1" * 32)
        writer.add("POST", "incident", {"u_not_a_column": "x"}, sys_id="2" * 32)
        try:
            await writer.send()
        except BatchError as exc:
            assert exc.status == 400
        else:
            raise AssertionError("a refused insertMultiple must fail the send")
        assert writer.fallback.pending == []
        backend.faults.add(method="POST", path="/api/now/v1/batch", status=400, times=1)
        staged = writer.add("POST", "incident", {"short_description": "s"}, sys_id="1" * 32)
        batched = writer.add("POST", "incident", {"u_not_a_column": "x"}, sys_id="2" * 32)
        await writer.send()
        assert staged.ok and staged.result and staged.result["sys_id"] == "1" * 32
        assert batched.status == 400 and not batched.ok and "refused the batch" in batched.error

    run(simulator, scenario)
