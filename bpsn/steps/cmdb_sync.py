"""Binds features/cmdb_sync.feature: the CMDB v2 delta sync and the v1 export against both
simulators in-process; every wait (retries, 429 backoff) moves the bench's virtual clock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pytest_bdd import given, parsers, then, when

from bpsn.integration.cmdb import CmdbSettings, CmdbSync, ExportReport, SyncReport, V1Exporter
from bpsn.integration.cmdb.factory import build_cmdb_sync, build_v1_exporter
from bpsn.simulator.bigpanda.enrichment.store import EnrichmentStore
from bpsn.testing import InProcessBench

SERVER_TABLE = "cmdb_ci_server"
DAY = 86_400


class CmdbHarness:
    """The sync and the exporter as the core would run them, rebuilt on demand (a restart)."""

    def __init__(self, bench: InProcessBench) -> None:
        self.bench = bench
        self.settings = CmdbSettings()
        self.waits: list[float] = []
        self.sync: CmdbSync | None = None
        self.exporter: V1Exporter | None = None
        self.report: SyncReport | None = None
        self.export: ExportReport | None = None

    async def _sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.bench.advance(seconds)

    def rebuild(self, **changes: Any) -> None:
        self.close()
        self.settings = self.settings.model_copy(update=changes)
        options: dict[str, Any] = {
            "clock": self.bench.clock, "pace": False, "sleep": self._sleep,
            "bigpanda_transport": httpx.ASGITransport(app=self.bench.bigpanda_app),
            "servicenow_transport": httpx.ASGITransport(app=self.bench.servicenow_app)}

        async def build() -> tuple[CmdbSync, V1Exporter]:
            return (build_cmdb_sync(self.bench.settings, self.settings, **options),
                    build_v1_exporter(self.bench.settings, self.settings, **options))
        self.sync, self.exporter = self.bench.run(build())

    def close(self) -> None:
        for job in (self.sync, self.exporter):
            if job is not None:
                self.bench.run(job.aclose())
        self.sync = self.exporter = None

    @property
    def enrichment(self) -> EnrichmentStore:
        return self.bench.bigpanda.orgs[self.bench.bigpanda.settings.organization].enrichment


@pytest.fixture
def cmdb(bench: InProcessBench) -> Iterator[CmdbHarness]:
    harness = CmdbHarness(bench)
    harness.rebuild()
    yield harness
    harness.close()


def _servers(bench: InProcessBench, fields: list[str]) -> list[dict[str, str]]:
    r = bench.run(bench.admin.get(f"/api/now/table/{SERVER_TABLE}", params={
        "sysparm_fields": ",".join(["sys_id", *fields]), "sysparm_exclude_reference_link": "true"}))
    r.raise_for_status()
    return list(r.json()["result"])


def _server_id(bench: InProcessBench, name: str) -> str:
    matches = [s for s in _servers(bench, ["name"]) if s["name"] == name]
    assert len(matches) == 1, f"expected one server named {name}, found {len(matches)}"
    return matches[0]["sys_id"]


# --- given ---------------------------------------------------------------------------------------
@given(parsers.parse('the CMDB sync sends class "{table}" with fields "{fields}"'))
def configure(cmdb: CmdbHarness, table: str, fields: str) -> None:
    cmdb.rebuild(classes={table: [f.strip() for f in fields.split(",")]})


@given(parsers.parse("the CMDB holds {count:d} servers"))
def cmdb_holds(bench: InProcessBench, count: int) -> None:
    existing = len(_servers(bench, ["name"]))
    for i in range(existing, count):
        r = bench.run(bench.admin.post("/api/now/table/cmdb_ci_linux_server", json={
            "name": f"app-prod-{i:02d}", "ip_address": f"10.0.5.{i}", "os": "Linux"}))
        assert r.status_code == 201, r.text
    assert len(_servers(bench, ["name"])) == count


@given(parsers.parse("the CMDB sync reads pages of {size:d} records, at most {pages:d} pages per pass"))
def paging(cmdb: CmdbHarness, size: int, pages: int) -> None:
    cmdb.rebuild(page_size=size, max_pages=pages)


@given("the CMDB sync ran a day ago")
def ran_a_day_ago(bench: InProcessBench, cmdb: CmdbHarness) -> None:
    assert cmdb.sync is not None
    report = bench.run(cmdb.sync.sync_cycle())
    assert report.complete and not report.errors, report
    bench.advance(DAY)


@given(parsers.parse("BigPanda answers {status:d} to the next {times:d} CMDB requests"))
def bigpanda_fails(bench: InProcessBench, status: int, times: int) -> None:
    bench.bigpanda.faults.add(path="/resources/v2.1/mapping-enrichment", status=status, times=times)


@given(parsers.parse("BigPanda answers {status:d} to the next CMDB request"))
def bigpanda_fails_once(bench: InProcessBench, status: int) -> None:
    bigpanda_fails(bench, status, 1)


# --- when ----------------------------------------------------------------------------------------
@when("the CMDB sync runs")
def sync_runs(bench: InProcessBench, cmdb: CmdbHarness) -> None:
    assert cmdb.sync is not None
    cmdb.report = bench.run(cmdb.sync.sync_cycle())


@when("the CMDB sync runs one pass")
def sync_runs_one_pass(bench: InProcessBench, cmdb: CmdbHarness) -> None:
    assert cmdb.sync is not None
    cmdb.report = bench.run(cmdb.sync.sync_once())


@when("the CMDB sync restarts")
def sync_restarts(cmdb: CmdbHarness) -> None:
    cmdb.rebuild()


@when("the CMDB v1 export runs")
def export_runs(bench: InProcessBench, cmdb: CmdbHarness) -> None:
    assert cmdb.exporter is not None
    cmdb.export = bench.run(cmdb.exporter.export())


@when(parsers.parse('an engineer sets "{field}" of server "{name}" to "{value}"'))
def engineer_edits(bench: InProcessBench, field: str, name: str, value: str) -> None:
    r = bench.run(bench.admin.patch(f"/api/now/table/{SERVER_TABLE}/{_server_id(bench, name)}", json={field: value}))
    assert r.status_code == 200, r.text


@when(parsers.parse('an engineer deletes server "{name}"'))
def engineer_deletes(bench: InProcessBench, name: str) -> None:
    r = bench.run(bench.admin.delete(f"/api/now/table/{SERVER_TABLE}/{_server_id(bench, name)}"))
    assert r.status_code == 204, r.text


@when(parsers.parse('a BigPanda user deletes the map "{name}"'))
def user_deletes_map(bench: InProcessBench, cmdb: CmdbHarness, name: str) -> None:
    [map_id] = [m.id for m in cmdb.enrichment.maps.values() if m.name == name]
    r = bench.run(bench.source.delete(f"/resources/v2.1/mapping-enrichment/{map_id}", headers={
        "Authorization": f"Bearer {bench.bigpanda.settings.user_api_key}"}))
    assert r.status_code == 204, r.text


# --- then ----------------------------------------------------------------------------------------
@then(parsers.re(r"BigPanda receives (?P<upserts>\d+) upserts? and (?P<deletes>\d+) deletes?"))
def receives(cmdb: CmdbHarness, upserts: str, deletes: str) -> None:
    assert cmdb.report is not None and not cmdb.report.errors, cmdb.report
    assert (cmdb.report.upserts, cmdb.report.deletes) == (int(upserts), int(deletes)), cmdb.report


@then("no CMDB data was sent to BigPanda")
def nothing_sent(cmdb: CmdbHarness) -> None:
    assert cmdb.report is not None
    assert cmdb.report.records_sent == 0 and cmdb.report.bytes_sent == 0, cmdb.report


@then(parsers.parse("BigPanda's map \"{name}\" holds every server as ServiceNow has it"))
def map_matches(bench: InProcessBench, cmdb: CmdbHarness, name: str) -> None:
    [table] = [m for m in cmdb.enrichment.maps.values() if m.name == name]
    _assert_same_rows(bench, cmdb, list(table.rows.values()))


@then(parsers.parse("BigPanda's v1 table \"{map_id}\" holds every server as ServiceNow has it"))
def v1_table_matches(bench: InProcessBench, cmdb: CmdbHarness, map_id: str) -> None:
    _assert_same_rows(bench, cmdb, list(cmdb.enrichment.maps[map_id].rows.values()))


def _assert_same_rows(bench: InProcessBench, cmdb: CmdbHarness, rows: list[dict[str, str]]) -> None:
    fields = cmdb.settings.classes[SERVER_TABLE]
    expected = sorted(_servers(bench, fields), key=lambda r: r["sys_id"])
    assert sorted(rows, key=lambda r: r["sys_id"]) == expected


@then(parsers.parse('the sync reports the map "{name}" re-created'))
def map_recreated(cmdb: CmdbHarness, name: str) -> None:
    assert cmdb.report is not None and cmdb.report.recovered_maps == [name], cmdb.report


@then("the sync backed off 60 s and then 300 s, each lengthened by at most 25% jitter")
def backed_off(cmdb: CmdbHarness) -> None:
    assert cmdb.report is not None
    first, second = cmdb.report.backoffs
    assert 60 <= first <= 75 and 300 <= second <= 375, cmdb.report.backoffs


@then(parsers.parse("the sync waited once, between {low:g} and {high:g} seconds"))
def waited_once(cmdb: CmdbHarness, low: float, high: float) -> None:
    assert len(cmdb.waits) == 1 and low <= cmdb.waits[0] <= high, cmdb.waits


@then(parsers.parse('the sync has not reached the end of "{table}"'))
def not_at_end(cmdb: CmdbHarness, table: str) -> None:
    assert cmdb.report is not None
    [c] = [c for c in cmdb.report.classes if c.table == table]
    assert not c.complete and c.cursor, c


@then(parsers.parse('the sync has reached the end of "{table}"'))
def at_end(cmdb: CmdbHarness, table: str) -> None:
    assert cmdb.report is not None
    [c] = [c for c in cmdb.report.classes if c.table == table]
    assert c.complete and c.cursor == "", c


@then(parsers.parse('the sync reports for "{table}" the error "{text}"'))
def class_error(cmdb: CmdbHarness, table: str, text: str) -> None:
    assert cmdb.report is not None
    [c] = [c for c in cmdb.report.classes if c.table == table]
    assert text in c.error, c.error


@then(parsers.parse('the v1 upload job of "{table}" is done with {rows:d} rows'))
def v1_done(cmdb: CmdbHarness, table: str, rows: int) -> None:
    assert cmdb.export is not None
    [c] = [c for c in cmdb.export.classes if c.table == table]
    assert (c.status, c.rows, c.errors) == ("done", rows, []), c
    assert cmdb.enrichment.job(c.job_id).status == "done"


@then(parsers.parse('the v1 upload job of "{table}" failed saying "{text}"'))
def v1_failed(cmdb: CmdbHarness, table: str, text: str) -> None:
    assert cmdb.export is not None
    [c] = [c for c in cmdb.export.classes if c.table == table]
    assert c.status == "failed" and any(text in e for e in c.errors), c
