"""The CMDB v2 delta planner (pure), its settings and waits; then the runner against both
simulators in-process: random CMDB edits over several small passes always leave BigPanda's
map equal to ServiceNow, a map deleted mid-pass is recovered, the loop stops cleanly."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from bpsn.integration.cmdb import CmdbSettings, CmdbSync
from bpsn.integration.cmdb.backoff import FixedIntervalRetry, ThrottleBackoff
from bpsn.integration.cmdb.export_v1 import to_csv
from bpsn.integration.cmdb.factory import build_cmdb_sync, build_v1_exporter
from bpsn.integration.cmdb.planner import (
    ClassSchema,
    Delta,
    HashBucket,
    KeySpan,
    SchemaError,
    Upsert,
    bucket_writes,
    hashes_after,
    known_hashes,
    plan_delta,
    prefix_range,
    record_hash,
)
from bpsn.integration.cmdb.sync import ClassReport, SyncReport
from bpsn.simulator.bigpanda.enrichment.store import row_hash
from bpsn.simulator.servicenow.backend import SYSTEM
from bpsn.testing import InProcessBench

SCHEMA = ClassSchema("cmdb_ci_server", ("name", "ip_address"))


def row(key: str, name: str = "web", ip: str = "10.0.0.1") -> dict[str, str]:
    return {"sys_id": key, "name": name, "ip_address": ip}


# --- schema and hashes -----------------------------------------------------------------------------
def test_schema_reduces_a_record_to_its_columns_as_strings() -> None:
    assert SCHEMA.row({"sys_id": "a1", "name": "web", "ip_address": None, "os": "Linux"}) == \
        {"sys_id": "a1", "name": "web", "ip_address": ""}
    assert SCHEMA.map_name == "snow_cmdb_cmdb_ci_server" and SCHEMA.v1_map_id == "snow_cmdb_v1_cmdb_ci_server"


def test_a_field_the_class_lacks_is_named() -> None:
    with pytest.raises(SchemaError, match="cmdb_ci_server has no field ip_address"):
        SCHEMA.row({"sys_id": "a1", "name": "web"})


def test_record_hash_follows_values_and_fields_and_matches_bigpandas() -> None:
    base = row("a1")
    assert record_hash(base) == record_hash(dict(reversed(list(base.items())))) == row_hash(base)
    assert record_hash(base) != record_hash(row("a1", ip="10.0.0.2"))
    assert record_hash(base) != record_hash({**base, "os": ""})


# --- the delta ---------------------------------------------------------------------------------------
def test_first_sync_upserts_everything() -> None:
    rows = [row("a1"), row("b2")]
    delta = plan_delta(rows, {}, KeySpan())
    assert [u.key for u in delta.upserts] == ["a1", "b2"] and delta.deletes == () and delta.unchanged == 0
    assert delta.upserts[0].hash == record_hash(rows[0])


def test_unchanged_rows_send_nothing_and_changed_ones_one_upsert_each() -> None:
    rows = [row("a1"), row("b2"), row("c3")]
    known = {r["sys_id"]: record_hash(r) for r in rows}
    assert plan_delta(rows, known, KeySpan()).empty
    rows[1] = row("b2", ip="10.9.9.9")
    delta = plan_delta(rows, known, KeySpan())
    assert [u.key for u in delta.upserts] == ["b2"] and delta.unchanged == 2


def test_only_known_keys_inside_the_span_are_deleted() -> None:
    known = {"a1": "h", "b2": "h", "c3": "h", "d4": "h"}
    delta = plan_delta([], known, KeySpan("a1", "c3"))
    assert delta.deletes == ("b2", "c3") and not delta.upserts


def test_rows_outside_the_span_or_twice_are_refused() -> None:
    with pytest.raises(ValueError, match="outside the pass's span"):
        plan_delta([row("z9")], {}, KeySpan("a", "m"))
    with pytest.raises(ValueError, match="appears twice"):
        plan_delta([row("a1"), row("a1")], {}, KeySpan())


def test_span_membership() -> None:
    span = KeySpan("b", "d")
    assert "c" in span and "d" in span and "b" not in span and "e" not in span
    assert "a" in KeySpan() and KeySpan().reaches_end and not span.reaches_end


def test_hashes_after_keep_the_outside_and_replace_the_inside() -> None:
    known = {"a1": "old", "b2": "old", "c3": "old"}
    after = hashes_after(known, KeySpan("a1", "c3"), [row("c3")])
    assert after == {"a1": "old", "c3": record_hash(row("c3"))}


def test_chunks_cover_every_item_once_upserts_first() -> None:
    delta = Delta(tuple(Upsert(f"k{i}", "h", {}) for i in range(5)), ("x", "y"))
    parts = list(delta.chunks(3))
    assert [(len(p.upserts), len(p.deletes)) for p in parts] == [(3, 0), (2, 1), (0, 1)]
    with pytest.raises(ValueError, match="at least 1"):
        list(delta.chunks(0))


# --- the hash buckets ----------------------------------------------------------------------------------
def test_prefix_range_bounds_the_buckets_a_span_touches() -> None:
    assert prefix_range(KeySpan(), 2) == (None, None)
    assert prefix_range(KeySpan("3fab", "7c01"), 2) == ("3f", "7c")


def test_buckets_of_another_map_read_as_empty() -> None:
    buckets = [HashBucket("aa", "m1", {"aa1": "h"}), HashBucket("ab", "old", {"ab1": "h"})]
    assert known_hashes(buckets, "m1") == {"aa1": "h"}


def test_only_changed_buckets_are_written() -> None:
    loaded = [HashBucket("aa", "m1", {"aa1": "h1"}, "s1"), HashBucket("ab", "m1", {"ab1": "h2"}, "s2"),
              HashBucket("ac", "old", {"ac1": "h3"}, "s3"), HashBucket("ad", "old", {"ad1": "h4"}, "s4")]
    wanted = {"aa1": "h1", "ab1": "changed", "ac1": "h3", "ae1": "new"}
    writes = bucket_writes(loaded, wanted, "m1", 2)
    assert writes == [HashBucket("ab", "m1", {"ab1": "changed"}, "s2"),   # changed in place
                      HashBucket("ac", "m1", {"ac1": "h3"}, "s3"),        # re-sent to the new map
                      HashBucket("ae", "m1", {"ae1": "new"}, "")]         # a new prefix
    emptied = bucket_writes(loaded[:1], {}, "m1", 2)
    assert emptied == [HashBucket("aa", "m1", {}, "s1")]


# --- settings and waits -----------------------------------------------------------------------------------
def test_defaults_are_the_seeds_connection_defaults() -> None:
    s = CmdbSettings()
    assert (s.page_size, s.max_pages, s.max_retries, s.retry_interval, s.sync_interval) == (100, 10, 3, 5.0, 86_400.0)
    assert s.throttle_backoff == (60.0, 300.0, 900.0)
    assert all(schema.fields and "sys_id" not in schema.fields for schema in s.schemas())


@pytest.mark.parametrize("classes, message", [
    ({}, "at least one CI class"),
    ({"CMDB CI": ["name"]}, "is not a table name"),
    ({"cmdb_ci": ["name", "Bad Field"]}, "are not field names"),
    ({"cmdb_ci": ["sys_id"]}, "at least one field besides sys_id"),
    ({"cmdb_ci": ["name", "name"]}, "fields repeat: name"),
])
def test_bad_classes_are_refused_naming_the_problem(classes: dict[str, list[str]], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        CmdbSettings(classes=classes)


def test_throttle_backoff_steps_with_jitter_never_shorter() -> None:
    backoff, rng = ThrottleBackoff((60.0, 300.0, 900.0), 0.25), random.Random(3)
    for _ in range(50):
        waits = [backoff.delay(i, rng) for i in range(3)]
        assert all(w is not None and step <= w <= step * 1.25 for w, step in zip(waits, (60, 300, 900), strict=True))
    assert backoff.delay(3, rng) is None


def test_retry_interval_respects_retry_after() -> None:
    policy, rng = FixedIntervalRetry(max_attempts=4, interval=5.0, jitter=0.25), random.Random(1)
    assert 5.0 <= policy.backoff(0, rng, None) <= 6.25
    assert 30.0 <= policy.backoff(0, rng, 30.0) <= 37.5


def test_csv_ends_with_a_newline_and_quotes_what_it_must() -> None:
    body = to_csv(["sys_id", "name"], [{"sys_id": "a1", "name": 'web, "edge"'}])
    assert body == b'sys_id,name\na1,"web, ""edge"""\n'


def test_a_cycle_report_adds_up_its_passes() -> None:
    total = SyncReport()
    total.add(SyncReport([ClassReport("t", "m", read=6, upserts=6, cursor="k6")], passes=1, bytes_sent=10))
    total.add(SyncReport([ClassReport("t", "m", read=4, upserts=1, deletes=2, complete=True)], passes=1,
                         bytes_sent=5))
    assert (total.read, total.upserts, total.deletes, total.passes, total.bytes_sent) == (10, 7, 2, 2, 15)
    assert total.complete and total.classes[0].cursor == ""


# --- the runner against both simulators -----------------------------------------------------------------
@pytest.fixture
def bench() -> Iterator[InProcessBench]:
    b = InProcessBench(seed=5)
    yield b
    b.close()


def _sync(bench: InProcessBench, **settings: Any) -> CmdbSync:
    async def sleep(seconds: float) -> None:
        bench.advance(seconds)

    async def build() -> CmdbSync:
        return build_cmdb_sync(bench.settings, CmdbSettings(classes={"cmdb_ci_server": ["name", "ip_address"]},
                                                            **settings),
                               clock=bench.clock, pace=False, sleep=sleep,
                               bigpanda_transport=httpx.ASGITransport(app=bench.bigpanda_app),
                               servicenow_transport=httpx.ASGITransport(app=bench.servicenow_app))
    return bench.run(build())


def _servicenow_rows(bench: InProcessBench) -> list[dict[str, str]]:
    rows, _ = bench.servicenow.query("cmdb_ci_server", "ORDERBYsys_id", limit=10_000, offset=0)
    return [SCHEMA.row(r) for r in rows]


def _map_rows(bench: InProcessBench, name: str = "snow_cmdb_cmdb_ci_server") -> list[dict[str, str]]:
    org = bench.bigpanda.orgs[bench.bigpanda.settings.organization]
    [table] = [m for m in org.enrichment.maps.values() if m.name == name]
    return sorted(table.rows.values(), key=lambda r: r["sys_id"])


def test_random_edits_over_small_passes_keep_the_map_equal_to_servicenow(bench: InProcessBench) -> None:
    sync = _sync(bench, page_size=3, max_pages=2, key_prefix_length=1)
    rng = random.Random(11)
    try:
        for cycle in range(6):
            ids = [r["sys_id"] for r in _servicenow_rows(bench)]
            for n in range(rng.randint(1, 6)):
                action = rng.choice(["add", "edit", "delete"] if len(ids) > 2 else ["add"])
                if action == "add":
                    ids.append(bench.servicenow.insert_system("cmdb_ci_linux_server", {
                        "name": f"c{cycle}-{rng.randint(0, 999)}", "ip_address": "10.1.1.1"})["sys_id"])
                elif action == "edit":
                    bench.servicenow.update("cmdb_ci_server", rng.choice(ids), {"ip_address": f"10.2.{cycle}.{n}"},
                                            SYSTEM)
                else:
                    sys_id = ids.pop(rng.randrange(len(ids)))
                    bench.servicenow.delete("cmdb_ci_server", sys_id, SYSTEM)
            report = bench.run(sync.sync_cycle())
            assert report.complete and not report.errors, report
            assert _map_rows(bench) == _servicenow_rows(bench), f"cycle {cycle}"
            assert bench.run(sync.sync_cycle()).records_sent == 0  # and nothing more to send
    finally:
        bench.run(sync.aclose())


def test_a_map_deleted_after_the_listing_is_recovered_and_refilled(bench: InProcessBench) -> None:
    sync = _sync(bench)
    try:
        bench.run(sync.sync_cycle())
        listing = bench.run(sync.bigpanda.list_maps())
        org = bench.bigpanda.orgs[bench.bigpanda.settings.organization]
        org.enrichment.delete_map(listing[0].id)
        original = sync.bigpanda.list_maps

        async def stale_listing() -> Any:
            sync.bigpanda.list_maps = original  # type: ignore[method-assign]
            return listing
        sync.bigpanda.list_maps = stale_listing  # type: ignore[method-assign]
        web = next(r for r in _servicenow_rows(bench) if r["name"] == "web-prod-01")
        bench.servicenow.update("cmdb_ci_server", web["sys_id"], {"ip_address": "10.7.7.7"},
                                SYSTEM)
        report = bench.run(sync.sync_cycle())
        # the listing still showed the map: only the delta's 404 can have told the sync
        assert report.recovered_maps == ["snow_cmdb_cmdb_ci_server"]
        assert report.upserts == len(_servicenow_rows(bench))  # the refused delta is not counted; then everything
        assert _map_rows(bench) == _servicenow_rows(bench)
    finally:
        bench.run(sync.aclose())


def test_run_syncs_until_stopped_and_survives_a_failed_cycle(bench: InProcessBench) -> None:
    sync = _sync(bench)
    stop = asyncio.Event()
    original, calls = sync.sync_cycle, []

    async def cycle() -> SyncReport:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("BigPanda unreachable")
        stop.set()
        return await original()
    sync.sync_cycle = cycle  # type: ignore[method-assign]
    sync.settings = sync.settings.model_copy(update={"throttle_backoff": (0.01,)})  # the retry wait, in real time
    try:
        bench.run(sync.run(stop))
        assert len(calls) == 2 and _map_rows(bench) == _servicenow_rows(bench)
    finally:
        bench.run(sync.aclose())


@pytest.mark.parametrize("running_polls, limit, status", [(2, 5, "done"), (9, 3, "running")])
def test_v1_export_polls_its_job_every_retry_interval(bench: InProcessBench, running_polls: int, limit: int,
                                                      status: str) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        bench.advance(seconds)

    async def build() -> Any:
        return build_v1_exporter(bench.settings, CmdbSettings(classes={"cmdb_ci_server": ["name"]},
                                                              job_poll_limit=limit),
                                 clock=bench.clock, pace=False, sleep=sleep,
                                 bigpanda_transport=httpx.ASGITransport(app=bench.bigpanda_app),
                                 servicenow_transport=httpx.ASGITransport(app=bench.servicenow_app))
    exporter = bench.run(build())
    real_job, polls = exporter.bigpanda.job, []

    async def slow_job(location: str) -> dict[str, Any]:  # a job BigPanda takes a while to process
        polls.append(location)
        job = await real_job(location)
        return {**job, "status": "running"} if len(polls) <= running_polls else job
    exporter.bigpanda.job = slow_job  # type: ignore[method-assign]
    try:
        [result] = bench.run(exporter.export()).classes
        assert result.status == status and len(polls) == min(running_polls + 1, limit)
        assert waits == [5.0] * (len(polls) - 1)
        if status != "done":
            assert result.errors == [f"job still 'running' after {limit} polls"]
    finally:
        bench.run(exporter.aclose())


@pytest.mark.bench_check
def test_the_benchmark_measures_both_modes_on_the_same_data() -> None:
    from bpsn.bench import cmdb
    from bpsn.bench.common import Sizes

    r = cmdb.run(Sizes.tiny())
    assert r["v2_first"]["upserts"] == r["v1"]["rows"] == r["cis"] > 0
    assert r["v2_second"]["upserts"] == r["changed"] and r["v2_second"]["deletes"] == 0
    assert 0 < r["v2_second"]["bytes_sent"] < r["v1"]["bytes_sent"] and r["v1"]["status"] == ["done"]
    assert r["bytes_reduction"] == round(1 - r["v2_second"]["bytes_sent"] / r["v1"]["bytes_sent"], 4)
    assert len(cmdb.report_rows({"cmdb": r})) == 4
