"""`bpsn cmdb`: the CMDB v2 delta sync and the v1 full export, once, against the endpoints in
the BPSN_* settings (classes and defaults in BPSN_CMDB_*)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

cmdb_app = typer.Typer(help="CMDB enrichment: v2 delta sync (recommended) and the v1 full CSV export.",
                       no_args_is_help=True)
console = Console()
T = TypeVar("T")


def _run(build: Callable[[Any, Any], Any], work: Callable[[Any], Awaitable[T]]) -> T:
    """Settings from the environment, the job, clean closing; clear messages for what goes wrong."""
    import httpx

    from bpsn.integration.cmdb.settings import CmdbSettings
    from bpsn.integration.config.settings import ConnectionSettings

    connection, settings = ConnectionSettings(), CmdbSettings()  # a bad BPSN_* value: one line from the root

    async def main() -> T:
        job = build(connection, settings)
        try:
            return await work(job)
        finally:
            await job.aclose()
    try:
        return asyncio.run(main())
    except httpx.TransportError as exc:
        console.print(f"[red]cannot reach BigPanda or ServiceNow: {type(exc).__name__}: {escape(str(exc))}[/red]")
    except RuntimeError as exc:  # EnrichmentError, ServiceNowError, Throttled
        console.print(f"[red]{escape(str(exc))}[/red]")
    raise typer.Exit(1)


@cmdb_app.command("sync")
def sync(step: Annotated[bool, typer.Option(
        "--step", help="One bounded pass (at most max pages per table) instead of a whole cycle.")] = False) -> None:
    """Send what changed in the CMDB since the last sync (v2 delta): one cycle, every table read to its end."""
    from bpsn.integration.cmdb.factory import build_cmdb_sync
    from bpsn.integration.cmdb.sync import SyncReport

    report: SyncReport = _run(build_cmdb_sync, lambda s: s.sync_once() if step else s.sync_cycle())
    t = Table(title=f"CMDB v2 delta sync: {report.passes} pass(es), {report.requests} requests, "
                    f"{report.bytes_sent:,} bytes to BigPanda", header_style="bold")
    for col in ("class", "map", "read", "upserts", "deletes", "unchanged", "state"):
        t.add_column(col)
    for c in report.classes:
        state = (f"[red]{escape(c.error)}[/red]" if c.error else
                 ("map re-created, resent in full; " if c.recovered_map else "map created; " if c.created_map else "")
                 + ("complete" if c.complete else f"continues after {c.cursor}"))
        t.add_row(c.table, f"{c.map_name} ({c.map_id})" if c.map_id else c.map_name, str(c.read), str(c.upserts), str(c.deletes),
                  str(c.unchanged), state)
    console.print(t)
    if report.backoffs:
        console.print(f"throttled (429): backed off {', '.join(f'{w:.0f} s' for w in report.backoffs)}")
    raise typer.Exit(1 if report.errors else 0)


@cmdb_app.command("export-v1")
def export_v1() -> None:
    """Upload every configured class whole as CSV to its v1 enrichment table and wait for the jobs."""
    from bpsn.integration.cmdb.export_v1 import ExportReport
    from bpsn.integration.cmdb.factory import build_v1_exporter

    report: ExportReport = _run(build_v1_exporter, lambda e: e.export())
    t = Table(title=f"CMDB v1 export: {report.requests} requests, {report.bytes_sent:,} bytes to BigPanda",
              header_style="bold")
    for col in ("class", "enrichment id", "rows", "CSV bytes", "job", "status"):
        t.add_column(col)
    for c in report.classes:
        status = c.status if not c.errors else f"{c.status}: {'; '.join(c.errors)}"
        t.add_row(c.table, c.map_id, str(c.rows), f"{c.bytes_sent:,}", c.job_id,
                  escape(status) if c.status == "done" else f"[red]{escape(status)}[/red]")
    console.print(t)
    raise typer.Exit(0 if report.ok else 1)
