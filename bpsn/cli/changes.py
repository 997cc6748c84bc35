"""`bpsn changes sync` and `bpsn oim forward`: one pass of each forwarder against the endpoints
in the BPSN_* settings, with a summary. Exit 0 when every record went through (or waits for
the next pass under the rate limit), 1 when a record was refused or BigPanda failed, 2 when the
pass could not run (settings, connection)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from .helptext import FullSummaries

forwarding_app = typer.Typer(add_completion=False)
changes_app = typer.Typer(help="Changes and maintenance: ServiceNow change requests, change tasks and outages "
                               "-> BigPanda changes and maintenance plans.", no_args_is_help=True, cls=FullSummaries)
oim_app = typer.Typer(help="OIM forwarding: selected ServiceNow records -> BigPanda alerts through OIM.",
                      no_args_is_help=True, cls=FullSummaries)
forwarding_app.add_typer(changes_app, name="changes")
forwarding_app.add_typer(oim_app, name="oim")
console = Console()


def _summary(title: str, rows: list[tuple[str, object]], problems: list[str], deferred: str, failure: str) -> int:
    from rich.markup import escape

    table = Table(title=title, header_style="bold")
    table.add_column("what")
    table.add_column("count", justify="right")
    for name, value in rows:
        table.add_row(name, str(value))
    console.print(table)
    for problem in problems:
        console.print(f"[red]refused[/red] {escape(problem)}")
    if deferred:
        console.print(f"[yellow]waiting[/yellow] {escape(deferred)}; the next pass goes on from there")
    if failure:
        console.print(f"[red]stopped[/red] {escape(failure)}; the next pass reads the same records again")
    return 1 if problems or failure else 0


@changes_app.command("sync")
def changes_sync(lookback: Annotated[float | None, typer.Option(
        min=0, help="Seconds back the pass reads (default: BPSN_CHANGES_LOOKBACK_SECONDS or one day).")] = None,
                 ) -> None:
    """One pass: changed records -> BigPanda changes (upserted) and maintenance plans."""
    import httpx

    from bpsn.base.clock import SimClock
    from bpsn.integration.changes.factory import ChangesConnection, build_changes_forwarder
    from bpsn.integration.config.settings import ConnectionSettings
    from bpsn.integration.factory import build_runner, close_runner

    settings, connection = ConnectionSettings(), ChangesConnection()  # a bad BPSN_* value: one line from the root
    if lookback is not None:
        connection.changes_lookback_seconds = lookback

    async def main():  # type: ignore[no-untyped-def]
        runner = build_runner(settings, clock=SimClock())
        try:
            return await build_changes_forwarder(runner, connection).poll_once()
        finally:
            await close_runner(runner)
    try:
        report = asyncio.run(main())
    except (httpx.HTTPError, OSError, RuntimeError) as exc:
        console.print(f"[red]could not run the pass[/red]: {exc}")
        raise typer.Exit(2) from None
    rows: list[tuple[str, object]] = [("changes sent", report.changes_sent), ("changes unchanged", report.unchanged)]
    rows += [(f"plans {k}", v) for k, v in sorted(report.plans.items())]
    rows += [(f"CI level {k}", v) for k, v in sorted(report.ci_levels.items())]
    raise typer.Exit(_summary("changes sync", rows, report.rejected, report.deferred, report.failure))


@oim_app.command("forward")
def oim_forward(app_key: Annotated[str | None, typer.Option(
        help="The OIM integration's app key (default: BPSN_OIM_APP_KEY; the simulator's is demo-oim-app-key).")]
                = None,
                lookback: Annotated[float | None, typer.Option(
                    min=0, help="Seconds back the pass reads (default: BPSN_OIM_LOOKBACK_SECONDS or one hour).")]
                = None) -> None:
    """One pass: make sure the OIM configuration is the core's, then send changed records as alerts."""
    import httpx
    from pydantic import SecretStr

    from bpsn.base.clock import SimClock
    from bpsn.integration.config.settings import ConnectionSettings
    from bpsn.integration.factory import build_runner, close_runner
    from bpsn.integration.oim.events import OimSelectionError
    from bpsn.integration.oim.factory import OimConnection, build_oim_forwarder

    settings, oim = ConnectionSettings(), OimConnection()  # a bad BPSN_* value: one line from the root
    if app_key is not None:
        oim.oim_app_key = SecretStr(app_key)
    if lookback is not None:
        oim.oim_lookback_seconds = lookback
    if not oim.enabled:
        console.print("[red]the OIM app key is not set[/red]: pass --app-key or set BPSN_OIM_APP_KEY "
                      "(the simulator's demo key is demo-oim-app-key)")
        raise typer.Exit(2)

    async def main():  # type: ignore[no-untyped-def]
        runner = build_runner(settings, clock=SimClock())
        forwarder = build_oim_forwarder(settings, oim, runner.servicenow, runner.clock)
        try:
            return await forwarder.poll_once()
        finally:
            await forwarder.api.api.aclose()
            await close_runner(runner)
    try:
        report = asyncio.run(main())
    except OimSelectionError as exc:
        console.print(f"[red]bad OIM selection[/red]: {exc}")
        raise typer.Exit(2) from None
    except (httpx.HTTPError, OSError, RuntimeError) as exc:
        console.print(f"[red]could not run the pass[/red]: {exc}")
        raise typer.Exit(2) from None
    rows: list[tuple[str, object]] = [("configuration", report.config or "not checked"),
                                      ("records handled", report.records), ("alerts accepted", report.alerts),
                                      ("requests", report.requests), ("largest body (bytes)", report.largest_body)]
    raise typer.Exit(_summary("oim forward", rows, report.rejected, "", report.failure))
