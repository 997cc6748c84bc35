"""The instance's record pages, as the ticket links the core writes into BigPanda open them:
`/nav_to.do?uri=incident.do?sys_id=<id>` shows one record, and
`/nav_to.do?uri=<table>_list.do?sysparm_query=<query>` (or `<table>.do?sysparm_query=`) a list.

Plain, readable HTML (no script): the record's fields with their labels and display values.
Behind the instance's credentials, as any Table API call (basic auth or an OAuth bearer token,
read ACLs, rate-limit rules): a browser without them gets 401 with a `WWW-Authenticate: Basic`
challenge, so it asks for a user name and password (our choice: a real instance redirects to its
login page, which the simulator does not have). Errors keep ServiceNow's messages, as a page.
"""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import parse_qs

from fastapi import Query, Request
from fastapi.responses import HTMLResponse
from bpsn.simulator.common.route_group import RouteGroup

from .backend import ServiceNowBackend
from .dashboard_panel import ticket_path
from .errors import SnError
from .records.business_rules import Actor
from .security.auth import caller

URI = re.compile(r"^(?P<table>[A-Za-z0-9_]{1,80}?)(?P<list>_list)?\.do(?:\?(?P<query>.*))?$", re.DOTALL)
CHALLENGE = {"WWW-Authenticate": 'Basic realm="ServiceNow", charset="UTF-8"'}
PAGE_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
                "X-Frame-Options": "DENY", "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
MAX_LIST = 100
FIRST = ("number", "short_description", "state", "priority", "assignment_group", "assigned_to", "correlation_id",
         "correlation_display")  # what a reader looks for first; the other fields follow in dictionary order
STYLE = ("body{font:14px/1.4 system-ui,sans-serif;margin:1em 2em}table{border-collapse:collapse}"
         "th,td{border:1px solid #ddd;padding:.2em .6em;text-align:left;vertical-align:top}th{background:#f3f3f3}")


def build_record_pages_router() -> RouteGroup:
    r = RouteGroup()

    # A page for people, not an API: out of the OpenAPI document, as /docs and the dashboard are.
    @r.get("/nav_to.do", response_class=HTMLResponse, include_in_schema=False)
    async def nav_to(request: Request,
                     uri: str = Query(min_length=1, max_length=4_000,
                                      description="A page of this instance: <table>.do?sys_id=<id>, or "
                                                  "<table>_list.do?sysparm_query=<encoded query>")) -> HTMLResponse:
        backend: ServiceNowBackend = request.app.state.backend
        try:
            who = await caller(request)
        except SnError as exc:
            headers = {**exc.headers, **CHALLENGE} if exc.status_code == 401 else exc.headers
            return _error_page(exc, headers)
        try:
            return _page(backend, who, uri, request)
        except SnError as exc:
            return _error_page(exc, exc.headers)

    return r


def _page(backend: ServiceNowBackend, who: Actor, uri: str, request: Request) -> HTMLResponse:
    match = URI.match(uri)
    if match is None:
        raise SnError(400, "Invalid page", f"{uri!r} is not <table>.do?sys_id=<id> or <table>_list.do")
    table = match["table"]
    params = parse_qs(match["query"] or "", keep_blank_values=True)
    # an unencoded & inside uri= splits it: the parts after it belong to the inner page's query
    params.update({k: v for k, v in parse_qs(str(request.url.query), keep_blank_values=True).items() if k != "uri"})
    backend.check_table(table)
    sys_id = (params.get("sys_id") or [""])[0]
    if sys_id and not match["list"]:
        return _record_page(backend, who, table, backend.get(table, sys_id, who))
    return _list_page(backend, who, table, (params.get("sysparm_query") or [""])[0])


def _text(value: Any) -> str:
    if isinstance(value, dict):  # a reference: its display value
        return str(value.get("display_value") or value.get("value") or "")
    return "" if value is None else str(value)


def _record_page(backend: ServiceNowBackend, who: Actor, table: str, row: dict[str, str]) -> HTMLResponse:
    shown = backend.render(table, row, who, display_value="true", exclude_reference_link=True, fields=())
    labels = {f.name: f.label for f in backend.dictionary.fields(row.get("sys_class_name") or table).values()}
    title = f"{_text(shown.get(backend.dictionary.display_field(table))) or row['sys_id']} | {table}"
    order = [name for name in FIRST if name in shown] + [name for name in shown if name not in FIRST]
    cells = "".join(f"<tr><th>{html.escape(labels.get(name, name))}</th><td>{html.escape(_text(shown[name]))}</td></tr>"
                    for name in order if _text(shown[name]))
    return _html(200, title, f'<table class="record" data-table="{html.escape(table)}" '
                             f'data-sys-id="{html.escape(row["sys_id"])}">{cells}</table>')


def _list_page(backend: ServiceNowBackend, who: Actor, table: str, query: str) -> HTMLResponse:
    rows, total = backend.query(table, query, limit=MAX_LIST, offset=0, actor=who)
    display = backend.dictionary.display_field(table)
    items = "".join(
        f'<tr><td><a href="{html.escape(ticket_path(table, row["sys_id"]))}">'
        f'{html.escape(row.get(display) or row["sys_id"])}</a></td>'
        f'<td>{html.escape(row.get("short_description", ""))}</td></tr>' for row in rows)
    more = f"<p>The first {MAX_LIST} of {total}.</p>" if total and total > MAX_LIST else ""
    return _html(200, f"{table} list", f'<p>{total or 0} records</p><table class="list">{items}</table>{more}')


def _error_page(exc: SnError, headers: dict[str, str]) -> HTMLResponse:
    detail = f"<p>{html.escape(exc.detail)}</p>" if exc.detail else ""
    return _html(exc.status_code, exc.message, detail, headers)


def _html(status: int, title: str, content: str, headers: dict[str, str] | None = None) -> HTMLResponse:
    page = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{content}</body></html>")
    return HTMLResponse(page, status_code=status, headers={**PAGE_HEADERS, **(headers or {})})
