"""The ServiceNow simulator as an ASGI app: routes, error envelopes, journal."""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from bpsn.simulator.common.admin import admin_router
from bpsn.simulator.common.dashboard import Side
from bpsn.simulator.common.dashboard.routes import mount_dashboard
from bpsn.simulator.common.fast_lane import add_fast_lane
from bpsn.simulator.common.middleware import SimulatorMiddleware
from bpsn.simulator.common.openapi import allow_all, honest_openapi, offline_app, single_valued_query
from bpsn.simulator.servicenow.admin.routes import build_admin_router
from bpsn.simulator.servicenow.aggregate.routes import build_stats_router
from bpsn.simulator.servicenow.batch.routes import build_batch_router
from bpsn.simulator.servicenow.import_sets.routes import build_import_router
from bpsn.simulator.servicenow.security.auth import admin_caller
from bpsn.simulator.servicenow.security.routes_oauth import build_oauth_router
from bpsn.simulator.servicenow.table.routes import add_table_routes

from .backend import ServiceNowBackend
from .dashboard_panel import servicenow_panel
from .errors import ERROR_RESPONSES, ErrorEnvelope, SnError
from .openapi_document import complete
from .routes_record_pages import build_record_pages_router

DESCRIPTION = """
A ServiceNow instance for tests: the Table API over a real data dictionary and SQLite store,
with ServiceNow's envelopes, headers and error bodies.

Choices we made where the real behaviour is not public, all configurable:
* unknown fields in a request body are ignored, as are unknown `sysparm_fields` and invalid
  query parts (ServiceNow's default, `glide.invalid_query.returns_no_rows=false`); the simulator's
  own `/_sim` routes refuse unknown body fields and query parameters (400 naming them);
* with no ORDERBY, records come back in insertion order;
* the `Link` header's `prev` may carry a negative offset, as captured from real instances;
* a documented query parameter sent twice is refused (400) rather than one value winning;
* the table parameters list this instance's tables; any other name is answered 400 `Invalid table`;
* password fields are never shown, whoever asks (admin included): a one-way `password` field
  (`sys_user.user_password`, stored as a salted PBKDF2 hash) reads as `""`, a `password2` field
  (encrypted under a random per-start key unless `BPSN_SN_ENCRYPTION_KEY` is set) as `********`
  when set; a query naming either is 403 `Insufficient rights to query records`;
* failed logins are throttled: after `BPSN_SN_LOGIN_MAX_FAILURES` (5) failed basic-auth or OAuth
  password-grant attempts for one user name within `BPSN_SN_LOGIN_FAILURE_WINDOW` (60) seconds of
  the simulator clock, that name is answered 401 without its password being checked until the
  window has passed (a real instance sets `locked_out` instead);
* OAuth tokens are random (Python's `secrets`), never derived from the seed;
* a value longer than its dictionary maximum is cut to it (`short_description`: 160);
* an encoded query holds at most 4,000 conditions and 100 dot-walk hops in all (8 per walk): 400
  `Invalid query` beyond; user patterns in fault rules are RE2 (linear time: no backreferences);
* a request body is at most 10 MB (`BPSN_SN_MAX_BODY_BYTES`): 413 above it; a body sent without
  credentials is answered 401 before it is read.

Admin routes under `/_sim` are the simulator's own: health, reset, clock, journal, wait,
snapshots.
"""


def create_app(backend: ServiceNowBackend | None = None) -> FastAPI:
    backend = backend or ServiceNowBackend()
    app = offline_app(title="bpsn ServiceNow simulator", version="0.1.0", description=DESCRIPTION,
                      responses=ERROR_RESPONSES,
                      generate_unique_id_function=lambda route: route.name,
                      dependencies=[Depends(single_valued_query)])
    app.state.backend = backend
    honest_openapi(app, {"basicAuth": {"type": "http", "scheme": "basic"},
                                       "oauthBearer": {"type": "http", "scheme": "bearer",
                                                       "description": "A token from POST /oauth_token.do"}},
                   public=r"^/(_sim/health|oauth_token\.do)$",  # a token request carries no token
                   finish=lambda document: complete(document, backend.dictionary),
                   # the tables' names and parents: the parent is what makes a staging table
                   depends_on=lambda: tuple((n, t.parent) for n, t in backend.dictionary.tables.items()))

    @app.exception_handler(SnError)
    async def sn_error(request: Request, exc: SnError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return JSONResponse(SnError(400, "Invalid request", problems).body(), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            err = SnError(400, "Requested URI does not represent any resource", None)
        else:
            err = SnError(exc.status_code, str(exc.detail), None)
        return JSONResponse(err.body(), status_code=err.status_code, headers=allow_all(request, exc))

    add_table_routes(app.router)  # not included: see add_table_routes
    add_fast_lane(app.router, "/api/now/")  # the Table API's requests skip the router's walk
    build_import_router().add_to(app.router)
    build_stats_router().add_to(app.router)
    build_batch_router().add_to(app.router)
    build_oauth_router().add_to(app.router)
    admin_router(backend, guard=admin_caller).add_to(
        app.router, responses={403: {"model": ErrorEnvelope, "description": "Not an admin"}})
    build_admin_router().add_to(app.router)
    build_record_pages_router().add_to(app.router)
    mount_dashboard(app, Side("servicenow", backend, servicenow_panel(backend)), guard=admin_caller, auth="basic")
    app.add_middleware(SimulatorMiddleware, journal=backend.journal, clock=backend.clock, faults=backend.faults,
                       error_body=lambda status, message: SnError(status, message, "Injected by a fault rule").body())
    return app
