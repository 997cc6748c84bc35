"""The `bpsn` command: run a simulator, the whole stack, the core, or the demo."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="bpsn: a test bench for the BigPanda <-> ServiceNow v3 incident integration.",
                  no_args_is_help=True, add_completion=False)
sim = typer.Typer(help="Run one simulator in the foreground.", no_args_is_help=True)
app.add_typer(sim, name="sim")
console = Console()

Host = Annotated[str, typer.Option(help="Address to listen on (loopback by default).")]
Seed = Annotated[int, typer.Option(help="Seed of the simulator's random source: same seed, same run.")]


@sim.command("bigpanda")
def sim_bigpanda(host: Host = "127.0.0.1",
                 port: Annotated[int, typer.Option(help="Port to listen on.")] = 8001,
                 seed: Seed = 1) -> None:
    """Run the BigPanda simulator (alerts, incidents, sharing) until Ctrl-C."""
    from simulator.bigpanda.app import create_app
    from simulator.bigpanda.backend import BigPandaBackend
    from simulator.bigpanda.settings import BigPandaSettings

    backend = BigPandaBackend(BigPandaSettings(base_url=f"http://{host}:{port}", seed=seed))
    console.print(f"BigPanda simulator on http://{host}:{port}  (docs: /docs)")
    uvicorn.run(create_app(backend), host=host, port=port, log_level="warning")


@sim.command("servicenow")
def sim_servicenow(host: Host = "127.0.0.1",
                   port: Annotated[int, typer.Option(help="Port to listen on.")] = 8002,
                   seed: Seed = 1,
                   state_file: Annotated[str | None, typer.Option(
                       help="SQLite file that keeps the instance across restarts (default: in memory).")] = None,
                   fixtures: Annotated[str | None, typer.Option(
                       help="YAML or JSON file of records to load at start: {tables: {table: [record, ...]}}.")] = None,
                   ) -> None:
    """Run the ServiceNow simulator (Table API, Import Set, Batch, Aggregate, OAuth) until Ctrl-C."""
    from simulator.common.fixtures import read_fixture_file
    from simulator.servicenow.app import create_app
    from simulator.servicenow.backend import ServiceNowBackend
    from simulator.servicenow.settings import ServiceNowSettings

    backend = ServiceNowBackend(ServiceNowSettings(instance_url=f"http://{host}:{port}", seed=seed,
                                                   state_file=state_file))
    if fixtures:
        count = backend.load_fixtures(read_fixture_file(fixtures))
        console.print(f"loaded {count} records from {fixtures}")
    console.print(f"ServiceNow simulator on http://{host}:{port}  (docs: /docs)")
    uvicorn.run(create_app(backend), host=host, port=port, log_level="warning")


def _credentials_table(bp_url: str, sn_url: str) -> Table:
    from simulator.bigpanda.settings import BigPandaSettings
    from simulator.servicenow.settings import ServiceNowSettings

    b, s = BigPandaSettings(), ServiceNowSettings()
    t = Table(title="bpsn is up", header_style="bold")
    t.add_column("what")
    t.add_column("value")
    for row in [
        ("BigPanda simulator", f"{bp_url}   (OpenAPI: {bp_url}/docs)"),
        ("  organisation / environment", f"{b.organization} / {b.environment} (auto-shares to ServiceNow)"),
        ("  org token", b.org_token), ("  user API key", b.user_api_key),
        ("  alerts app key", b.alerts_app_key), ("  incidents app key", b.incidents_app_key),
        ("  changes app key", b.changes_app_key), ("  OIM app key", b.oim_app_key),
        ("ServiceNow simulator", f"{sn_url}   (OpenAPI: {sn_url}/docs)"),
        ("  admin", f"admin / {s.admin_password}"),
        ("  integration user", f"{s.integration_user} / {s.integration_password} (itil, x_bip_panda_user)"),
        ("  analyst", f"{s.analyst_user} / {s.analyst_password} (x_bip_panda_user)"),
    ]:
        t.add_row(*row)
    return t


@app.command()
def up(host: Host = "127.0.0.1",
       bigpanda_port: Annotated[int, typer.Option(help="BigPanda simulator port.")] = 8001,
       servicenow_port: Annotated[int, typer.Option(help="ServiceNow simulator port.")] = 8002,
       poll_interval: Annotated[float, typer.Option(help="Seconds between the core's polls.")] = 15.0,
       seed: Seed = 1) -> None:
    """Both simulators and the integration core, wired together, until Ctrl-C."""
    from bpsn.stack import run_stack

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with run_stack(host=host, bigpanda_port=bigpanda_port, servicenow_port=servicenow_port,
                             poll_interval=poll_interval, seed=seed) as stack:
            console.print(_credentials_table(stack.bigpanda_url, stack.servicenow_url))
            console.print(f"The core polls every {poll_interval:g} s. Send an alert:\n"
                          f"  curl -X POST {stack.bigpanda_url}/data/v2/alerts -H 'Authorization: Bearer "
                          f"{stack.bigpanda.settings.org_token}' -H 'Content-Type: application/json' "
                          f"-d '{{\"app_key\":\"{stack.bigpanda.settings.alerts_app_key}\",\"status\":\"critical\","
                          f"\"host\":\"web-prod-01\",\"check\":\"CPU load\"}}'\nCtrl-C stops everything.")
            await stop.wait()
        console.print("stopped cleanly")

    asyncio.run(main())


@app.command()
def core(poll_interval: Annotated[float | None, typer.Option(
        help="Seconds between polls (default: BPSN_POLL_INTERVAL or 15).")] = None) -> None:
    """Run the integration core alone against the endpoints in BPSN_* settings, until Ctrl-C."""
    from bpsn.clock import SimClock
    from integration.config.settings import ConnectionSettings
    from integration.factory import build_runner, close_runner

    settings = ConnectionSettings()
    if poll_interval is not None:
        settings.poll_interval = poll_interval

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        runner = build_runner(settings, clock=SimClock())
        console.print(f"core: BigPanda {settings.bigpanda_url} -> ServiceNow {settings.servicenow_url}, "
                      f"polling every {settings.poll_interval:g} s")
        try:
            await runner.run(stop)
        finally:
            await close_runner(runner)
        t = runner.totals
        console.print(f"stopped: {t.shares} shares, {t.created} created, {t.updated} updated, {t.errors} errors")

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


@app.command()
def demo(hosts: Annotated[int, typer.Option(help="Hosts in the alert storm (1-3 alerts each).")] = 40,
         seed: Annotated[int, typer.Option(help="Seed of the alert generator and simulators.")] = 7,
         poll_interval: Annotated[float, typer.Option(help="Seconds between the core's polls.")] = 1.0,
         timeout: Annotated[float, typer.Option(help="Seconds to wait for each ticket.")] = 60.0) -> None:
    """Send a burst of alerts through the whole stack and print a summary (exit 0 = no loss, no duplicates)."""
    from bpsn.demo import main

    raise typer.Exit(main(hosts=hosts, seed=seed, poll_interval=poll_interval, timeout=timeout))


if __name__ == "__main__":
    app()
