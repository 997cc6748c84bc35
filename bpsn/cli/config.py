"""`bpsn config`: the versioned integration configuration in ServiceNow (x_bip_panda_config)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from .errors import is_settings_error

console = Console()

# --- bpsn config: versioned configuration in ServiceNow (x_bip_panda_config) -------------------
config_app = typer.Typer(
    help="Versioned integration configuration in ServiceNow's x_bip_panda_config. Connects as "
         "BPSN_CONFIG_USER / BPSN_CONFIG_PASSWORD (default bigpanda.admin) to BPSN_SERVICENOW_URL; "
         "credentials are encrypted with BPSN_CONFIG_KEY and always shown as (set) / (not set).",
    no_args_is_help=True)
Org = Annotated[str, typer.Option(help="The BigPanda organisation whose configuration this is.")]
Note = Annotated[str, typer.Option(help="Why: kept with the new version.")]


def _config_run(work):  # type: ignore[no-untyped-def]
    """Run `work(store)` against the instance; known failures become a message and exit 1."""
    import httpx

    from bpsn.integration.clients.servicenow import ServiceNowError
    from bpsn.integration.config.crypto import ConfigKeyError
    from bpsn.integration.config.versioned import ConfigError, open_store

    async def main():  # type: ignore[no-untyped-def]
        async with open_store() as store:
            return await work(store)
    try:
        return asyncio.run(main())
    except (ConfigError, ConfigKeyError, ServiceNowError, ValueError) as exc:
        if is_settings_error(exc):  # a bad BPSN_* value: the root command names it, one line
            raise
        from rich.markup import escape
        console.print(f"[red]{escape(str(exc))}[/red]")
    except httpx.TransportError as exc:
        console.print(f"[red]cannot reach ServiceNow: {type(exc).__name__}[/red]")
    raise typer.Exit(1)


def _config_value(value: object) -> str:
    import json

    from rich.markup import escape
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)) and all(isinstance(v, str) for v in value):
        return escape(", ".join(value))
    if isinstance(value, (tuple, list, dict)):  # a table setting (tag_mappings): as JSON
        return escape(json.dumps(value, default=str))
    return escape(str(value))


def _config_title(v) -> str:  # type: ignore[no-untyped-def]
    from rich.markup import escape
    return escape(f"{v.organization}: version {v.version}{' (current)' if v.current else ''}, "
                  f"by {v.author} at {v.created_on}" + (f" — {v.note}" if v.note else ""))


@config_app.command("show")
def config_show(org: Org = "demo", version: Annotated[int | None, typer.Option(
        help="A past version (default: the current one).")] = None) -> None:
    """The configuration, credentials masked."""
    from rich.markup import escape

    v = _config_run(lambda s: s.get(org, version) if version else s.current(org))
    if v is None:
        console.print(f"no configuration for organisation {escape(org)} yet: `bpsn config set` makes version 1")
        raise typer.Exit(1)
    t = Table(title=_config_title(v), header_style="bold")
    t.add_column("field")
    t.add_column("value")
    for name, value in v.config.masked().items():
        t.add_row(name, _config_value(value))
    console.print(t)


@config_app.command("history")
def config_history(org: Org = "demo") -> None:
    """Every version, oldest first: author, time, note and what changed."""
    from rich.markup import escape

    from bpsn.integration.config.versioned import changed_fields

    versions = _config_run(lambda s: s.history(org))
    t = Table(title=f"configuration history of {escape(org)}", header_style="bold")
    for col in ("version", "current", "author", "time", "note", "changed"):
        t.add_column(col)
    previous = None
    for v in versions:
        t.add_row(str(v.version), "yes" if v.current else "", escape(v.author), v.created_on, escape(v.note),
                  escape(", ".join(changed_fields(previous, v.config))))
        previous = v.config
    console.print(t)


@config_app.command("diff")
def config_diff(a: int, b: int, org: Org = "demo",
                all_fields: Annotated[bool, typer.Option("--all", help="Unchanged fields too.")] = False) -> None:
    """What changed from version A to version B (credentials: changed / unchanged only)."""
    from rich.markup import escape

    changes = _config_run(lambda s: s.diff(org, a, b))
    t = Table(title=f"{escape(org)}: version {a} -> {b}", header_style="bold")
    for col in ("field", f"v{a}", f"v{b}"):
        t.add_column(col)
    for c in changes:
        if c.changed or all_fields:
            if c.credential:
                t.add_row(c.field, c.summary, "")
            else:
                t.add_row(c.field, _config_value(c.before), _config_value(c.after))
    console.print(t if any(c.changed for c in changes) or all_fields else f"versions {a} and {b} are the same")


@config_app.command("rollback")
def config_rollback(version: int, org: Org = "demo", note: Note = "") -> None:
    """Make a new version equal to VERSION (history is never rewritten)."""
    v = _config_run(lambda s: s.rollback(org, version, note))
    console.print(_config_title(v))


@config_app.command("set")
def config_set(key: Annotated[str, typer.Argument(help="A field (api_base_url, incident_url_base, integration_user, "
                                                       "a credential, or a module setting such as retrieval_count).")],
               value: Annotated[str | None, typer.Argument(
                   help="The new value; never for a credential (read from stdin or a hidden prompt).")] = None,
               org: Org = "demo", note: Note = "") -> None:
    """Change one field: a new version (version 1 from the defaults when the organisation has none)."""
    import sys

    from bpsn.integration.config.models import CREDENTIAL_FIELDS, IntegrationConfig

    key = key.removeprefix("settings.")
    if key in CREDENTIAL_FIELDS:
        if value is not None:
            console.print(f"[red]{key} is a credential: give it on stdin or at the prompt, never as an argument[/red]")
            raise typer.Exit(2)
        value = (sys.stdin.readline().strip() if not sys.stdin.isatty()
                 else typer.prompt(key, hide_input=True, confirmation_prompt=True).strip())
        if not value:
            console.print(f"[red]no value for {key} on stdin[/red]")
            raise typer.Exit(2)
    elif value is None:
        console.print(f"[red]{key} needs a value[/red]")
        raise typer.Exit(2)
    parsed: object = value
    if value.lstrip().startswith(("[", "{")):  # a table setting, e.g. tag_mappings, as JSON
        import json
        try:
            parsed = json.loads(value)
        except ValueError as exc:
            console.print(f"[red]{key}: the value is not valid JSON: {exc}[/red]")
            raise typer.Exit(2) from None

    async def work(store):  # type: ignore[no-untyped-def]
        current = await store.current(org)
        config = (current.config if current else IntegrationConfig()).replace(**{key: parsed})
        if key == "tag_mappings":  # only Text tags: checked against BigPanda before the version is saved
            from bpsn.integration.config.tag_types import (
                TagTypesUnknown,
                refuse_closed_list_tags,
            )

            try:
                await refuse_closed_list_tags(config, org)
            except TagTypesUnknown as exc:  # the core checks again when it applies the version
                console.print(f"[yellow]warning: {exc}; saved unchecked, the core refuses a non-Text tag[/yellow]")
        return await store.save(org, config, note or f"set {key}")

    console.print(_config_title(_config_run(work)))
