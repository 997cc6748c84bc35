"""What both simulators' apps need from FastAPI beyond the defaults: API docs that work offline,
honest 405s, an OpenAPI document that promises what they really send (400 not 422; how to
authenticate), and requests held to it (a single-valued query parameter sent twice is refused)."""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, get_args, get_origin

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")
# Swagger UI's and ReDoc's scripts, styles and icon, from the fastapi-offline package. Under /docs
# on purpose: the middleware keeps /docs public and out of the journal, as the pages themselves.
DOCS_ASSETS = "/docs/assets"
# The pages may load nothing but from this server: ReDoc's bundle links its logo from a CDN, which
# this policy blocks, so the docs never reach out (the inline scripts are the pages' own start-up).
DOCS_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
               "frame-ancestors 'none'")


def offline_app(**options: Any) -> FastAPI:
    """A FastAPI app whose /docs (Swagger UI) and /redoc (ReDoc) load their assets from this
    server (DOCS_ASSETS, shipped by fastapi-offline), never from a CDN: the docs render on a
    machine with no internet access. The pages and assets are public, like the OpenAPI document."""
    app = FastAPIOffline(static_url=DOCS_ASSETS, docs_url=None, redoc_url=None, **options)
    headers = {"Content-Security-Policy": DOCS_POLICY, "Cache-Control": "no-cache"}

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        page = get_swagger_ui_html(openapi_url=str(app.openapi_url), title=f"{app.title} - Swagger UI",
                                   swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
                                   swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png")
        return HTMLResponse(page.body, headers=headers)

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        page = get_redoc_html(openapi_url=str(app.openapi_url), title=f"{app.title} - ReDoc",
                              redoc_js_url=f"{DOCS_ASSETS}/redoc.standalone.js",
                              redoc_favicon_url=f"{DOCS_ASSETS}/favicon.png", with_google_fonts=False)
        return HTMLResponse(page.body, headers=headers)

    return app


def allow_all(request: Request, exc: StarletteHTTPException) -> dict[str, str] | None:
    """A 405's Allow header lists every method of the path, not just one route's (RFC 9110)."""
    headers = getattr(exc, "headers", None)
    if exc.status_code != 405:
        return headers
    methods = [m for m in METHODS
               if any(r.matches({**request.scope, "method": m})[0] is Match.FULL for r in request.app.router.routes)]
    return {**(headers or {}), "Allow": ", ".join(methods)}


def honest_openapi(app: FastAPI, security_schemes: dict[str, dict[str, Any]], public: str = r"(?!)",
                   finish: Callable[[dict[str, Any]], None] | None = None,
                   depends_on: Callable[[], Hashable] | None = None) -> None:
    """Validation errors answer 400 with the API's own error body, never FastAPI's 422, so the
    document must not promise a 422; and it says how to authenticate, except on the paths that
    `public` (a regex) matches: those take no credentials and say so with `security: []`.
    `finish` completes the document with what only the simulator knows (its tables, its links);
    `depends_on` gives what that depends on, and the document is built again when it changes."""
    build = app.openapi
    built_for: list[Hashable] = [None]

    def openapi() -> dict[str, Any]:
        state = depends_on() if depends_on is not None else None
        if app.openapi_schema is None or state != built_for[0]:
            app.openapi_schema = None  # FastAPI's own build returns its cached document otherwise
            built_for[0] = state
            document = build()
            for path, item in document.get("paths", {}).items():
                for operation in item.values():
                    if isinstance(operation, dict):
                        operation.get("responses", {}).pop("422", None)
                        if re.match(public, path):
                            operation["security"] = []
            components = document.setdefault("components", {})
            for name in ("HTTPValidationError", "ValidationError"):
                components.get("schemas", {}).pop(name, None)
            components["securitySchemes"] = security_schemes
            document["security"] = [{name: []} for name in security_schemes]
            if finish is not None:
                finish(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


async def single_valued_query(request: Request) -> None:
    """A query parameter the route declares as one value is refused (400, the API's own
    validation error body) when sent more than once, instead of one of the values winning
    silently: the document and the behaviour agree on what a valid request is."""
    if not request.scope.get("query_string"):
        return  # nothing sent, nothing sent twice: the common case pays no parsing
    route = request.scope.get("route")
    if getattr(route, "dependant", None) is None:
        return
    repeated = [name for name in route_query(route).single if len(request.query_params.getlist(name)) > 1]
    if repeated:
        raise RequestValidationError([{"type": "value_error", "loc": ("query", name), "input": None,
                                       "msg": "given more than once; send it once"} for name in sorted(repeated)])


@dataclass(frozen=True)
class RouteQuery:
    names: frozenset[str]  # every query parameter the route takes, its dependencies' included
    single: frozenset[str]  # those that take one value (not a list)


def _many(annotation: Any) -> bool:
    if get_origin(annotation) in (list, tuple, set, frozenset):
        return True
    return any(_many(arg) for arg in get_args(annotation) if get_origin(annotation) is not None)


def route_query(route: Any) -> RouteQuery:
    """The route's query parameters, read from the route itself (computed once, kept on it):
    building the OpenAPI document to learn them cost more than half of a minimal test."""
    known: RouteQuery | None = getattr(route, "_bpsn_query", None)
    if known is None:  # walked by hand: FastAPI's own flattening helpers are private and move
        names: set[str] = set()
        single: set[str] = set()
        todo, seen = [route.dependant], set()
        while todo:
            dependant = todo.pop()
            if id(dependant) in seen:
                continue
            seen.add(id(dependant))
            for field in dependant.query_params:
                annotation = getattr(field.field_info, "annotation", None)
                if isinstance(annotation, type) and issubclass(annotation, BaseModel):  # a query model
                    for name, f in annotation.model_fields.items():
                        names.add(f.alias or name)
                        if not _many(f.annotation):
                            single.add(f.alias or name)
                else:
                    names.add(field.alias)
                    if not _many(annotation):
                        single.add(field.alias)
            todo.extend(dependant.dependencies)
        known = RouteQuery(frozenset(names), frozenset(single))
        route._bpsn_query = known  # cached on the route: routes are not hashable
    return known


def link(document: dict[str, Any], source: tuple[str, str, str], targets: dict[str, str],
         parameters: dict[str, str]) -> None:
    """OpenAPI links from one answer (`(method, path, status)`) to every operation of each target
    path (path -> a name for the links, e.g. `Record`: GetRecord, PatchRecord...), filling the
    `parameters` each operation takes (runtime expressions such as `$response.body#/id`): what a
    client or a stateful fuzzer follows from a create to the resource it made."""
    method, path, status = source
    paths = document.get("paths", {})
    response = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
    if response is None:
        raise ValueError(f"no {status} answer of {method.upper()} {path} in the document to link from")
    links = response.setdefault("links", {})
    for target, name in targets.items():
        if target not in paths:
            raise ValueError(f"no path {target} in the document to link to")
        ref = "#/paths/" + target.replace("~", "~0").replace("/", "~1")
        for target_method, operation in paths[target].items():
            if target_method in ("get", "put", "patch", "post", "delete"):
                taken = {p.get("name") for p in operation.get("parameters", [])}
                links[f"{target_method.title()}{name}"] = {
                    "operationRef": f"{ref}/{target_method}",
                    "parameters": {k: v for k, v in parameters.items() if k in taken}}
