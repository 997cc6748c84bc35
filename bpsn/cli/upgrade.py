"""`bpsn upgrade`: rehearse the move from the BigPanda 2.9 app to v3 on an instance (README
"Rehearse your upgrade"); the work is in bpsn.integration.upgrade."""

from __future__ import annotations

import asyncio
import json
import sys
from importlib import resources
from typing import TYPE_CHECKING, Annotated

import typer

from .errors import PROG, bad_flag, is_settings_error, say

if TYPE_CHECKING:  # imported by the command when it connects, not by every `bpsn`
    import httpx

# Tests point the command at an in-process simulator; None means the network.
transport: httpx.AsyncBaseTransport | None = None
FIXTURE = ("bpsn.simulator.servicenow.admin", "v29_instance.yaml")


def upgrade(org: Annotated[str, typer.Option(help="The BigPanda organisation the 2.9 settings become "
                                                   "configuration version 1 of.")] = "demo",
            as_json: Annotated[bool, typer.Option("--json", help="The report as JSON on stdout.")] = False,
            print_fixture: Annotated[bool, typer.Option(
                "--print-fixture", help="Print the 2.9 instance fixture (for `bpsn sim servicenow --fixtures`) "
                                        "and exit.")] = False) -> None:
    """Run the three 2.9 -> v3 fix scripts (migration, artefact clean-up, default population) and report.

    Connects to BPSN_SERVICENOW_URL as BPSN_UPGRADE_USER / BPSN_UPGRADE_PASSWORD (an instance admin;
    default the demo admin); credentials are re-encrypted with BPSN_CONFIG_KEY. Running it again
    changes nothing. Exit 0 when it ran (the checklist's findings are in the report), 1 when it could
    not, 2 for a bad flag."""
    if print_fixture:
        sys.stdout.write(resources.files(FIXTURE[0]).joinpath(FIXTURE[1]).read_text())
        return
    from bpsn.integration.config.models import validate_organization
    try:
        validate_organization(org)
    except ValueError as exc:
        raise bad_flag("--org", str(exc)) from None
    report = _run(org)
    typer.echo(json.dumps(report.to_dict(), indent=2) if as_json else report.to_text())


def _run(org: str):  # type: ignore[no-untyped-def]
    import httpx

    from bpsn.integration.clients.servicenow import ServiceNowError
    from bpsn.integration.config.crypto import ConfigKeyError
    from bpsn.integration.config.versioned import ConfigError
    from bpsn.integration.upgrade.fix_scripts import UpgradeError
    from bpsn.integration.upgrade.instance import UpgradeSettings
    from bpsn.integration.upgrade.legacy import LegacyValueError
    from bpsn.integration.upgrade.run import run_upgrade

    settings = UpgradeSettings()
    try:
        return asyncio.run(run_upgrade(org, settings, transport=transport))
    except (UpgradeError, LegacyValueError, ConfigError, ConfigKeyError, ServiceNowError, ValueError) as exc:
        if is_settings_error(exc):  # a bad BPSN_* value: the root command names it, one line
            raise
        say(f"{PROG} upgrade", str(exc))
    except httpx.TransportError as exc:
        say(f"{PROG} upgrade", f"cannot reach ServiceNow at {settings.servicenow_url}: {type(exc).__name__}")
    raise typer.Exit(1)
