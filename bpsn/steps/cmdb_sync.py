"""Binds features/cmdb_sync.feature: the CMDB v2 delta sync and the v1 export against both
simulators in-process; every wait (retries, 429 backoff) moves the bench's virtual clock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pytest_bdd import given, parsers, then, when

from bpsn.harness.base import Harness
from bpsn.integration.cmdb import (
    CmdbSettings,
    CmdbSync,
    ExportReport,
    SyncReport,
    V1Exporter,
)
from bpsn.integration.cmdb.factory import build_cmdb_sync, build_v1_exporter

SERVER_TABLE = "cmdb_ci_server"
DAY = 86_400


class CmdbHarness:
    """The sync and the exporter as the core would run them, rebuilt on demand (a restart)."""

    def __init__(self, bpsn_bench: Harness) -> None:
        self.bench = bpsn_bench
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
            "clock": self.bench.clock,
            "pace": False,
            "sleep": self._sleep,
            "bigpanda_transport": self.bench.core_transport("bigpanda"),
            "servicenow_transport": self.bench.core_transport("servicenow"),
        }

        async def build() -> tuple[CmdbSync, V1Exporter]:
            return (
                build_cmdb_sync(self.bench.settings, self.settings, **options),
                build_v1_exporter(self.bench.settings, self.settings, **options),
            )

        self.sync, self.exporter = self.bench.run(build())

    def close(self) -> None:
        for job in (self.sync, self.exporter):
            if job is not None:
                self.bench.run(job.aclose())
        self.sync = self.exporter = None

    def map_ids(self) -> dict[str, str]:
        """BigPanda's enrichment maps, name -> id (its mapping-enrichment API)."""
        r = self.bench.operator_client.get("/resources/v2.1/mapping-enrichment")
        assert r.status_code == 200, r.text
        return {m["name"]: m["id"] for m in r.json()["maps"]}

    def rows(self, map_id: str) -> list[dict[str, str]]:
        r = self.bench.operator_client.get(f"/resources/v2.1/mapping-enrichment/{map_id}/map")
        assert r.status_code == 200, r.text
        return list(r.json()["rows"])

    def job_status(self, job_id: str) -> str:
        r = self.bench.alerts_client.get(f"/resources/v1.0/enrichment-jobs/{job_id}")
        assert r.status_code == 200, r.text
        return str(r.json()["status"])


@pytest.fixture
def bpsn_cmdb(bpsn_bench: Harness) -> Iterator[CmdbHarness]:
    harness = CmdbHarness(bpsn_bench)
    harness.rebuild()
    yield harness
    harness.close()


def _servers(bpsn_bench: Harness, fields: list[str]) -> list[dict[str, str]]:
    r = bpsn_bench.run(
        bpsn_bench.admin.get(
            f"/api/now/table/{SERVER_TABLE}",
            params={"sysparm_fields": ",".join(["sys_id", *fields]), "sysparm_exclude_reference_link": "true"},
        )
    )
    r.raise_for_status()
    return list(r.json()["result"])


def _server_id(bpsn_bench: Harness, name: str) -> str:
    matches = [s for s in _servers(bpsn_bench, ["name"]) if s["name"] == name]
    assert len(matches) == 1, f"expected one server named {name}, found {len(matches)}"
    return matches[0]["sys_id"]


# --- given ---------------------------------------------------------------------------------------
@given(parsers.parse('the CMDB sync sends class "{table}" with fields "{fields}"'))
def configure(bpsn_cmdb: CmdbHarness, table: str, fields: str) -> None:
    bpsn_cmdb.rebuild(classes={table: [f.strip() for f in fields.split(",")]})


@given(parsers.parse("the CMDB holds {count:d} servers"))
def cmdb_holds(bpsn_bench: Harness, count: int) -> None:
    existing = len(_servers(bpsn_bench, ["name"]))
    for i in range(existing, count):
        r = bpsn_bench.run(
            bpsn_bench.admin.post(
                "/api/now/table/cmdb_ci_linux_server",
                json={"name": f"app-prod-{i:02d}", "ip_address": f"10.0.5.{i}", "os": "Linux"},
            )
        )
        assert r.status_code == 201, r.text
    assert len(_servers(bpsn_bench, ["name"])) == count


@given(parsers.parse("the CMDB sync reads pages of {size:d} records, at most {pages:d} pages per pass"))
def paging(bpsn_cmdb: CmdbHarness, size: int, pages: int) -> None:
    bpsn_cmdb.rebuild(page_size=size, max_pages=pages)


@given("the CMDB sync ran a day ago")
def ran_a_day_ago(bpsn_bench: Harness, bpsn_cmdb: CmdbHarness) -> None:
    assert bpsn_cmdb.sync is not None
    report = bpsn_bench.run(bpsn_cmdb.sync.sync_cycle())
    assert report.complete and not report.errors, report
    bpsn_bench.advance(DAY)


@given(parsers.parse("BigPanda answers {status:d} to the next {times:d} CMDB requests"))
def bigpanda_fails(bpsn_bench: Harness, status: int, times: int) -> None:
    bpsn_bench.faults.bigpanda.add(path="/resources/v2.1/mapping-enrichment", status=status, times=times)


@given(parsers.parse("BigPanda answers {status:d} to the next CMDB request"))
def bigpanda_fails_once(bpsn_bench: Harness, status: int) -> None:
    bigpanda_fails(bpsn_bench, status, 1)


# --- when ----------------------------------------------------------------------------------------
@when("the CMDB sync runs")
def sync_runs(bpsn_bench: Harness, bpsn_cmdb: CmdbHarness) -> None:
    assert bpsn_cmdb.sync is not None
    bpsn_cmdb.report = bpsn_bench.run(bpsn_cmdb.sync.sync_cycle())


@when("the CMDB sync runs one pass")
def sync_runs_one_pass(bpsn_bench: Harness, bpsn_cmdb: CmdbHarness) -> None:
    assert bpsn_cmdb.sync is not None
    bpsn_cmdb.report = bpsn_bench.run(bpsn_cmdb.sync.sync_once())


@when("the CMDB sync restarts")
def sync_restarts(bpsn_cmdb: CmdbHarness) -> None:
    bpsn_cmdb.rebuild()


@when("the CMDB v1 export runs")
def export_runs(bpsn_bench: Harness, bpsn_cmdb: CmdbHarness) -> None:
    assert bpsn_cmdb.exporter is not None
    bpsn_cmdb.export = bpsn_bench.run(bpsn_cmdb.exporter.export())


@when(parsers.parse('an engineer sets "{field}" of server "{name}" to "{value}"'))
def engineer_edits(bpsn_bench: Harness, field: str, name: str, value: str) -> None:
    r = bpsn_bench.run(
        bpsn_bench.admin.patch(f"/api/now/table/{SERVER_TABLE}/{_server_id(bpsn_bench, name)}", json={field: value})
    )
    assert r.status_code == 200, r.text


@when(parsers.parse('an engineer deletes server "{name}"'))
def engineer_deletes(bpsn_bench: Harness, name: str) -> None:
    r = bpsn_bench.run(bpsn_bench.admin.delete(f"/api/now/table/{SERVER_TABLE}/{_server_id(bpsn_bench, name)}"))
    assert r.status_code == 204, r.text


@when(parsers.parse('a BigPanda user deletes the map "{name}"'))
def user_deletes_map(bpsn_bench: Harness, bpsn_cmdb: CmdbHarness, name: str) -> None:
    r = bpsn_bench.operator_client.delete(f"/resources/v2.1/mapping-enrichment/{bpsn_cmdb.map_ids()[name]}")
    assert r.status_code == 204, r.text


# --- then ----------------------------------------------------------------------------------------
@then(parsers.re(r"BigPanda receives (?P<upserts>\d+) upserts? and (?P<deletes>\d+) deletes?"))
def receives(bpsn_cmdb: CmdbHarness, upserts: str, deletes: str) -> None:
    assert bpsn_cmdb.report is not None and not bpsn_cmdb.report.errors, bpsn_cmdb.report
    assert (bpsn_cmdb.report.upserts, bpsn_cmdb.report.deletes) == (int(upserts), int(deletes)), bpsn_cmdb.report


@then("no CMDB data was sent to BigPanda")
def nothing_sent(bpsn_cmdb: CmdbHarness) -> None:
    assert bpsn_cmdb.report is not None
    assert bpsn_cmdb.report.records_sent == 0 and bpsn_cmdb.report.bytes_sent == 0, bpsn_cmdb.report


@then(parsers.parse("BigPanda's map \"{name}\" holds every server as ServiceNow has it"))
def map_matches(bpsn_bench: Harness, bpsn_cmdb: CmdbHarness, name: str) -> None:
    _assert_same_rows(bpsn_bench, bpsn_cmdb, bpsn_cmdb.rows(bpsn_cmdb.map_ids()[name]))


@then(parsers.parse("BigPanda's v1 table \"{map_id}\" holds every server as ServiceNow has it"))
def v1_table_matches(bpsn_bench: Harness, bpsn_cmdb: CmdbHarness, map_id: str) -> None:
    _assert_same_rows(bpsn_bench, bpsn_cmdb, bpsn_cmdb.rows(map_id))


def _assert_same_rows(bpsn_bench: Harness, bpsn_cmdb: CmdbHarness, rows: list[dict[str, str]]) -> None:
    fields = bpsn_cmdb.settings.classes[SERVER_TABLE]
    expected = sorted(_servers(bpsn_bench, fields), key=lambda r: r["sys_id"])
    assert sorted(rows, key=lambda r: r["sys_id"]) == expected


@then(parsers.parse('the sync reports the map "{name}" re-created'))
def map_recreated(bpsn_cmdb: CmdbHarness, name: str) -> None:
    assert bpsn_cmdb.report is not None and bpsn_cmdb.report.recovered_maps == [name], bpsn_cmdb.report


@then("the sync backed off 60 s and then 300 s, each lengthened by at most 25% jitter")
def backed_off(bpsn_cmdb: CmdbHarness) -> None:
    assert bpsn_cmdb.report is not None
    first, second = bpsn_cmdb.report.backoffs
    assert 60 <= first <= 75 and 300 <= second <= 375, bpsn_cmdb.report.backoffs


@then(parsers.parse("the sync waited once, between {low:g} and {high:g} seconds"))
def waited_once(bpsn_cmdb: CmdbHarness, low: float, high: float) -> None:
    assert len(bpsn_cmdb.waits) == 1 and low <= bpsn_cmdb.waits[0] <= high, bpsn_cmdb.waits


@then(parsers.parse('the sync has not reached the end of "{table}"'))
def not_at_end(bpsn_cmdb: CmdbHarness, table: str) -> None:
    assert bpsn_cmdb.report is not None
    [c] = [c for c in bpsn_cmdb.report.classes if c.table == table]
    assert not c.complete and c.cursor, c


@then(parsers.parse('the sync has reached the end of "{table}"'))
def at_end(bpsn_cmdb: CmdbHarness, table: str) -> None:
    assert bpsn_cmdb.report is not None
    [c] = [c for c in bpsn_cmdb.report.classes if c.table == table]
    assert c.complete and c.cursor == "", c


@then(parsers.parse('the sync reports for "{table}" the error "{text}"'))
def class_error(bpsn_cmdb: CmdbHarness, table: str, text: str) -> None:
    assert bpsn_cmdb.report is not None
    [c] = [c for c in bpsn_cmdb.report.classes if c.table == table]
    assert text in c.error, c.error


@then(parsers.parse('the v1 upload job of "{table}" is done with {rows:d} rows'))
def v1_done(bpsn_cmdb: CmdbHarness, table: str, rows: int) -> None:
    assert bpsn_cmdb.export is not None
    [c] = [c for c in bpsn_cmdb.export.classes if c.table == table]
    assert (c.status, c.rows, c.errors) == ("done", rows, []), c
    assert bpsn_cmdb.job_status(c.job_id) == "done"


@then(parsers.parse('the v1 upload job of "{table}" failed saying "{text}"'))
def v1_failed(bpsn_cmdb: CmdbHarness, table: str, text: str) -> None:
    assert bpsn_cmdb.export is not None
    [c] = [c for c in bpsn_cmdb.export.classes if c.table == table]
    assert c.status == "failed" and any(text in e for e in c.errors), c
