"""The companions' idempotent writer against the ServiceNow simulator: POST once, PATCH after,
nothing when unchanged, and one extra batch only when its memory is gone (a restart)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from pooled_simulators import running_servicenow_pool

from bpsn.integration.clients.http import ApiClient
from bpsn.integration.clients.servicenow import ServiceNowClient
from bpsn.integration.modules.poll_batch import PollBatch
from bpsn.integration.modules.record_writes import PlannedRecord, RecordWriter, record_sys_id
from bpsn.simulator.servicenow.backend import ServiceNowBackend

Scenario = Callable[[ServiceNowClient], Awaitable[None]]
Simulator = tuple[ServiceNowBackend, Any]  # the backend and its app


@pytest.fixture
def simulator() -> Simulator:
    """The process's pooled simulator (tests/pooled_simulators.py) in the state a new one has (its
    clock runs: reset seeds it anew)."""
    pool = running_servicenow_pool()
    return pool.as_new(), pool.app


def run_against_simulator(simulator: Simulator, scenario: Scenario, *, as_admin: bool = False,
                          sent: list[str] | None = None) -> None:
    """`scenario` with a client acting as the core's service account (or as admin, who may delete);
    `sent` collects each request's method and path."""
    backend, app = simulator
    s = backend.settings
    auth = ("admin", s.admin_password) if as_admin else (s.integration_user, s.integration_password)

    async def note(request: httpx.Request) -> None:
        if sent is not None:
            sent.append(f"{request.method} {request.url.path}")

    async def go() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sn.test",
                                     auth=auth, event_hooks={"request": [note]}) as http:
            await scenario(ServiceNowClient(ApiClient(http)))

    asyncio.run(go())


def task(sys_id: str, text: str) -> PlannedRecord:
    return PlannedRecord("incident_task", sys_id, {"short_description": text}, on_create={"state": "1"})


async def read(client: ServiceNowClient, sys_id: str) -> dict[str, Any] | None:
    return await client.get("incident_task", sys_id)


def test_post_then_skip_then_patch(simulator: Simulator) -> None:
    sys_id = record_sys_id("t", "a")

    async def scenario(client: ServiceNowClient) -> None:
        writer = RecordWriter(client)
        first = await writer.write([task(sys_id, "one")])
        again = await writer.write([task(sys_id, "one")])
        changed = await writer.write([task(sys_id, "two")])
        assert (first.sent, first.requests, first.failed) == (1, 1, [])
        assert (again.sent, again.skipped, again.requests) == (0, 1, 0)
        assert (changed.sent, changed.requests) == (1, 1)
        row = await read(client, sys_id)
        assert row is not None and (row["short_description"], row["state"]) == ("two", "1")

    run_against_simulator(simulator, scenario)


def test_a_restarted_writer_patches_what_exists_in_one_more_batch_and_never_duplicates(simulator: Simulator) -> None:
    sys_id = record_sys_id("t", "b")

    async def scenario(client: ServiceNowClient) -> None:
        await RecordWriter(client).write([task(sys_id, "before restart")])
        fresh = RecordWriter(client)  # a restarted core: no memory of what it wrote
        outcome = await fresh.write([task(sys_id, "after restart"), task(record_sys_id("t", "c"), "new")])
        assert (outcome.sent, outcome.requests, outcome.failed) == (2, 2, [])
        rows = await client.query("incident_task", "sys_idIN" + ",".join([sys_id, record_sys_id("t", "c")]))
        assert sorted(r["short_description"] for r in rows) == ["after restart", "new"]

    run_against_simulator(simulator, scenario)


def test_a_record_deleted_by_hand_is_created_again(simulator: Simulator) -> None:
    sys_id = record_sys_id("t", "d")

    async def scenario(client: ServiceNowClient) -> None:
        writer = RecordWriter(client)
        await writer.write([task(sys_id, "one")])
        r = await client.api.request("DELETE", f"/api/now/table/incident_task/{sys_id}")
        assert r.status_code == 204
        outcome = await writer.write([task(sys_id, "two")])
        assert (outcome.requests, outcome.failed) == (2, [])
        row = await read(client, sys_id)
        assert row is not None and row["short_description"] == "two"

    run_against_simulator(simulator, scenario, as_admin=True)  # the service account may not delete tasks


def test_patch_only_records_are_never_created_and_failures_are_reported_not_remembered(simulator: Simulator) -> None:
    async def scenario(client: ServiceNowClient) -> None:
        writer = RecordWriter(client)
        missing = PlannedRecord("incident", "f" * 32, {"child_incidents": "2"}, may_create=False)
        outcome = await writer.write([missing])
        assert outcome.requests == 1 and len(outcome.failed) == 1 and "404" in outcome.failed[0]
        assert await client.get("incident", "f" * 32) is None
        assert (await writer.write([missing])).sent == 1  # tried again: the failure was not remembered

    run_against_simulator(simulator, scenario)


def test_deletes_only_what_this_writer_wrote(simulator: Simulator) -> None:
    sys_id = record_sys_id("s", "a")

    async def scenario(client: ServiceNowClient) -> None:
        writer = RecordWriter(client)
        row = PlannedRecord("x_bip_panda_similar_incident", sys_id, {"u_score": "0.70"})
        await writer.write([row])
        gone = PlannedRecord("x_bip_panda_similar_incident", sys_id, {}, delete=True)
        assert (await writer.write([gone])).sent == 1
        assert await client.get("x_bip_panda_similar_incident", sys_id) is None
        never_written = PlannedRecord("x_bip_panda_similar_incident", record_sys_id("s", "b"), {}, delete=True)
        assert (await RecordWriter(client).write([never_written])).requests == 0

    run_against_simulator(simulator, scenario)


def test_record_ids_need_their_parts() -> None:
    assert record_sys_id("k", "a", "b") != record_sys_id("k", "ab")
    with pytest.raises(ValueError, match="non-empty"):
        record_sys_id("k", "")


def test_the_companions_of_a_poll_share_one_batch_request(simulator: Simulator) -> None:
    """One companion looks something up first, one writes at once, one writes nothing, one writes
    twice: the first writes of all leave in one Batch API request, the second write in another."""
    sent: list[str] = []
    ids = [record_sys_id("p", str(i)) for i in range(4)]

    async def scenario(client: ServiceNowClient) -> None:
        writers = [RecordWriter(client) for _ in range(3)]
        outcomes: dict[str, Any] = {}

        async def looks_up_first() -> None:
            await client.query("incident_task", "active=true")
            outcomes["lookup"] = await writers[0].write([task(ids[0], "after a lookup")])

        async def writes_at_once() -> None:
            outcomes["at once"] = await writers[1].write([task(ids[1], "at once")])

        async def writes_twice() -> None:
            outcomes["first"] = await writers[2].write([task(ids[2], "first")])
            outcomes["second"] = await writers[2].write([task(ids[3], "second")])

        async def writes_nothing() -> None:
            await asyncio.sleep(0)

        companions = [looks_up_first, writes_at_once, writes_twice, writes_nothing]
        poll = PollBatch(client, len(companions))

        async def one(companion: Callable[[], Awaitable[None]]) -> None:
            try:
                await companion()
            finally:
                poll.finished()

        with poll.shared():
            await asyncio.gather(*(one(c) for c in companions))
        assert {k: (o.sent, o.requests, o.failed) for k, o in outcomes.items()} == {
            "lookup": (1, 1, []), "at once": (1, 1, []), "first": (1, 1, []), "second": (1, 1, [])}
        rows = await client.query("incident_task", "sys_idIN" + ",".join(ids))
        assert sorted(r["short_description"] for r in rows) == ["after a lookup", "at once", "first", "second"]

    run_against_simulator(simulator, scenario, sent=sent)
    assert [s for s in sent if s.startswith("POST")] == ["POST /api/now/v1/batch"] * 2


def test_a_record_refused_in_the_poll_batch_fails_only_its_own_writer(simulator: Simulator) -> None:
    async def scenario(client: ServiceNowClient) -> None:
        poll = PollBatch(client, 2)
        bad = PlannedRecord("no_such_table_at_all", record_sys_id("p", "x"), {"a": "b"})

        async def one(record: PlannedRecord) -> Any:
            try:
                return await RecordWriter(client).write([record])
            finally:
                poll.finished()

        with poll.shared():
            results = await asyncio.gather(one(task(record_sys_id("p", "y"), "fine")), one(bad),
                                           return_exceptions=True)
        outcomes = [r for r in results if not isinstance(r, BaseException)]
        assert len(outcomes) == 2 and outcomes[0].failed == [] and len(outcomes[1].failed) == 1

    run_against_simulator(simulator, scenario)
