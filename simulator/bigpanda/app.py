"""The BigPanda simulator as an ASGI app: both hosts' paths (api and integrations) on one port."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from bpsn.simulator.bigpanda.admin.routes import build_admin_router
from bpsn.simulator.bigpanda.alerts.routes import build_alerts_router
from bpsn.simulator.bigpanda.changes.routes import build_changes_router
from bpsn.simulator.bigpanda.enrichment.routes import build_enrichment_router
from bpsn.simulator.bigpanda.incidents.routes import build_incidents_router
from bpsn.simulator.bigpanda.incidents.routes_actions import build_incident_actions_router
from bpsn.simulator.bigpanda.incidents.routes_environments import build_environments_router
from bpsn.simulator.bigpanda.maintenance.routes import build_maintenance_router
from bpsn.simulator.bigpanda.oim.routes import build_oim_router
from bpsn.simulator.bigpanda.sharing.routes import build_sharing_router
from bpsn.simulator.common.admin import admin_router
from bpsn.simulator.common.dashboard import Side
from bpsn.simulator.common.dashboard.routes import mount_dashboard
from bpsn.simulator.common.middleware import SimulatorMiddleware
from bpsn.simulator.common.openapi import allow_all, honest_openapi, offline_app, single_valued_query

from .auth import ADMIN_SCHEMES, admin_caller
from .backend import BigPandaBackend
from .dashboard_panel import bigpanda_panel
from .errors import ERROR_RESPONSES, BpError
from .openapi_links import link_created

DESCRIPTION = """
A BigPanda organisation for tests: alerts in, correlation into incidents, sharing to
ServiceNow, the incidents API. Errors come as `{"status": N, "errors": ["..."]}`.

Rate limits (documented by BigPanda): 5 requests per second per token, Incidents V1 150 per
minute, changes 400 per minute and 50,000 per week, answered with 429. Our choices: a
`Retry-After` header (seconds), alert ingestion (`/data/v2/alerts`, `/oim/api/alerts`) counted
in its own per-token bucket, windows on the simulator clock, and a journal note
`early_retry` for a request that comes back before its Retry-After. Per organisation through
`PUT /_sim/organizations/{name}/rate-limits`, or `BPSN_BP_RATE_LIMIT_ENABLED=false`.

Request bodies take the JSON types this document gives (no `"5"` for 5, no `0` for false; `5.0`
is 5), and a documented query parameter sent twice is refused (400): our choices, as BigPanda
publishes no validation rules.

Choices we made where BigPanda publishes nothing, all configurable (`BPSN_BP_*`):
* share retrieval (`GET /integrations/v3/servicenow/shares`) and callbacks
  (`POST /integrations/v3/servicenow/callbacks`): our contract; shares are leased for
  120 s and delivered again if no callback arrives, at most 6 times, then dead-lettered;
* the `/data/v2/alerts` success body (201 with alert and incident ids; 204 for an exact
  duplicate);
* correlation: alerts sharing a host (else service, application, device) within 3600 s of
  the incident's start join it (patterns, with BPQL filters, are data:
  `PUT /_sim/organizations/{name}/correlation-patterns`); a non-ok event within 4 h of
  resolution reopens the incident, later ones open a new incident;
* flapping: 4 ok/not-ok flips within 1800 s;
* an `acknowledged` event on a new alert is stored as `unknown`, flagged acknowledged;
* push mode (`PUT /_sim/organizations/{name}/environments/{environment}/push`): shares are POSTed
  to a URL, retried on >= 501 and connection errors up to 6 tries 15 minutes apart on the simulator
  clock, other failures at once, then dead-lettered (`GET /_sim/dead-letters`, redeliver);
* snapshots (`POST /_sim/snapshot/save|load`, `--state-file`): every organization and the random
  source in a versioned JSON document (never a pickle), checked whole before it replaces anything;
  not the clock. Credentials in it are encrypted (Fernet) under a key derived from
  `BPSN_BP_SNAPSHOT_KEY`, else `BPSN_BP_ADMIN_TOKEN`: a snapshot loads with working tokens wherever
  the same key is in force, and is refused (400, nothing changed) elsewhere.

Admin routes under `/_sim` are the simulator's own. Every one but `/_sim/health` needs the
admin token (`BPSN_BP_ADMIN_TOKEN`; the default `bpsn-admin-token` is a demo value to override on
shared machines) as `Authorization: Bearer <token>` or `X-Bpsn-Admin-Token: <token>`; org tokens and
user API keys are not accepted there, nor is the admin token anywhere else. Snapshot files are read
and written only inside `BPSN_BP_SNAPSHOT_DIR` (default `./snapshots`), named relative to it.

The `/_sim` routes refuse unknown body fields and query parameters (400 naming them).

Limits, our choices: a request body is at most 10 MB (`BPSN_BP_MAX_BODY_BYTES`; OIM 6 MB as
documented), 413 above it; a body sent without any credential is answered 401 before it is read;
BPQL and OIM filters nest at most 32 levels, OIM bodies 64; user patterns (maintenance `regex`,
fault rules) are RE2: linear time, no backreferences or lookaround; a refused one is a 400 naming it.
"""


def _admin_security(document: dict[str, Any]) -> None:
    """The API takes org tokens and user API keys; /_sim (health aside) takes the admin token only."""
    document["security"] = [{"bearerToken": []}]
    for path, item in document.get("paths", {}).items():
        if path.startswith("/_sim/") and path != "/_sim/health":
            for operation in item.values():
                if isinstance(operation, dict):
                    operation["security"] = [{name: []} for name in ADMIN_SCHEMES]


def _finish(document: dict[str, Any]) -> None:
    link_created(document)
    _admin_security(document)


def create_app(backend: BigPandaBackend | None = None) -> FastAPI:
    backend = backend or BigPandaBackend()
    app = offline_app(title="bpsn BigPanda simulator", version="0.1.0", description=DESCRIPTION,
                      responses=ERROR_RESPONSES, generate_unique_id_function=lambda route: route.name,
                      dependencies=[Depends(single_valued_query)])
    app.state.backend = backend
    honest_openapi(app, {"bearerToken": {"type": "http", "scheme": "bearer",
                                         "description": "The org token or a user API key"}, **ADMIN_SCHEMES},
                   public=r"^/_sim/health$",  # health answers anyone; other /_sim routes: _admin_security
                   finish=_finish)

    @app.exception_handler(BpError)
    async def bp_error(request: Request, exc: BpError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return JSONResponse(BpError(400, *problems).body(), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = f"Route {request.url.path} is not found" if exc.status_code == 404 else str(exc.detail)
        return JSONResponse(BpError(exc.status_code, message).body(), status_code=exc.status_code,
                            headers=allow_all(request, exc))

    build_alerts_router().add_to(app.router)
    build_incidents_router().add_to(app.router)
    build_incident_actions_router().add_to(app.router)
    build_environments_router().add_to(app.router)
    build_sharing_router().add_to(app.router)
    build_changes_router().add_to(app.router)
    build_maintenance_router().add_to(app.router)
    build_enrichment_router().add_to(app.router)
    build_oim_router().add_to(app.router)
    admin_router(backend, guard=admin_caller).add_to(app.router)
    build_admin_router().add_to(app.router)
    mount_dashboard(app, Side("bigpanda", backend, bigpanda_panel(backend)), guard=admin_caller, auth="bearer")
    app.add_middleware(SimulatorMiddleware, journal=backend.journal, clock=backend.clock, faults=backend.faults,
                       error_body=lambda status, message: BpError(status, message).body())
    return app
