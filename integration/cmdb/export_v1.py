"""CMDB v1, kept for backward compatibility: every configured class exported whole as CSV to
a v1 enrichment table (`/resources/v1.0/enrichments/{id}/map`, org token), then the upload
job polled until `done` or `failed`.

A v1 upload replaces the whole table, so an export always reads the entire class: the v2
sync's `max_pages` cannot apply (a partial CSV would delete the rest of the table).
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from bpsn.integration.clients.servicenow import ServiceNowClient

from .enrichment_api import EnrichmentApi, Throttled
from .planner import KEY_FIELD, ClassSchema
from .settings import CmdbSettings
from .source import read_rows

log = logging.getLogger("bpsn.integration.cmdb")


def to_csv(columns: Sequence[str], rows: Sequence[dict[str, str]]) -> bytes:
    """RFC 4180 CSV with a header, ending with a newline as BigPanda requires."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([row[c] for c in columns] for row in rows)
    return out.getvalue().encode()


@dataclass
class ClassExport:
    table: str
    map_id: str
    rows: int = 0
    bytes_sent: int = 0  # the CSV body
    job_id: str = ""
    status: str = ""  # done, failed, or the last status seen when polling gave up
    errors: list[str] = field(default_factory=list)


@dataclass
class ExportReport:
    classes: list[ClassExport] = field(default_factory=list)
    requests: int = 0  # to BigPanda, job polls and retries included
    bytes_sent: int = 0  # request bodies to BigPanda, retries included

    @property
    def rows(self) -> int:
        return sum(c.rows for c in self.classes)

    @property
    def ok(self) -> bool:
        return all(c.status == "done" for c in self.classes)


class V1Exporter:
    def __init__(self, servicenow: ServiceNowClient, bigpanda: EnrichmentApi, settings: CmdbSettings,
                 sleep: Callable[[float], Awaitable[None]], *,
                 close: Callable[[], Awaitable[None]] | None = None) -> None:
        self.servicenow, self.bigpanda, self.settings, self._sleep = servicenow, bigpanda, settings, sleep
        self._close = close

    async def export(self) -> ExportReport:
        before = self.bigpanda.traffic.snapshot()
        report = ExportReport()
        for schema in self.settings.schemas():
            report.classes.append(await self._export_class(schema))
        traffic = self.bigpanda.traffic.since(before)
        report.requests, report.bytes_sent = traffic.requests, traffic.bytes_sent
        return report

    async def _export_class(self, schema: ClassSchema) -> ClassExport:
        result = ClassExport(schema.table, schema.v1_map_id)
        try:
            rows, _ = await read_rows(self.servicenow, schema, "", page_size=self.settings.page_size, max_pages=None)
            body = to_csv(schema.columns, rows)
            result.rows, result.bytes_sent = len(rows), len(body)
            location = await self.bigpanda.upload_csv(schema.v1_map_id, body, [KEY_FIELD])
            result.job_id = location.rstrip("/").rsplit("/", 1)[-1]
            for poll in range(self.settings.job_poll_limit):
                job = await self.bigpanda.job(location)
                result.status, result.errors = str(job.get("status", "")), [str(e) for e in job.get("errors", [])]
                if result.status in ("done", "failed"):
                    break
                if poll + 1 < self.settings.job_poll_limit:
                    await self._sleep(self.settings.retry_interval)
            else:
                result.errors.append(f"job still {result.status!r} after {self.settings.job_poll_limit} polls")
        except Throttled:
            raise
        except Exception as exc:  # one class's failure spares the others
            log.error("CMDB v1 export of %s failed: %s", schema.table, exc)
            result.status, result.errors = "failed", [*result.errors, str(exc) or type(exc).__name__]
        return result

    async def aclose(self) -> None:
        if self._close is not None:
            await self._close()
