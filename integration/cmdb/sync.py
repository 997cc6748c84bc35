"""The CMDB v2 delta sync: the I/O around the planner.

A pass, per configured class: make sure the BigPanda map exists (re-create a map deleted on
BigPanda's side, then resend in full), read up to `max_pages` pages from the cursor, send
the delta, then store the new hashes and cursor in ServiceNow. BigPanda gets the delta
before ServiceNow records it as sent, so a crash in between resends it next time, and an
upsert BigPanda already holds (same hash) changes nothing there: nothing is lost or doubled.
A cycle is as many passes as it takes every class to reach the end of its table.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

from bpsn.base.clock import Clock, glide

from .enrichment_api import EnrichmentApi, MapInfo, StaleMap, Throttled, Traffic
from .planner import (
    KEY_FIELD,
    ClassSchema,
    KeySpan,
    bucket_writes,
    hashes_after,
    known_hashes,
    plan_delta,
    prefix_range,
)
from .settings import CmdbSettings
from .source import read_rows
from .state import MapRecord, SyncStateStore

log = logging.getLogger("bpsn.integration.cmdb")
DELTA_CHUNK = 1_000  # upserts + deletes per delta call (BigPanda's simulator takes up to 10,000)


@dataclass
class ClassReport:
    table: str
    map_name: str
    map_id: str = ""
    read: int = 0
    upserts: int = 0
    deletes: int = 0
    unchanged: int = 0
    created_map: bool = False
    recovered_map: bool = False
    complete: bool = False  # this pass reached the end of the table
    cursor: str = ""
    error: str = ""


@dataclass
class SyncReport:
    classes: list[ClassReport] = field(default_factory=list)
    passes: int = 0
    requests: int = 0  # to BigPanda, retries included
    bytes_sent: int = 0  # request bodies to BigPanda, retries included
    backoffs: list[float] = field(default_factory=list)  # 429 backoffs taken, seconds
    started: float = 0.0
    finished: float = 0.0

    def _sum(self, name: str) -> int:
        return sum(getattr(c, name) for c in self.classes)

    @property
    def read(self) -> int:
        return self._sum("read")

    @property
    def upserts(self) -> int:
        return self._sum("upserts")

    @property
    def deletes(self) -> int:
        return self._sum("deletes")

    @property
    def unchanged(self) -> int:
        return self._sum("unchanged")

    @property
    def records_sent(self) -> int:
        return self.upserts + self.deletes

    @property
    def recovered_maps(self) -> list[str]:
        return [c.map_name for c in self.classes if c.recovered_map]

    @property
    def errors(self) -> list[str]:
        return [f"{c.table}: {c.error}" for c in self.classes if c.error]

    @property
    def complete(self) -> bool:
        return all(c.complete for c in self.classes)

    def add(self, other: SyncReport) -> None:
        """Fold a later pass into this one (a cycle's report): per class, counts add up and the
        latest pass says where the class stands."""
        mine = {c.table: c for c in self.classes}
        for c in other.classes:
            if c.table not in mine:
                mine[c.table] = replace(c)
                self.classes.append(mine[c.table])
                continue
            m = mine[c.table]
            m.read, m.upserts, m.deletes, m.unchanged = (m.read + c.read, m.upserts + c.upserts,
                                                         m.deletes + c.deletes, m.unchanged + c.unchanged)
            m.created_map |= c.created_map
            m.recovered_map |= c.recovered_map
            m.map_id, m.complete, m.cursor, m.error = c.map_id, c.complete, c.cursor, c.error
        self.passes += other.passes
        self.requests += other.requests
        self.bytes_sent += other.bytes_sent
        self.backoffs += other.backoffs
        self.started = self.started or other.started
        self.finished = other.finished


class CmdbSync:
    def __init__(self, state: SyncStateStore, bigpanda: EnrichmentApi, settings: CmdbSettings, clock: Clock,
                 *, close: Callable[[], Awaitable[None]] | None = None) -> None:
        self.state, self.bigpanda, self.settings, self.clock = state, bigpanda, settings, clock
        self.schemas = settings.schemas()
        self._close = close

    # --- one pass ------------------------------------------------------------------------------
    async def sync_once(self, tables: set[str] | None = None) -> SyncReport:
        """One pass over the configured classes (or `tables` of them). A class that fails is
        reported and the others go on; a BigPanda that stays throttled (429) through every
        backoff stops the pass (Throttled): the next pass resumes where it stood."""
        before = self.bigpanda.traffic.snapshot()
        report = SyncReport(passes=1, started=self.clock.now())
        try:
            live = await self.bigpanda.list_maps()  # one call notices every map deleted on BigPanda's side
            for schema in self.schemas:
                if tables is None or schema.table in tables:
                    report.classes.append(await self._sync_class(schema, live))
        finally:
            self._account(report, self.bigpanda.traffic.since(before))
        return report

    def _account(self, report: SyncReport, traffic: Traffic) -> None:
        report.requests, report.bytes_sent, report.backoffs = traffic.requests, traffic.bytes_sent, traffic.backoffs
        report.finished = self.clock.now()

    async def _sync_class(self, schema: ClassSchema, live: list[MapInfo]) -> ClassReport:
        report = ClassReport(schema.table, schema.map_name)
        try:
            record = await self.state.load_map(schema.map_name)
            missing = record.map_id not in {m.id for m in live}
            # read first: a class whose schema is wrong fails before anything is sent
            rows, at_end = await self._read(schema, "" if missing else record.cursor)
            if missing:
                record = await self._ensure_map(schema, record, live, report)
            try:
                record = await self._apply(schema, record, rows, at_end, report)
            except StaleMap:  # deleted between the listing and the delta
                record = await self._ensure_map(schema, record, await self.bigpanda.list_maps(), report)
                rows, at_end = await self._read(schema, record.cursor)
                record = await self._apply(schema, record, rows, at_end, report)
            report.map_id, report.cursor = record.map_id, record.cursor
        except Throttled:
            raise
        except Exception as exc:  # one class's failure (a schema error, a refused call) spares the others
            log.error("CMDB sync of %s failed: %s", schema.table, exc)
            report.error = str(exc) or type(exc).__name__
        return report

    async def _ensure_map(self, schema: ClassSchema, record: MapRecord, live: list[MapInfo],
                          report: ClassReport) -> MapRecord:
        """Our map id is not (or no longer) on BigPanda: adopt a map of our name, else create one.
        Either way its content is unknown, so the cycle starts over and sends every row: hashes
        stored for the old id count as never sent."""
        if record.map_id:
            report.recovered_map = True
            log.warning("map %s (%s) is gone on BigPanda's side: re-creating it", schema.map_name, record.map_id)
        found = next((m for m in live if m.name == schema.map_name and m.id != record.map_id), None)
        if found is None:
            found = await self.bigpanda.create_map(schema.map_name, [KEY_FIELD])
            report.created_map = found is not None
        if found is None:  # created meanwhile by someone else: take it
            found = next((m for m in await self.bigpanda.list_maps() if m.name == schema.map_name), None)
            if found is None:
                raise RuntimeError(f"map {schema.map_name} can be neither created nor found on BigPanda")
        return await self.state.save_map(replace(record, map_id=found.id, cursor=""))

    async def _read(self, schema: ClassSchema, cursor: str) -> tuple[list[dict[str, str]], bool]:
        return await read_rows(self.state.servicenow, schema, cursor, page_size=self.settings.page_size,
                               max_pages=self.settings.max_pages)

    async def _apply(self, schema: ClassSchema, record: MapRecord, rows: list[dict[str, str]], at_end: bool,
                     report: ClassReport) -> MapRecord:
        """Send the delta of the rows read from the record's cursor, then store hashes and cursor."""
        length = self.settings.key_prefix_length
        span = KeySpan(record.cursor, None if at_end or not rows else rows[-1][KEY_FIELD])
        loaded = await self.state.load_buckets(schema.map_name, *prefix_range(span, length))
        known = known_hashes(loaded, record.map_id)
        delta = plan_delta(rows, known, span)
        for chunk in delta.chunks(DELTA_CHUNK):
            await self.bigpanda.send_delta(record.map_id, chunk)
        await self.state.save_buckets(schema.map_name, bucket_writes(loaded, hashes_after(known, span, rows),
                                                                     record.map_id, length))
        record = replace(record, cursor=span.through or "",
                         cycle_completed_on=glide(self.clock.now()) if span.reaches_end else record.cycle_completed_on)
        record = await self.state.save_map(record)
        report.read += len(rows)
        report.upserts += len(delta.upserts)
        report.deletes += len(delta.deletes)
        report.unchanged += delta.unchanged
        report.complete = span.reaches_end
        return record

    # --- cycles and the loop ---------------------------------------------------------------------------
    async def sync_cycle(self) -> SyncReport:
        """Passes until every class has reached the end of its table once (a failed class drops
        out of the cycle, reported with its error)."""
        total = SyncReport()
        pending = {s.table for s in self.schemas}
        while pending:
            report = await self.sync_once(pending)
            total.add(report)
            pending -= {c.table for c in report.classes if c.complete or c.error}
        return total

    async def run(self, stop: asyncio.Event) -> None:
        """A cycle every `sync_interval` seconds until `stop` is set. After a failed or throttled
        cycle, the next comes after the last throttle backoff step (900 s by default) instead."""
        while not stop.is_set():
            wait = self.settings.sync_interval
            try:
                report = await self.sync_cycle()
                if report.errors:
                    wait = min(wait, self.settings.throttle_backoff[-1])
                log.info("CMDB sync: %d read, %d upserts, %d deletes, %d bytes to BigPanda%s", report.read,
                         report.upserts, report.deletes, report.bytes_sent,
                         f"; errors: {'; '.join(report.errors)}" if report.errors else "")
            except Exception as exc:  # the state in ServiceNow is consistent: the next cycle resumes
                log.error("CMDB sync cycle failed: %s", exc)
                wait = min(wait, self.settings.throttle_backoff[-1])
            try:
                await asyncio.wait_for(stop.wait(), wait)
            except TimeoutError:
                pass

    async def aclose(self) -> None:
        if self._close is not None:
            await self._close()
