"""The change-notification business rule (records/outbound.py): the outbound message as data,
what a write enqueues, asynchronous delivery, retries on the simulator clock, and the secret
header kept out of reads and logs."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from bpsn.simulator.servicenow.backend import ServiceNowBackend
from bpsn.simulator.servicenow.records.outbound import LOG_TABLE, SEEDED_SYS_ID, TABLE

pytestmark = pytest.mark.anyio
URL = "http://core.test/api/bpsn/notifications"
HEADER = "Bearer s3cret-notify-token"


class Endpoint:
    """A recording endpoint answering `statuses` in turn (the last one repeats)."""

    def __init__(self, *statuses: int, hold: asyncio.Event | None = None) -> None:
        self.statuses = list(statuses) or [202]
        self.hold = hold
        self.seen: list[tuple[dict[str, Any], str]] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.hold is not None:
            await self.hold.wait()
        self.seen.append((json.loads(request.content), request.headers.get("authorization", "")))
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return httpx.Response(status, json={})


async def _activate(client: httpx.AsyncClient, **fields: str) -> None:
    r = await client.patch(f"/api/now/table/{TABLE}/{SEEDED_SYS_ID}", json={
        "active": "true", "endpoint": URL, "auth_header": HEADER, **fields})
    assert r.status_code == 200, r.text


async def _incident(client: httpx.AsyncClient) -> str:
    r = await client.post("/api/now/table/incident", json={"short_description": "disk full"})
    assert r.status_code == 201, r.text
    return str(r.json()["result"]["sys_id"])


def _wire(backend: ServiceNowBackend, endpoint: Endpoint) -> None:
    backend.outbound.client = httpx.AsyncClient(transport=httpx.MockTransport(endpoint))


def _log(backend: ServiceNowBackend) -> list[dict[str, str]]:
    return backend.store.select(LOG_TABLE)


async def test_seeded_inactive_nothing_is_sent(backend: ServiceNowBackend, client: httpx.AsyncClient) -> None:
    endpoint = Endpoint()
    _wire(backend, endpoint)
    r = await client.get(f"/api/now/table/{TABLE}/{SEEDED_SYS_ID}")
    assert r.json()["result"]["active"] == "false"
    await _incident(client)
    await backend.outbound.flush()
    assert endpoint.seen == [] and not backend.outbound.pending() and _log(backend) == []


async def test_an_update_sends_one_notice_with_the_changed_fields(backend: ServiceNowBackend,
                                                                 client: httpx.AsyncClient) -> None:
    endpoint = Endpoint()
    _wire(backend, endpoint)
    await _activate(client, operations="update")
    sys_id = await _incident(client)  # an insert: not a triggering operation here
    r = await client.patch(f"/api/now/table/incident/{sys_id}", json={"subcategory": "disk"})
    assert r.status_code == 200
    await backend.outbound.flush()
    assert len(endpoint.seen) == 1
    body, header = endpoint.seen[0]
    assert header == HEADER
    assert body == {"table": "incident", "sys_id": sys_id, "operation": "update",
                    "sys_updated_on": r.json()["result"]["sys_updated_on"], "sys_updated_by": "admin",
                    "fields": ["subcategory"]}
    assert [row["outcome"] for row in _log(backend)] == ["delivered"]


async def test_insert_and_delete_notify_and_other_tables_do_not(backend: ServiceNowBackend,
                                                               client: httpx.AsyncClient) -> None:
    endpoint = Endpoint()
    _wire(backend, endpoint)
    await _activate(client)
    sys_id = await _incident(client)
    assert (await client.post("/api/now/table/sys_user_group", json={"name": "DBA"})).status_code == 201
    assert (await client.delete(f"/api/now/table/incident/{sys_id}")).status_code == 204
    await backend.outbound.flush()
    assert [(b["operation"], b["table"]) for b, _ in endpoint.seen] == [("insert", "incident"),
                                                                      ("delete", "incident")]


async def test_a_hanging_endpoint_neither_slows_nor_fails_the_write(backend: ServiceNowBackend,
                                                                     client: httpx.AsyncClient) -> None:
    hold = asyncio.Event()
    endpoint = Endpoint(hold=hold)
    _wire(backend, endpoint)
    await _activate(client)
    sys_id = await asyncio.wait_for(_incident(client), 5)  # answered while the delivery hangs
    await asyncio.sleep(0)
    assert backend.outbound.pending() and endpoint.seen == []
    hold.set()
    await backend.outbound.flush()
    assert [b["sys_id"] for b, _ in endpoint.seen] == [sys_id]


async def test_failures_retry_with_backoff_on_the_simulator_clock_then_give_up(
        backend: ServiceNowBackend, client: httpx.AsyncClient) -> None:
    endpoint = Endpoint(503)
    _wire(backend, endpoint)
    await _activate(client, max_attempts="3", retry_interval="2")
    await _incident(client)
    await backend.outbound.flush()
    assert len(endpoint.seen) == 1
    backend.clock.advance(1.9)  # the first retry waits 2 s
    await backend.outbound.flush()
    assert len(endpoint.seen) == 1
    backend.clock.advance(0.1)
    await backend.outbound.flush()
    assert len(endpoint.seen) == 2
    backend.clock.advance(3.9)  # the second waits 4 s
    await backend.outbound.flush()
    assert len(endpoint.seen) == 2
    backend.clock.advance(0.1)
    await backend.outbound.flush()
    assert len(endpoint.seen) == 3 and not backend.outbound.pending()  # bounded: 3 attempts
    assert [(r["outcome"], r["response_status"]) for r in sorted(_log(backend), key=lambda r: r["attempt"])] == [
        ("retry", "503"), ("retry", "503"), ("given up", "503")]
    counts = backend.outbound.counts
    assert (counts.enqueued, counts.delivered, counts.failed_attempts, counts.given_up) == (1, 0, 3, 1)


async def test_a_refusal_is_final_and_a_later_success_is_delivered(backend: ServiceNowBackend,
                                                                  client: httpx.AsyncClient) -> None:
    endpoint = Endpoint(401, 202)
    _wire(backend, endpoint)
    await _activate(client)
    await _incident(client)
    await backend.outbound.flush()
    await _incident(client)
    await backend.outbound.flush()
    assert [r["outcome"] for r in sorted(_log(backend), key=lambda r: r["sys_created_on"])] == \
        ["given up", "delivered"]


async def test_the_header_is_a_secret(backend: ServiceNowBackend, client: httpx.AsyncClient) -> None:
    _wire(backend, Endpoint())
    await _activate(client)
    r = await client.get(f"/api/now/table/{TABLE}/{SEEDED_SYS_ID}")
    assert r.json()["result"]["auth_header"] != HEADER
    stored = backend.store.get(TABLE, SEEDED_SYS_ID)
    assert stored is not None and HEADER not in stored["auth_header"]  # encrypted at rest
    audit = await client.get("/api/now/table/sys_audit", params={"sysparm_query": "fieldname=auth_header"})
    assert audit.json()["result"] and HEADER not in audit.text
    await _incident(client)
    await backend.outbound.flush()
    assert HEADER not in json.dumps(_log(backend)) and "s3cret" not in repr(backend.outbound.messages())


async def test_only_admin_may_change_the_outbound_message(backend: ServiceNowBackend,
                                                          client: httpx.AsyncClient) -> None:
    s = backend.settings  # the integration user: itil and x_bip_panda_user
    r = await client.patch(f"/api/now/table/{TABLE}/{SEEDED_SYS_ID}", json={"endpoint": "http://evil.test"},
                           auth=(s.integration_user, s.integration_password))
    assert r.status_code in (403, 404), r.text  # refused (or unseen), as an ACL answers
    stored = backend.store.get(TABLE, SEEDED_SYS_ID)
    assert stored is not None and stored["endpoint"] == ""


async def test_writes_by_excluded_users_notify_nobody(backend: ServiceNowBackend, client: httpx.AsyncClient) -> None:
    endpoint = Endpoint()
    _wire(backend, endpoint)
    await _activate(client, exclude_users="admin, bigpanda.integration")
    await _incident(client)  # written by admin
    await backend.outbound.flush()
    assert endpoint.seen == []
    await _activate(client, exclude_users="bigpanda.integration")
    await _incident(client)
    await backend.outbound.flush()
    assert len(endpoint.seen) == 1
