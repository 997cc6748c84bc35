"""Thin routes of the dashboard: the page at `/`, its script and style, and the JSON it polls.

The page and its assets hold no data and no secret, so they answer anyone (as /docs does); the
summary, `GET /_sim/dashboard`, is an admin route like every /_sim route but health and takes the
simulator's admin credential. The page asks for that credential in a sign-in form and keeps it in
the tab's sessionStorage (gone when the tab closes), sending it as an Authorization header; it is
never written into the HTML. A Content-Security-Policy allows only this server's own script.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from importlib import resources
from typing import Any, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from ..admin import ClockState, known_query_only
from .summary import DashboardScope, Side, summarise
from ..route_group import RouteGroup

AuthKind = Literal["basic", "bearer"]  # ServiceNow: an admin user's basic auth; BigPanda: the admin token
ASSETS_PATH = "/_sim/dashboard/assets"  # under /_sim: kept out of the request journal
ASSET_TYPES = {"dashboard.js": "text/javascript; charset=utf-8", "dashboard.css": "text/css; charset=utf-8"}
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                               "img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


def _static(name: str) -> str:
    return resources.files(__package__).joinpath("static", name).read_text(encoding="utf-8")


class DashboardOut(BaseModel):
    """The dashboard's summary: see the README's "Dashboards and API docs"."""

    own: str = Field(description="The simulator that answered")
    stack: bool = Field(description="True under `bpsn up`: both simulators and the core are in it")
    clock: ClockState
    simulators: dict[str, dict[str, Any]] = Field(
        description="Per simulator: url, requests (newest journal entries, newest first: method, path, status, "
                    "duration_ms, user), totals, faults (active rules), rate (requests of the busiest caller "
                    "in the last second of the simulator clock against limit_per_second)")
    pairs: list[dict[str, Any]] = Field(description="Incidents beside their tickets, newest first: "
                                                    "{incident, ticket}, either may be null")
    has_incidents: bool
    has_tickets: bool
    queue: dict[str, int] | None = Field(description="BigPanda's share queue: pending, leased, dead_letters")
    core: dict[str, Any] | None = Field(description="Under `bpsn up`: the core's counters")


def mount_dashboard(app: FastAPI, side: Side, guard: Callable[..., Any], auth: AuthKind) -> None:
    """`/` and `/_sim/dashboard` on `app`, showing `side` alone until share_scope replaces
    `app.state.dashboard` with a scope of several simulators (`bpsn up`)."""
    app.state.dashboard = DashboardScope(sides=[side])
    _router(side.name, guard, auth).add_to(app.router)


def _router(name: str, guard: Callable[..., Any], auth: AuthKind) -> RouteGroup:
    r = RouteGroup()
    page = _static("index.html").replace("{{simulator}}", html.escape(name, quote=True)) \
                                .replace("{{auth}}", html.escape(auth, quote=True)) \
                                .replace("{{assets}}", ASSETS_PATH)
    assets = {asset: _static(asset) for asset in ASSET_TYPES}

    @r.get("/", include_in_schema=False)
    async def dashboard_page() -> HTMLResponse:
        return HTMLResponse(page, headers=PAGE_HEADERS)

    @r.get(ASSETS_PATH + "/{asset}", include_in_schema=False, dependencies=[Depends(known_query_only)])
    async def dashboard_asset(asset: str) -> Response:
        if asset not in assets:
            return Response(f"no dashboard asset {asset!r}", status_code=404, media_type="text/plain")
        return Response(assets[asset], media_type=ASSET_TYPES[asset], headers=PAGE_HEADERS)

    @r.get("/_sim/dashboard", response_model=DashboardOut, tags=["simulator admin"],
           dependencies=[Depends(guard), Depends(known_query_only)],
           summary="What the dashboard at / shows: requests, incidents beside tickets, the share queue, "
                   "the clock, fault rules, rate-limit usage")
    async def dashboard(request: Request) -> dict[str, Any]:
        scope: DashboardScope = request.app.state.dashboard
        return summarise(scope, name)

    return r
