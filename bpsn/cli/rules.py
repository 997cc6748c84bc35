"""`bpsn rules`: transform rules in ServiceNow's x_bip_panda_transform_rule.

list (every rule, in run order, checked again) · test --share FILE (what the active rules do
to one share's ticket) · dry-run (every rule, inactive ones too, on BigPanda's active incidents
or share files: what each would do; writes nothing) · save FILE · delete NAME.
Connection settings: integration/rules/connect.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .errors import is_settings_error

if TYPE_CHECKING:  # the rules engine is imported by the commands that run it, not by every `bpsn`
    from bpsn.integration.rules.connect import RulesSession
    from bpsn.integration.rules.dryrun import DryRunResult
    from bpsn.integration.rules.evaluator import RulesOutcome
    from bpsn.integration.rules.model import Rule

T = TypeVar("T")
rules_app = typer.Typer(
    help="Transform rules: no-code rules run on each incoming share before its ticket is written. Stored in "
         "ServiceNow's x_bip_panda_transform_rule (BPSN_SERVICENOW_URL, as BPSN_RULES_USER / "
         "BPSN_RULES_PASSWORD, default the demo admin); BigPanda is only read (BPSN_BIGPANDA_URL, "
         "BPSN_BIGPANDA_BEARER_TOKEN).",
    no_args_is_help=True)
console = Console()
Org = Annotated[str, typer.Option(help="The BigPanda organisation the rules belong to.")]


def open_rules() -> AbstractAsyncContextManager[RulesSession]:
    """The session every command works in (tests point it at in-process systems)."""
    from bpsn.integration.rules.connect import open_rules as connect

    return connect()


def _run(work: Callable[[RulesSession], Awaitable[T]]) -> T:
    """Run `work(session)`; known failures become a message and exit 1."""
    import httpx

    from bpsn.integration.clients.servicenow import ServiceNowError
    from bpsn.integration.rules.catalog import CatalogError
    from bpsn.integration.rules.dryrun import DryRunError

    async def main() -> T:
        async with open_rules() as session:
            return await work(session)
    try:
        return asyncio.run(main())
    except (ValueError, CatalogError, DryRunError, ServiceNowError) as exc:  # ValueError: RulesError, FileError, org
        if is_settings_error(exc):  # a bad BPSN_* value: the root command names it, one line
            raise
        console.print(f"[red]{escape(str(exc))}[/red]")
    except httpx.TransportError as exc:
        console.print(f"[red]cannot reach {escape(str(exc.request.url.host)) if exc.request else 'a system'}: "
                      f"{type(exc).__name__}[/red]")
    raise typer.Exit(1)


def _trace_table(title: str, outcome: RulesOutcome) -> Table:
    from bpsn.integration.rules import explain

    t = Table(title=escape(title), header_style="bold")
    for col in ("order", "rule", "result", "what it does" if not outcome.dry_run else "what it would do"):
        t.add_column(col, overflow="fold")
    for trace in outcome.trace:
        name = trace.rule.name + ("" if trace.rule.active else " (inactive)")
        t.add_row(str(trace.rule.order), escape(name), escape(explain.result(trace)),
                  escape("\n".join(explain.details(trace, outcome.dry_run))))
    return t


@rules_app.command("list")
def rules_list(org: Org = "demo") -> None:
    """Every rule of the organisation in run order; a stored rule that cannot work says why."""
    stored = _run(lambda s: s.store.stored(org))
    if not stored:
        console.print(f"organisation {escape(org)} has no transform rules: `bpsn rules save FILE` adds some")
        return
    t = Table(title=f"transform rules of {escape(org)} (run in this order)", header_style="bold")
    for col in ("order", "name", "active", "when", "then", "stop"):
        t.add_column(col, overflow="fold")
    for s in stored:
        if s.rule is None:
            t.add_row(s.order, escape(s.name), "yes" if s.active else "no", f"[red]{escape(s.problem)}[/red]",
                      "[red]not applied[/red]", "")
            continue
        r = s.rule
        joiner = "\nand " if r.match == "all" else "\nor "
        when = joiner.join(c.describe() for c in r.conditions)
        if r.run_on != "always":
            when += f"\n(on {'new tickets' if r.run_on == 'create' else 'updates'} only)"
        t.add_row(str(r.order), escape(r.name), "yes" if r.active else "no", escape(when),
                  escape("\n".join(a.describe() for a in r.actions)), "yes" if r.stop_processing else "")
    console.print(t)


async def _rules_to_run(session: RulesSession, org: str, rules_file: Path | None) -> list[Rule]:
    from bpsn.integration.rules.files import read_rules_file
    from bpsn.integration.rules.validation import parse_rules

    if rules_file is None:
        return await session.store.rules(org)
    await session.load_tags()
    return parse_rules(read_rules_file(rules_file), await session.store.catalog(required=False))


@rules_app.command("test")
def rules_test(share: Annotated[Path, typer.Option(help="A share as the core retrieves it, or its incident (JSON "
                                                        "or YAML).")],
               org: Org = "demo",
               rules_file: Annotated[Path | None, typer.Option(
                   "--rules", help="Test the rules in this file instead of the stored ones.")] = None) -> None:
    """What the active rules do to the ticket one share would create (nothing is written)."""
    from bpsn.integration.engine.mapping import IncidentSettings, ticket_fields
    from bpsn.integration.rules.evaluator import evaluate
    from bpsn.integration.rules.files import read_share_file

    incident = _load(lambda: read_share_file(share))
    rules = _run(lambda s: _rules_to_run(s, org, rules_file))
    mapped = ticket_fields(incident, IncidentSettings(namespace=org))
    outcome = evaluate(rules, incident, mapped)
    console.print(_trace_table(f"transform rules on incident {incident.get('id', '?')}", outcome))
    if outcome.skip:
        console.print(f"[bold]no ticket would be written[/bold]: {escape(outcome.skip_reason)}")
    changed = {k: v for k, v in outcome.fields.items() if mapped.get(k) != v}
    if changed:
        t = Table(title="ticket fields the rules change", header_style="bold")
        for col in ("field", "mapped", "after the rules"):
            t.add_column(col, overflow="fold")
        for name, value in changed.items():
            t.add_row(name, escape(mapped.get(name, "")), escape(value))
        console.print(t)
    for tag_id, value in outcome.tags.items():
        console.print(f"BigPanda incident tag {escape(tag_id)} := {escape(value)}")
    for note in outcome.work_notes:
        console.print(f"work note: {escape(note)}")
    if not (outcome.skip or changed or outcome.tags or outcome.work_notes):
        console.print("the rules change nothing on this share")


@rules_app.command("dry-run")
def rules_dry_run(org: Org = "demo",
                  share: Annotated[list[Path] | None, typer.Option(
                      help="Share files to run on (repeatable); default: BigPanda's active incidents.")] = None,
                  limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many incidents.")] = 20,
                  active_only: Annotated[bool, typer.Option(
                      "--active-only", help="Only the active rules (default: inactive ones too).")] = False) -> None:
    """What every rule would do to each incident's ticket. Writes nothing to either system."""
    from bpsn.integration.engine.mapping import IncidentSettings
    from bpsn.integration.rules.dryrun import active_incidents, dry_run
    from bpsn.integration.rules.files import read_share_file

    incidents = _load(lambda: [read_share_file(p) for p in share]) if share else None

    async def work(session: RulesSession) -> list[DryRunResult]:
        rules = await session.store.rules(org)
        found = incidents if incidents is not None else await active_incidents(session.bigpanda, limit)
        return dry_run(rules, found[:limit], IncidentSettings(namespace=org), include_inactive=not active_only)

    results = _run(work)
    if not results:
        console.print("no incidents to run the rules on")
    for r in results:
        console.print(_trace_table(f"incident {r.incident_id}", r.outcome))
    would = sum(1 for r in results if r.outcome.would_change())
    console.print(f"dry run: {would} of {len(results)} incidents would be changed; nothing was written")


@rules_app.command("save")
def rules_save(file: Annotated[Path, typer.Argument(help="YAML or JSON: a list of rules, or {rules: [...]}.")],
               org: Org = "demo") -> None:
    """Check every rule in FILE and save them (a rule with an existing name replaces it). When any
    rule cannot work, nothing is saved and each reason is shown."""
    from bpsn.integration.rules.files import read_rules_file

    items = _load(lambda: read_rules_file(file))

    async def work(session: RulesSession) -> list[Rule]:
        warning = await session.load_tags()
        if warning:
            console.print(f"[yellow]{escape(warning)}[/yellow]")
        return await session.store.save_all(org, items)

    for rule in _run(work):
        console.print(f"saved {escape(rule.name)} (order {rule.order}{', inactive' if not rule.active else ''})")


@rules_app.command("delete")
def rules_delete(name: str, org: Org = "demo") -> None:
    """Delete the rule called NAME."""
    if not _run(lambda s: s.store.delete(org, name)):
        console.print(f"[red]organisation {escape(org)} has no transform rule named {escape(name)}[/red]")
        raise typer.Exit(1)
    console.print(f"deleted {escape(name)}")


def _load(read: Callable[[], T]) -> T:
    from bpsn.integration.rules.files import FileError

    try:
        return read()
    except FileError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(2) from None
