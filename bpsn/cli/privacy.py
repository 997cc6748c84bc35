"""`bpsn privacy`: data-subject requests (GDPR access and erasure, CCPA know and delete) on the
x_bip_panda tables of a ServiceNow instance."""

from __future__ import annotations

import asyncio
import getpass
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:  # imported by the commands that connect, not by every `bpsn`
    import httpx

T = TypeVar("T")
privacy_app = typer.Typer(
    help="Find, export or erase a person's data in the x_bip_panda tables. Connects to BPSN_SERVICENOW_URL as "
         "BPSN_SERVICENOW_USER / BPSN_SERVICENOW_PASSWORD: export needs x_bip_panda_user, erase also "
         "x_bip_panda.admin (e.g. bigpanda.admin on the demo instance). Pseudonyms and the audit's subject hash "
         "are keyed by BPSN_PRIVACY_KEY.",
    no_args_is_help=True)
err = Console(stderr=True)
out = Console()
# Tests point the commands at an in-process simulator; None means the network.
transport: httpx.AsyncBaseTransport | None = None

Email = Annotated[str, typer.Option(help="The data subject's email address.")]


def _run(work: Callable[[Any], Awaitable[T]]) -> T:
    """Run `work(tools)` against the instance; known failures become a message and exit 1."""
    import httpx

    from bpsn.base.clock import SimClock
    from bpsn.integration.clients.http import ApiClient, RetryPolicy
    from bpsn.integration.clients.servicenow import ServiceNowClient, ServiceNowError
    from bpsn.integration.config.settings import ConnectionSettings
    from bpsn.integration.privacy.pseudonym import KEY_ENV, Pseudonymiser
    from bpsn.integration.privacy.subject_service import PrivacyError, SubjectTools

    settings = ConnectionSettings()
    pseudonymiser = Pseudonymiser.from_env()
    if pseudonymiser.default_key:
        err.print(f"[yellow]warning: {KEY_ENV} is not set; the development key is used, so anyone can "
                  "recompute pseudonyms and subject hashes[/yellow]")

    async def main() -> T:
        async with httpx.AsyncClient(base_url=settings.servicenow_url, transport=transport,
                                     timeout=settings.http_timeout, headers={"Accept": "application/json"},
                                     auth=(settings.servicenow_user,
                                           settings.servicenow_password.get_secret_value())) as http:
            client = ServiceNowClient(ApiClient(http, policy=RetryPolicy(max_attempts=3)))
            return await work(SubjectTools(client, pseudonymiser, SimClock()))
    try:
        return asyncio.run(main())
    except (PrivacyError, ServiceNowError, ValueError) as exc:
        err.print(f"[red]{escape(str(exc))}[/red]")
    except httpx.TransportError as exc:
        err.print(f"[red]cannot reach ServiceNow at {escape(settings.servicenow_url)}: {type(exc).__name__}[/red]")
    raise typer.Exit(1)


@privacy_app.command("export")
def export(email: Email,
           to: Annotated[Path | None, typer.Option("--out", help="Write the JSON to this file, not stdout.")] = None
           ) -> None:
    """Every x_bip_panda record holding the person's email, sys_user name or user name, as JSON."""
    data = _run(lambda tools: tools.export(email))
    text = json.dumps(data, indent=2, sort_keys=True)
    if to is None:
        typer.echo(text)
    else:
        to.write_text(text + "\n")
        total = sum(len(rows) for rows in data["records"].values())
        err.print(f"{total} records written to {escape(str(to))}")
    for table, why in data["not_searched"].items():
        err.print(f"[yellow]not searched: {escape(table)}: {escape(why)}[/yellow]")


@privacy_app.command("erase")
def erase(email: Email,
          yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
          operator: Annotated[str, typer.Option(help="Who asks, for the audit (default: your login).")] = "",
          reason: Annotated[str, typer.Option(help="Why, for the audit (e.g. the request's reference).")] = ""
          ) -> None:
    """Delete, pseudonymise or blank the person's data per table (integration/privacy/tables.py); audited."""
    from bpsn.integration.config.settings import ConnectionSettings
    from bpsn.integration.privacy.subject import counts
    from bpsn.integration.privacy.subject_service import describe

    if not yes:
        search, steps = _run(lambda tools: tools.plan(email))
        for step in steps:
            out.print(escape(describe(step)))
        for table, why in search.not_searched.items():
            out.print(f"[yellow]not searched: {escape(table)}: {escape(why)}[/yellow]")
        out.print(f"{len(steps)} records; per table: {escape(json.dumps(counts(steps), sort_keys=True))}")
        typer.confirm("Erase?", abort=True)
    who = operator or getpass.getuser()
    user = ConnectionSettings().servicenow_user
    result = _run(lambda tools: tools.erase(email, operator=who, servicenow_user=user, reason=reason))
    out.print(f"erased: {escape(json.dumps(result.counts, sort_keys=True))}")
    out.print(f"audited in x_bip_panda_privacy_audit {result.audit_sys_id} (subject hash "
              f"{result.subject_hash[:16]}...)")
