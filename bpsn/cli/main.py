"""The `bpsn` command: run a simulator, the whole stack, the core, or the demo."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from typing import Annotated, Any

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
                 seed: Seed = 1,
                 state_file: Annotated[str | None, typer.Option(
                     help="Snapshot file: loaded at start if it exists, written on shutdown "
                          "(every organization and the random source; not the clock).")] = None,
                 fixtures: Annotated[str | None, typer.Option(
                     help="YAML or JSON file of organizations to seed (`bpsn sim example-fixtures bigpanda` "
                          "prints an example); skipped when --state-file was loaded.")] = None) -> None:
    """Run the BigPanda simulator (alerts, incidents, sharing) until Ctrl-C."""
    from pathlib import Path

    from bpsn.simulator.bigpanda.admin import fixtures as bp_fixtures
    from bpsn.simulator.bigpanda.admin import snapshot
    from bpsn.simulator.bigpanda.app import create_app
    from bpsn.simulator.bigpanda.backend import BigPandaBackend
    from bpsn.simulator.bigpanda.errors import BpError
    from bpsn.simulator.bigpanda.settings import BigPandaSettings
    from bpsn.simulator.common.fixtures import FixtureError, read_fixture_file

    backend = BigPandaBackend(BigPandaSettings(base_url=f"http://{host}:{port}", seed=seed))
    try:
        if state_file and Path(state_file).is_file():
            snapshot.load(backend, state_file)
            skipped = f"; fixtures {fixtures} not applied" if fixtures else ""
            console.print(f"loaded state from {state_file}{skipped}")
        elif fixtures:
            loaded = bp_fixtures.load_fixtures(backend, read_fixture_file(fixtures))
            console.print(f"seeded {', '.join(loaded['organizations'])} from {fixtures}: "
                          f"{loaded['alerts']} alerts, {loaded['incidents']} incidents")
    except (BpError, FixtureError) as exc:
        from rich.markup import escape
        console.print(f"[red]{escape('; '.join(exc.messages) if isinstance(exc, BpError) else str(exc))}[/red]")
        raise typer.Exit(2) from None
    console.print(f"BigPanda simulator on http://{host}:{port}  (docs: /docs)")
    try:
        uvicorn.run(create_app(backend), host=host, port=port, log_level="warning")
    finally:
        if state_file:
            snapshot.save(backend, state_file)
            console.print(f"state saved to {state_file}")


@sim.command("servicenow")
def sim_servicenow(host: Host = "127.0.0.1",
                   port: Annotated[int, typer.Option(help="Port to listen on.")] = 8002,
                   seed: Seed = 1,
                   state_file: Annotated[str | None, typer.Option(
                       help="SQLite file that keeps the instance across restarts (default: in memory).")] = None,
                   fixtures: Annotated[str | None, typer.Option(
                       help="YAML or JSON file of records to load at start: {tables: {table: [record, ...]}} "
                            "(`bpsn sim example-fixtures servicenow` prints an example).")] = None,
                   ) -> None:
    """Run the ServiceNow simulator (Table API, Import Set, Batch, Aggregate, OAuth) until Ctrl-C."""
    from bpsn.simulator.common.fixtures import read_fixture_file
    from bpsn.simulator.servicenow.app import create_app
    from bpsn.simulator.servicenow.backend import ServiceNowBackend
    from bpsn.simulator.servicenow.settings import ServiceNowSettings

    backend = ServiceNowBackend(ServiceNowSettings(instance_url=f"http://{host}:{port}", seed=seed,
                                                   state_file=state_file))
    if fixtures:
        count = backend.load_fixtures(read_fixture_file(fixtures))
        console.print(f"loaded {count} records from {fixtures}")
    console.print(f"ServiceNow simulator on http://{host}:{port}  (docs: /docs)")
    uvicorn.run(create_app(backend), host=host, port=port, log_level="warning")


@sim.command("example-fixtures")
def sim_example_fixtures(simulator: Annotated[str, typer.Argument(help="bigpanda or servicenow.")]) -> None:
    """Print a simulator's example fixtures file (shipped with bpsn), to copy and edit."""
    from bpsn.simulator.common.fixtures import FixtureError, example_fixtures

    try:
        path = example_fixtures(simulator)
    except FixtureError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    sys.stdout.write(path.read_text())


def _credentials_table(bp_url: str, sn_url: str) -> Table:
    from bpsn.simulator.bigpanda.settings import BigPandaSettings
    from bpsn.simulator.servicenow.settings import ServiceNowSettings

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
        ("  BigPanda admin", "bigpanda.admin / bigpanda-admin (x_bip_panda.admin, x_bip_panda_user)"),
        ("  OAuth client", f"{s.oauth_client_id} / {s.oauth_client_secret}"),
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


def _incident_settings_from_env() -> Any:
    """BPSN_TAG_MAPPINGS (what `bpsn load` sets): a JSON list of {"tag", "field", "direction"} for the
    BPSN_* mode; unset: the engine's defaults. A bad value is an error naming what is wrong."""
    import json
    import os

    from bpsn.integration.engine.mapping import IncidentSettings
    from bpsn.integration.engine.tags import TagMapping

    raw = os.environ.get("BPSN_TAG_MAPPINGS", "").strip()
    if not raw:
        return None
    try:
        items = json.loads(raw)
        if not isinstance(items, list):
            raise ValueError("expected a JSON list")
        mappings = tuple(TagMapping(**item) for item in items)
    except (TypeError, ValueError) as exc:
        raise ValueError(f'BPSN_TAG_MAPPINGS: {exc} (a JSON list of {{"tag", "field", "direction"}})') from None
    return IncidentSettings(tag_mappings=mappings)


@app.command()
def core(poll_interval: Annotated[float | None, typer.Option(
        help="Seconds between polls (default: BPSN_POLL_INTERVAL or 15; with --org: the configuration's).")] = None,
         org: Annotated[list[str] | None, typer.Option(
             "--org", help="Run from this organisation's current version in x_bip_panda_config (repeatable).")] = None,
         all_orgs: Annotated[bool, typer.Option(
             "--all-orgs", help="Run every organisation with a configuration on the instance.")] = False,
         log_level: Annotated[str | None, typer.Option(
             help="ERROR, WARN, INFO or DEBUG (default: the configuration's log_level, else INFO).")] = None,
         log_format: Annotated[str, typer.Option(help="json (one object per line) or human.")] = "json",
         modules: Annotated[str, typer.Option(
             help="Comma-separated: incidents (always), changes (change requests, tasks and outages -> BigPanda "
                  "changes and maintenance plans), cmdb (CMDB v2 delta sync), oim (needs BPSN_OIM_APP_KEY).")]
         = "incidents") -> None:
    """Run the integration core until Ctrl-C: from BPSN_* settings, or with --org from its versioned configuration.

    With --org / --all-orgs the core reaches ServiceNow as BPSN_SERVICENOW_URL / BPSN_SERVICENOW_USER /
    BPSN_SERVICENOW_PASSWORD, reads each organisation's current version (credentials decrypted with
    BPSN_CONFIG_KEY) and applies a new version at its next poll, without a restart.
    """
    from bpsn.base.clock import SimClock
    from bpsn.integration.bootstrap import BootstrapError, RunnerBuilder
    from bpsn.integration.config.settings import ConnectionSettings
    from bpsn.integration.factory import build_runner, close_runner
    from bpsn.integration.logs import REDACTOR, configure_logging, set_level
    from bpsn.integration.supervisor import serve_from_config

    settings = ConnectionSettings()
    try:
        configure_logging(log_level or "INFO", log_format)  # type: ignore[arg-type]
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    if poll_interval is not None and (org or all_orgs):
        console.print("[red]--poll-interval is for the BPSN_* mode; with --org the interval is the configuration's: "
                      "`bpsn config set poll_interval SECONDS --org NAME`[/red]")
        raise typer.Exit(2)
    if poll_interval is not None:
        settings.poll_interval = poll_interval

    wanted = {m.strip() for m in modules.split(",") if m.strip()} | {"incidents"}
    unknown = wanted - {"incidents", "changes", "cmdb", "oim"}
    if unknown:
        console.print(f"[red]unknown module(s): {', '.join(sorted(unknown))}; choose from incidents, changes, cmdb, oim[/red]")
        raise typer.Exit(2)
    try:
        incident_settings = _incident_settings_from_env()
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None

    async def from_environment(stop: asyncio.Event) -> None:
        from bpsn.integration.modules_wiring import module_loops
        REDACTOR.add_connection(settings)
        clock = SimClock()
        runner = build_runner(settings, clock=clock, incident_settings=incident_settings)
        console.print(f"core: BigPanda {settings.bigpanda_url} -> ServiceNow {settings.servicenow_url}, "
                      f"polling every {settings.poll_interval:g} s; modules: {', '.join(sorted(wanted))}")
        loops, closers = module_loops(wanted, settings, runner, clock)
        try:
            await asyncio.gather(runner.run(stop), *(loop(stop) for loop in loops))
        finally:
            for close in closers:
                await close()
            await close_runner(runner)
        t = runner.totals
        console.print(f"stopped: {t.shares} shares, {t.created} created, {t.updated} updated, {t.errors} errors")

    async def from_config(stop: asyncio.Event) -> None:
        def started(sup) -> None:  # type: ignore[no-untyped-def]
            for w in sup.workers:
                console.print(f"core: {w.organization} (configuration version {w.plan.version}): BigPanda "
                              f"{w.plan.connection.bigpanda_url} -> ServiceNow {settings.servicenow_url}")
        totals = await serve_from_config(settings, list(org or []), all_orgs, stop, builder=RunnerBuilder(SimClock()),
                                         log_level_override=log_level, on_log_level=set_level, on_started=started)
        for name, t in totals.items():
            console.print(f"stopped: {name}: {t.shares} shares, {t.created} created, {t.updated} updated, "
                          f"{t.errors} errors")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await (from_config(stop) if org or all_orgs else from_environment(stop))

    with contextlib.suppress(KeyboardInterrupt):
        try:
            asyncio.run(main())
        except BootstrapError as exc:
            from rich.markup import escape
            console.print(f"[red]{escape(str(exc))}[/red]")
            raise typer.Exit(1) from None


@app.command()
def selftest(org: Annotated[list[str] | None, typer.Option(
        "--org", help="Check this organisation's configuration and BigPanda credentials (repeatable); "
                      "without it, the BPSN_* settings `bpsn core` uses without --org.")] = None) -> None:
    """Check credentials, endpoints, roles and one round trip; say what is wrong and how to fix it (exit 0 = all pass)."""
    from bpsn.selftest import main

    raise typer.Exit(main(list(org or [])))


@app.command()
def demo(hosts: Annotated[int, typer.Option(help="Hosts in the alert storm (1-3 alerts each).")] = 40,
         seed: Annotated[int, typer.Option(help="Seed of the alert generator and simulators.")] = 7,
         poll_interval: Annotated[float, typer.Option(help="Seconds between the core's polls.")] = 1.0,
         timeout: Annotated[float, typer.Option(help="Seconds to wait for each ticket.")] = 60.0) -> None:
    """Send a burst of alerts through the whole stack and print a summary (exit 0 = no loss, no duplicates)."""
    from bpsn.demo import main

    raise typer.Exit(main(hosts=hosts, seed=seed, poll_interval=poll_interval, timeout=timeout))


@app.command()
def load(profile: Annotated[str, typer.Option(help="A profile in loadtests/profiles.yaml: smoke, steady, burst, soak.")]
         = "smoke",
         workers: Annotated[int | None, typer.Option(
             min=0, help="Locust worker processes (0 = one local process; default: the profile's).")] = None,
         poll_interval: Annotated[float | None, typer.Option(
             min=0.01, help="Seconds between the core's polls (default: the profile's).")] = None,
         out: Annotated[str | None, typer.Option(
             help="Results folder (default results/load/<timestamp>-<profile>).")] = None) -> None:
    """Load the whole stack with Locust (simulators, core, Locust in separate processes) and report.

    Writes Locust's CSV/JSON/HTML, summary.md, summary.json and latency.html. Exit 0 only with no lost
    or duplicate tickets, no failed requests and a drained share queue; 1 if a check failed; 2 if it could not run.
    """
    import importlib.util
    from pathlib import Path

    from bpsn.load.profiles import ProfileError, get_profile
    from bpsn.load.runner import LoadRun, default_out, run_load

    if importlib.util.find_spec("locust") is None:
        console.print("[red]locust is not installed[/]: pip install 'locust>=2.30' (it comes with bpsn's [test] extra)")
        raise typer.Exit(2)
    try:
        chosen = get_profile(profile).with_overrides(workers=workers, poll_interval=poll_interval)
    except ProfileError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    raise typer.Exit(run_load(LoadRun(chosen, Path(out) if out else default_out(chosen.name), console=console)))


app.add_typer(__import__("bpsn.cli.config", fromlist=["config_app"]).config_app, name="config")
app.add_typer(__import__("bpsn.cli.privacy", fromlist=["privacy_app"]).privacy_app, name="privacy")
app.add_typer(__import__("bpsn.cli.cmdb", fromlist=["cmdb_app"]).cmdb_app, name="cmdb")
app.add_typer(__import__("bpsn.cli.rules", fromlist=["rules_app"]).rules_app, name="rules")
app.add_typer(__import__("bpsn.cli.changes", fromlist=["forwarding_app"]).forwarding_app)  # changes sync, oim forward

if __name__ == "__main__":
    app()
