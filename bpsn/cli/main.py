"""The `bpsn` command: run a simulator, the whole stack, the core, or the demo."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
from typing import Annotated, Any

import typer
from rich.console import Console

from .errors import PORT_RANGE, OneLineErrors, bad_flag, positive, say
from .helptext import FullSummaries
from .up import up
from .wait import wait

# Plain click help: rich markup ate "[record, ...]", showed flags as "<bool>" and cut long defaults with "…".
app = typer.Typer(help="bpsn: a test bench for the BigPanda <-> ServiceNow v3 incident integration.",
                  no_args_is_help=True, add_completion=False, cls=OneLineErrors, rich_markup_mode=None)
sim = typer.Typer(help="Run one simulator in the foreground.", no_args_is_help=True)
app.add_typer(sim, name="sim", cls=FullSummaries)
console = Console()

Host = Annotated[str, typer.Option(help="Address to listen on (loopback by default).")]
Seed = Annotated[int, typer.Option(help="Seed of the simulator's random source: same seed, same run.")]
Seconds = Annotated[float, typer.Option(callback=positive, help="Seconds between the core's polls.")]


def _port(help_text: str) -> Any:
    return typer.Option(**PORT_RANGE, help=help_text)


def _listen(host: str, port: int, port_flag: str = "--port") -> socket.socket:
    """The simulator's socket, bound before anything is printed: a taken port is one line, not a traceback."""
    from bpsn.base.listening import ListenError, listen

    try:
        return listen(host, port)
    except ListenError as exc:
        raise bad_flag("--host" if exc.bad_host else port_flag, exc.reason) from None


def _stop_on_sigterm(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt  # as Ctrl-C: the caller's `finally` (a state file) runs


def _serve_foreground(app: Any, host: str, sock: socket.socket) -> None:
    """uvicorn on the socket bound by _listen, until Ctrl-C or SIGTERM. The socket itself, not its
    file descriptor: uvicorn rebuilds an fd as a Unix socket, and asyncio then leaves TCP_NODELAY
    off (every answer waited 40 ms for the client's delayed ACK). uvicorn stops gracefully on
    either signal, then raises it again: SIGTERM then lands here as KeyboardInterrupt."""
    import uvicorn

    from bpsn.base.serving import tune_gc

    tune_gc()  # the app and its seed data are built: freeze them out of the collector's way
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        with sock:
            uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


@sim.command("bigpanda")
def sim_bigpanda(host: Host = "127.0.0.1",
                 port: Annotated[int, _port("Port to listen on (0: a free port, printed).")] = 8001,
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

    sock = _listen(host, port)
    url = f"http://{host}:{sock.getsockname()[1]}"
    backend = BigPandaBackend(BigPandaSettings(base_url=url, seed=seed))
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
        loading_state = bool(state_file and Path(state_file).is_file())
        raise bad_flag("--state-file" if loading_state else "--fixtures", str(exc)) from None
    console.print(f"BigPanda simulator on {url}  (docs: /docs)")
    try:
        _serve_foreground(create_app(backend), host, sock)
    finally:
        if state_file:
            snapshot.save(backend, state_file)
            console.print(f"state saved to {state_file}")


@sim.command("servicenow")
def sim_servicenow(host: Host = "127.0.0.1",
                   port: Annotated[int, _port("Port to listen on (0: a free port, printed).")] = 8002,
                   seed: Seed = 1,
                   state_file: Annotated[str | None, typer.Option(
                       help="SQLite file that keeps the instance across restarts (default: in memory).")] = None,
                   fixtures: Annotated[str | None, typer.Option(
                       help="YAML or JSON file of records to load at start: {tables: {table: [record, ...]}} "
                            "(`bpsn sim example-fixtures servicenow` prints an example).")] = None,
                   ) -> None:
    """Run the ServiceNow simulator (Table API, Import Set, Batch, Aggregate, OAuth) until Ctrl-C."""
    from bpsn.simulator.common.fixtures import FixtureError, read_fixture_file
    from bpsn.simulator.servicenow.admin.state import load_fixtures
    from bpsn.simulator.servicenow.app import create_app
    from bpsn.simulator.servicenow.backend import ServiceNowBackend
    from bpsn.simulator.servicenow.errors import SnError
    from bpsn.simulator.servicenow.settings import ServiceNowSettings

    sock = _listen(host, port)
    url = f"http://{host}:{sock.getsockname()[1]}"
    backend = ServiceNowBackend(ServiceNowSettings(instance_url=url, seed=seed, state_file=state_file))
    if fixtures:
        try:
            count = load_fixtures(backend, read_fixture_file(fixtures))
        except FixtureError as exc:
            raise bad_flag("--fixtures", str(exc)) from None
        except SnError as exc:
            raise bad_flag("--fixtures", f"{exc.message}: {exc.detail}" if exc.detail else exc.message) from None
        console.print(f"loaded {count} records from {fixtures}")
    console.print(f"ServiceNow simulator on {url}  (docs: /docs)")
    _serve_foreground(create_app(backend), host, sock)


@sim.command("example-fixtures")
def sim_example_fixtures(simulator: Annotated[str, typer.Argument(help="bigpanda or servicenow.")]) -> None:
    """Print a simulator's example fixtures file (shipped with bpsn), to copy and edit."""
    from bpsn.simulator.common.fixtures import FixtureError, example_fixtures

    try:
        path = example_fixtures(simulator)
    except FixtureError as exc:
        raise typer.BadParameter(str(exc), param_hint="'SIMULATOR'") from None
    sys.stdout.write(path.read_text())


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


def _check_logging(log_level: str | None, log_format: str) -> None:
    from bpsn.integration.log_levels import normalize_level

    if log_format not in ("json", "human"):
        raise bad_flag("--log-format", f"{log_format!r} is neither json nor human")
    if log_level is not None:
        try:
            normalize_level(log_level)
        except ValueError as exc:
            raise bad_flag("--log-level", str(exc)) from None


def _modules(modules: str) -> set[str]:
    wanted = {m.strip() for m in modules.split(",") if m.strip()} | {"incidents"}
    unknown = wanted - {"incidents", "changes", "cmdb", "oim"}
    if unknown:
        raise bad_flag("--modules", f"unknown module(s) {', '.join(sorted(unknown))}; "
                                    "choose from incidents, changes, cmdb, oim")
    return wanted


def _check_module_settings(wanted: set[str]) -> None:
    """Read each module's BPSN_* settings now: a bad value is reported before the core says it runs."""
    from bpsn.integration.changes.factory import ChangesConnection
    from bpsn.integration.cmdb.settings import CmdbSettings
    from bpsn.integration.oim.factory import OimConnection

    for name, settings in (("changes", ChangesConnection), ("cmdb", CmdbSettings), ("oim", OimConnection)):
        if name in wanted:
            settings()


@app.command()
def core(poll_interval: Annotated[float | None, typer.Option(
        callback=positive,
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
         = "incidents",
         notify_port: Annotated[int | None, typer.Option(
             envvar="BPSN_NOTIFY_PORT", min=0, max=65535,
             help="Listen for ServiceNow's change notifications on this port (POST /api/bpsn/notifications, "
                  "'Authorization: Bearer $BPSN_NOTIFY_TOKEN'): a ticket change wakes the delta watch at once. "
                  "Unset: the watch runs once per poll.")] = None,
         notify_host: Annotated[str, typer.Option(
             envvar="BPSN_NOTIFY_HOST", help="The address --notify-port listens on.")] = "127.0.0.1") -> None:
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

    _check_logging(log_level, log_format)
    if notify_port is not None and (org or all_orgs):
        raise bad_flag("--notify-port", "it is for the BPSN_* mode; with --org the delta watch runs once per poll")
    notify_secret = ""
    if notify_port is not None:
        from bpsn.cli.notify import notify_token
        try:
            notify_secret = notify_token()
        except ValueError as exc:
            say("bpsn core", str(exc))
            raise typer.Exit(2) from None
    if poll_interval is not None and (org or all_orgs):
        raise bad_flag("--poll-interval", "it is for the BPSN_* mode; with --org the interval is the "
                                          "configuration's: `bpsn config set poll_interval SECONDS --org NAME`")
    wanted = _modules(modules)
    settings = ConnectionSettings()
    _check_module_settings(wanted)
    if poll_interval is not None:
        settings.poll_interval = poll_interval
    try:
        incident_settings = _incident_settings_from_env()
    except ValueError as exc:
        say("bpsn core", str(exc))
        raise typer.Exit(2) from None
    configure_logging(log_level or "INFO", log_format)  # type: ignore[arg-type]

    async def from_environment(stop: asyncio.Event) -> None:
        from bpsn.integration.modules_wiring import module_loops
        REDACTOR.add_connection(settings)
        clock = SimClock()
        runner = build_runner(settings, clock=clock, incident_settings=incident_settings)
        console.print(f"core: BigPanda {settings.bigpanda_url} -> ServiceNow {settings.servicenow_url}, "
                      f"polling every {settings.poll_interval:g} s; modules: {', '.join(sorted(wanted))}")
        loops, closers = module_loops(wanted, settings, runner, clock)
        try:
            async with contextlib.AsyncExitStack() as listening:
                if notify_port is not None:
                    from bpsn.cli.notify import notification_listener
                    url = await listening.enter_async_context(
                        notification_listener(runner, notify_host, notify_port, notify_secret))
                    console.print(f"core: listening for ServiceNow change notifications at {url}")
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
def demo(hosts: Annotated[int, typer.Option(min=1, help="Hosts in the alert storm (1-3 alerts each).")] = 40,
         seed: Annotated[int, typer.Option(help="Seed of the alert generator and simulators.")] = 7,
         poll_interval: Seconds = 1.0,
         timeout: Annotated[float, typer.Option(callback=positive, help="Seconds to wait for each ticket.")] = 60.0
         ) -> None:
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

    from bpsn.integration.config.settings import ConnectionSettings
    from bpsn.load.profiles import ProfileError, get_profile
    from bpsn.load.runner import LoadRun, default_out, run_load
    from bpsn.simulator.bigpanda.settings import BigPandaSettings
    from bpsn.simulator.servicenow.settings import ServiceNowSettings

    if importlib.util.find_spec("locust") is None:
        console.print("[red]locust is not installed[/]: pip install 'locust>=2.30' (it comes with bpsn's [test] extra)")
        raise typer.Exit(2)
    try:
        chosen = get_profile(profile).with_overrides(workers=workers, poll_interval=poll_interval)
    except ProfileError as exc:
        raise bad_flag("--profile", str(exc)) from None
    for settings in (BigPandaSettings, ServiceNowSettings, ConnectionSettings):  # what the children will read
        settings()
    raise typer.Exit(run_load(LoadRun(chosen, Path(out) if out else default_out(chosen.name), console=console)))


app.command()(wait)
app.command()(up)
app.add_typer(__import__("bpsn.cli.config", fromlist=["config_app"]).config_app, name="config", cls=FullSummaries)
app.add_typer(__import__("bpsn.cli.privacy", fromlist=["privacy_app"]).privacy_app, name="privacy", cls=FullSummaries)
app.add_typer(__import__("bpsn.cli.cmdb", fromlist=["cmdb_app"]).cmdb_app, name="cmdb", cls=FullSummaries)
app.add_typer(__import__("bpsn.cli.rules", fromlist=["rules_app"]).rules_app, name="rules", cls=FullSummaries)
app.add_typer(__import__("bpsn.cli.changes", fromlist=["forwarding_app"]).forwarding_app)  # changes sync, oim forward
app.command()(__import__("bpsn.cli.upgrade", fromlist=["upgrade"]).upgrade)

if __name__ == "__main__":
    app()
