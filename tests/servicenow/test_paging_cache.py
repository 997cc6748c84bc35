"""Deep pages and counts from the store's result cache are byte-identical to the plain path.

The plain path (`store.results.enabled = False`) is a LIMIT / OFFSET walk and a full COUNT(*).
Each page is read both ways, back to back, with writes between pages that move rows across
page boundaries (a new record, an update that re-sorts one, a delete), so a cache that missed
a write answers different bytes."""

from __future__ import annotations

import httpx
import pytest

from bpsn.base.clock import glide
from bpsn.simulator.servicenow.admin.state import load_fixtures
from bpsn.simulator.servicenow.backend import ServiceNowBackend
from bpsn.simulator.servicenow.errors import SnError
from bpsn.simulator.servicenow.records.store import DEEP_OFFSET, Where

pytestmark = pytest.mark.anyio
ROWS = DEEP_OFFSET + 1_500
TABLE = "/api/now/table/incident"
ACTIVE = Where('"active" = ?', ["true"])


@pytest.fixture
def backend(backend: ServiceNowBackend) -> ServiceNowBackend:
    """ROWS incidents, a third inactive, many sharing one sys_updated_on (rowid breaks the ties)."""
    start = backend.clock.now()
    with backend.store.lock:
        backend.store.conn.execute("BEGIN")
        for i in range(ROWS):
            backend.store.insert("incident", {
                "sys_id": f"{i:032x}", "sys_class_name": "incident", "number": f"INC9{i:06d}",
                "active": "false" if i % 3 == 0 else "true", "priority": str(1 + i % 5),
                "short_description": f"paging {i}", "sys_updated_on": glide(start - 3600 + i // 7)})
        backend.store.conn.execute("COMMIT")
    return backend


async def both(client: httpx.AsyncClient, backend: ServiceNowBackend, params: dict[str, str]) -> httpx.Response:
    """The cached answer, after checking it against the plain path's, byte for byte."""
    cached = await client.get(TABLE, params=params)
    backend.store.results.enabled = False
    try:
        plain = await client.get(TABLE, params=params)
    finally:
        backend.store.results.enabled = True
    assert cached.status_code == plain.status_code == 200, cached.text[:300]
    assert cached.content == plain.content, f"page at offset {params['sysparm_offset']} differs"
    assert cached.headers.get("x-total-count") == plain.headers.get("x-total-count")
    assert cached.headers.get("link") == plain.headers.get("link")
    return cached


async def _write(client: httpx.AsyncClient, page: int) -> None:
    """After each page, one of: a new record, an update that re-sorts a record of an early page
    to the end (sys_updated_on, priority), a delete, or nothing (the next page is a cache hit)."""
    if page % 4 == 0:
        resp = await client.post(TABLE, json={"short_description": f"new {page}", "active": "true", "priority": "3"})
        assert resp.status_code == 201
    elif page % 4 == 1:
        resp = await client.patch(f"{TABLE}/{(3 * page + 1):032x}", json={"priority": "1", "short_description": "moved"})
        assert resp.status_code == 200
    elif page % 4 == 2:
        assert (await client.delete(f"{TABLE}/{(3 * page + 2):032x}")).status_code == 204


@pytest.mark.parametrize("query", ["active=true^ORDERBYsys_updated_on", "active=true^ORDERBYDESCpriority",
                                   "ORDERBYDESCsys_updated_on"])
async def test_sequential_pages_with_writes_between_are_the_plain_answers(
        client: httpx.AsyncClient, backend: ServiceNowBackend, query: str) -> None:
    limit, offset, page = 250, 0, 0
    while True:
        resp = await both(client, backend, {"sysparm_query": query, "sysparm_limit": str(limit),
                                            "sysparm_offset": str(offset)})
        if not resp.json()["result"]:
            break
        backend.clock.advance(1)
        await _write(client, page)
        offset, page = offset + limit, page + 1
    assert offset > DEEP_OFFSET and page >= 6  # the walk went through the cached part, with writes


async def test_a_repeated_deep_page_reads_neither_offset_nor_count(
        client: httpx.AsyncClient, backend: ServiceNowBackend) -> None:
    params = {"sysparm_query": "active=true^ORDERBYsys_updated_on", "sysparm_limit": "100",
              "sysparm_offset": str(DEEP_OFFSET)}
    first = await client.get(TABLE, params=params)  # the plain path: the query is seen once
    assert (await client.get(TABLE, params=params)).content == first.content  # builds the order
    statements: list[str] = []
    backend.store.conn.set_trace_callback(statements.append)
    try:
        again = await client.get(TABLE, params=params)
    finally:
        backend.store.conn.set_trace_callback(None)
    assert again.content == first.content
    assert again.headers["x-total-count"] == first.headers["x-total-count"]
    reads = [s for s in statements if 'FROM "task"' in s]
    assert len(reads) == 1 and "WHERE rowid IN" in reads[0], reads  # the page's rows by rowid only


async def test_a_rolled_back_fixture_load_and_a_reset_drop_the_cache(backend: ServiceNowBackend) -> None:
    store = backend.store
    before = store.count("incident", ACTIVE)
    deep = store.select("incident", ACTIVE, limit=5, offset=DEEP_OFFSET)
    with pytest.raises(SnError):  # the second record's sys_id is refused after the first went in
        load_fixtures(backend, {"tables": {"incident": [{"short_description": "kept?", "active": "true"},
                                                        {"sys_id": "not-hex", "active": "true"}]}})
    assert store.count("incident", ACTIVE) == before
    assert store.select("incident", ACTIVE, limit=5, offset=DEEP_OFFSET) == deep
    backend.reset()  # the seeded instance back, restored page by page (no row change counted)
    store.results.enabled = False
    plain = store.count("incident", ACTIVE), store.select("incident", ACTIVE, limit=5, offset=DEEP_OFFSET)
    store.results.enabled = True
    assert (store.count("incident", ACTIVE), store.select("incident", ACTIVE, limit=5, offset=DEEP_OFFSET)) == plain
    assert plain[0] < before


@pytest.mark.parametrize("limit", [None, 1, 777])
def test_a_deep_slice_matches_the_offset_walk_for_any_limit(backend: ServiceNowBackend, limit: int | None) -> None:
    store = backend.store
    for offset in (DEEP_OFFSET, DEEP_OFFSET + 333, ROWS - 5, ROWS + 10):
        cached = store.select("incident", ACTIVE, limit=limit, offset=offset, columns=["number", "priority"])
        store.results.enabled = False
        plain = store.select("incident", ACTIVE, limit=limit, offset=offset, columns=["number", "priority"])
        store.results.enabled = True
        assert cached == plain


def test_nothing_is_cached_inside_a_transaction_a_rollback_would_undo(backend: ServiceNowBackend) -> None:
    store = backend.store
    before = store.count("incident", ACTIVE), store.select("incident", ACTIVE, offset=DEEP_OFFSET)
    with store.lock:
        store.conn.execute("SAVEPOINT paging_test")
        store.insert("incident", {"sys_id": "f" * 32, "sys_class_name": "incident", "active": "true"})
        assert store.count("incident", ACTIVE) == before[0] + 1  # a rollback does not move total_changes()
        assert len(store.select("incident", ACTIVE, offset=DEEP_OFFSET)) == len(before[1]) + 1
        store.conn.execute("ROLLBACK TO paging_test")
        store.conn.execute("RELEASE paging_test")
    assert (store.count("incident", ACTIVE), store.select("incident", ACTIVE, offset=DEEP_OFFSET)) == before
