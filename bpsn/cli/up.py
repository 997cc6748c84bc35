"""`bpsn up`: both simulators and the core, wired together, until Ctrl-C or SIGTERM.

Every setting follows one rule, kept in one table (SETTINGS): its flag, else its BPSN_* variable,
else its default. Click reads the variable (`envvar=`), so a bad value is refused by the same type
and range checks as the flag, and the root command's one-line error names the variable. The
banner lists what is in force and where each value came from. Credentials have no flag (a flag
shows in `ps` and shell history): they come from the simulators' BPSN_BP_* / BPSN_SN_* variables,
the core is wired with the same ones, and the banner shows an overridden one only by name.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from .banner import credentials_table, shown_secret
from .errors import PORT_RANGE, positive

try:  # typer vendors click; where each value came from is click's
    from typer._click.core import ParameterSource
except ImportError:  # pragma: no cover - a typer that uses click itself
    from click.core import ParameterSource

console = Console()
log = logging.getLogger("bpsn.up")


@dataclass(frozen=True)
class UpSetting:
    """One row of `bpsn up`'s settings: README's table is this one."""

    flag: str
    variable: str
    help: str


SETTINGS: dict[str, UpSetting] = {
    "host": UpSetting("--host", "BPSN_HOST", "Address both simulators listen on (loopback by default)."),
    "bigpanda_port": UpSetting("--bigpanda-port", "BPSN_BIGPANDA_PORT", "BigPanda simulator port (0: a free port)."),
    "servicenow_port": UpSetting("--servicenow-port", "BPSN_SERVICENOW_PORT",
                                 "ServiceNow simulator port (0: a free port)."),
    "poll_interval": UpSetting("--poll-interval", "BPSN_POLL_INTERVAL", "Seconds between the core's polls."),
    "retrieval_count": UpSetting("--retrieval-count", "BPSN_RETRIEVAL_COUNT",
                                 "Shares the core takes per poll (1-100)."),
    "seed": UpSetting("--seed", "BPSN_SEED", "Seed of both simulators' and the core's random sources."),
    "fixtures": UpSetting("--fixtures", "BPSN_FIXTURES",
                          "YAML or JSON file loaded at start, all or nothing: 'organizations:' for BigPanda, "
                          "'tables:' for ServiceNow (as `bpsn sim example-fixtures` prints them); skipped when "
                          "--state-file was loaded."),
    "state_file": UpSetting("--state-file", "BPSN_STATE_FILE",
                            "Both simulators' state: loaded at start if the file exists, written on Ctrl-C or "
                            "SIGTERM (not the clock, journals or fault rules)."),
    "with_core": UpSetting("--core/--no-core", "BPSN_WITH_CORE",
                           "Run the integration core; --no-core serves only the simulators, for a test suite "
                           "that runs its own core against them (pytest --bpsn-remote-bigpanda/-servicenow)."),
    "log_level": UpSetting("--log-level", "BPSN_LOG_LEVEL",
                           "debug, info (a line per ticket, retry, fault fired and 429), warning or error."),
}
# the core's own connection variables: `bpsn up` wires the core to its own simulators instead
CORE_ONLY_VARIABLES = {"BPSN_BIGPANDA_URL": "--bigpanda-port", "BPSN_SERVICENOW_URL": "--servicenow-port",
                       "BPSN_BIGPANDA_BEARER_TOKEN": "BPSN_BP_USER_API_KEY", "BPSN_BIGPANDA_API_KEY": "BPSN_BP_ORG_TOKEN",
                       "BPSN_INCIDENTS_APP_KEY": "BPSN_BP_INCIDENTS_APP_KEY",
                       "BPSN_SERVICENOW_USER": "BPSN_SN_INTEGRATION_USER",
                       "BPSN_SERVICENOW_PASSWORD": "BPSN_SN_INTEGRATION_PASSWORD"}


class LogLevel(str, Enum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


def _option(name: str, **extra: Any) -> Any:
    s = SETTINGS[name]
    return typer.Option(s.flag, envvar=s.variable, show_envvar=True, help=s.help, **extra)


def _named(ctx: typer.Context, name: str) -> str:
    """How the operator gave a setting: its variable when it came from the environment, else its flag."""
    s = SETTINGS[name]
    return s.variable if ctx.get_parameter_source(name) == ParameterSource.ENVIRONMENT else s.flag


def _refuse(ctx: typer.Context, name: str, message: str) -> typer.BadParameter:
    """Raise it: one line naming the flag or the variable the value came from, exit 2."""
    named = _named(ctx, name)
    return typer.BadParameter(message, ctx=ctx, param_hint=named if named.startswith("BPSN_") else f"'{named}'")


def up(ctx: typer.Context,
       host: Annotated[str, _option("host")] = "127.0.0.1",
       bigpanda_port: Annotated[int, _option("bigpanda_port", **PORT_RANGE)] = 8001,
       servicenow_port: Annotated[int, _option("servicenow_port", **PORT_RANGE)] = 8002,
       poll_interval: Annotated[float, _option("poll_interval", callback=positive)] = 15.0,
       retrieval_count: Annotated[int, _option("retrieval_count", min=1, max=100)] = 30,
       seed: Annotated[int, _option("seed")] = 1,
       fixtures: Annotated[str | None, _option("fixtures")] = None,
       state_file: Annotated[str | None, _option("state_file")] = None,
       with_core: Annotated[bool, _option("with_core")] = True,
       log_level: Annotated[LogLevel, _option("log_level", case_sensitive=False)] = LogLevel.info) -> None:
    """Both simulators and the integration core, wired together, until Ctrl-C or SIGTERM."""
    from bpsn.simulator.bigpanda.settings import BigPandaSettings
    from bpsn.simulator.servicenow.settings import ServiceNowSettings

    # what can be refused without the simulators is refused before they are imported and built
    bp_settings, sn_settings = BigPandaSettings(), ServiceNowSettings()  # a bad BPSN_BP_* / BPSN_SN_*: one line
    fixture_data = _read_fixtures(ctx, fixtures) if fixtures else None
    from bpsn.stack import ListenError, Stack, run_stack

    _start_logging(log_level, bp_settings, sn_settings)
    restored: list[str] = []

    def prepare(stack: Stack) -> None:
        restored.append(_restore(ctx, stack, state_file, fixture_data))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with run_stack(host=host, bigpanda_port=bigpanda_port, servicenow_port=servicenow_port,
                             poll_interval=poll_interval, retrieval_count=retrieval_count, seed=seed,
                             with_core=with_core,
                             bigpanda_settings=bp_settings, servicenow_settings=sn_settings,
                             prepare=prepare) as stack:
            from bpsn.base.serving import tune_gc

            tune_gc()
            _banner(ctx, stack, restored[0] if restored else "")
            await stop.wait()
            if state_file:
                await stack.pause_core()  # the state saved is not one the core is half-way through changing
                _save(ctx, stack, state_file)
        console.print("stopped cleanly")

    try:
        asyncio.run(main())
    except ListenError as exc:
        name = "host" if exc.bad_host else f"{exc.role}_port"
        raise _refuse(ctx, name, exc.reason) from None


def _start_logging(level: LogLevel, *settings: Any) -> None:
    """Log lines on stderr, `time LEVEL logger: message`; credentials set through the environment
    are masked in every line (the demo values are public, as the banner shows)."""
    from pydantic import SecretStr

    from bpsn.integration.logs import REDACTOR, configure_logging

    for s in settings:
        for name in type(s).model_fields:
            value = getattr(s, name)
            value = value.get_secret_value() if isinstance(value, SecretStr) else value
            if isinstance(value, str) and any(word in name for word in ("token", "key", "password", "secret")) \
                    and shown_secret(s, name).startswith("(set by"):
                REDACTOR.add(value)
    configure_logging(level.value.upper(), "human")


def _read_fixtures(ctx: typer.Context, path: str) -> dict[str, Any]:
    from bpsn.simulator.common.fixtures import FixtureError, read_fixture_file

    try:
        data = read_fixture_file(path)
    except FixtureError as exc:
        raise _refuse(ctx, "fixtures", str(exc)) from None
    unknown = sorted(set(data) - {"organizations", "tables"})
    if unknown or not data:
        raise _refuse(ctx, "fixtures", f"{path}: expected 'organizations' (BigPanda) and/or 'tables' (ServiceNow)"
                                       + (f", not {', '.join(map(repr, unknown))}" if unknown else ""))
    return data


def _restore(ctx: typer.Context, stack: Any, state_file: str | None, fixture_data: dict[str, Any] | None) -> str:
    """Before anything is served: the saved state if there is one, else the fixtures. What was done."""
    from bpsn.simulator.bigpanda.admin.fixtures import load_fixtures as load_bigpanda
    from bpsn.simulator.bigpanda.errors import BpError
    from bpsn.simulator.servicenow.admin.state import load_fixtures as load_servicenow
    from bpsn.simulator.servicenow.errors import SnError

    from . import stack_state

    if state_file and Path(state_file).is_file():
        try:
            stack_state.load(state_file, stack.bigpanda, stack.servicenow)
        except stack_state.StateFileError as exc:
            raise _refuse(ctx, "state_file", str(exc)) from None
        skipped = f"; fixtures {_named(ctx, 'fixtures')} not applied" if fixture_data else ""
        return f"state loaded from {state_file}{skipped}"
    if not fixture_data:
        return ""
    try:  # ServiceNow's part first: it is all or nothing itself, and a refusal ends the start
        records = load_servicenow(stack.servicenow, {"tables": fixture_data["tables"]}) if "tables" in fixture_data \
            else 0
        loaded = load_bigpanda(stack.bigpanda, {"organizations": fixture_data["organizations"]}) \
            if "organizations" in fixture_data else {"organizations": [], "alerts": 0, "incidents": 0}
    except SnError as exc:
        raise _refuse(ctx, "fixtures", f"{exc.message}: {exc.detail}" if exc.detail else exc.message) from None
    except BpError as exc:
        raise _refuse(ctx, "fixtures", str(exc)) from None
    orgs = ", ".join(loaded["organizations"]) or "no organisations"
    return (f"fixtures loaded: {records} ServiceNow records; {orgs} with {loaded['alerts']} alerts, "
            f"{loaded['incidents']} incidents")


def _save(ctx: typer.Context, stack: Any, state_file: str) -> None:
    from . import stack_state

    try:
        stack_state.save(state_file, stack.bigpanda, stack.servicenow)
    except stack_state.StateFileError as exc:
        console.print(f"[red]state not saved: {exc}[/red]")  # stopping anyway: the servers must not linger
        raise typer.Exit(1) from None
    console.print(f"state saved to {state_file}")


def _banner(ctx: typer.Context, stack: Any, restored: str) -> None:
    console.print(credentials_table(stack.bigpanda_url, stack.servicenow_url))
    console.print(settings_table(ctx))
    for variable, instead in CORE_ONLY_VARIABLES.items():
        if variable in os.environ:
            console.print(f"note: {variable} is for `bpsn core`; bpsn up wires the core to its own simulators "
                          f"(use {instead})", soft_wrap=True)
    if restored:
        console.print(restored)
    b = stack.bigpanda.settings
    token, key = shown_secret(b, "org_token"), shown_secret(b, "alerts_app_key")
    token = token if not token.startswith("(") else "$BPSN_BP_ORG_TOKEN"
    key = key if not key.startswith("(") else "'\"$BPSN_BP_ALERTS_APP_KEY\"'"  # out of the quotes
    if ctx.params["with_core"]:
        console.print(f"The core polls every {ctx.params['poll_interval']:g} s. Send an alert:")
    else:
        console.print("No core runs here (--no-core): run your own against these URLs, e.g. pytest "
                      f"--bpsn-remote-bigpanda {stack.bigpanda_url} --bpsn-remote-servicenow {stack.servicenow_url}. "
                      "Send an alert:", soft_wrap=True)
    console.print(f"  curl -X POST {stack.bigpanda_url}/data/v2/alerts -H \"Authorization: Bearer {token}\" "
                  f"-H 'Content-Type: application/json' -d '{{\"app_key\":\"{key}\",\"status\":\"critical\","
                  f"\"host\":\"web-prod-01\",\"check\":\"CPU load\"}}'", soft_wrap=True)
    console.print("One POST /_sim/reset on either simulator resets both and the core. Ctrl-C stops everything.")


def settings_table(ctx: typer.Context) -> Table:
    """Each setting's value in force and where it came from: its flag, its variable or the default."""
    t = Table(title="settings in force", header_style="bold")
    for column in ("setting", "value", "from"):
        t.add_column(column)
    for name, s in SETTINGS.items():
        value = ctx.params[name]
        value = value.value if isinstance(value, Enum) else value
        source = ctx.get_parameter_source(name)
        where = s.flag if source == ParameterSource.COMMANDLINE else \
            s.variable if source == ParameterSource.ENVIRONMENT else "default"
        t.add_row(s.flag, "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value), where)
    return t
