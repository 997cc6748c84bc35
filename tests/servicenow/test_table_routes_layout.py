"""The Table API's routes sit on the ServiceNow app's own router (servicenow/table/routes.py
add_table_routes), not in an included router that FastAPI matches twice per request. Nothing a
client can see depends on that: the OpenAPI document and the answers (wrong methods, unknown paths,
repeated parameters, HEAD, each API version) are those of the same routes included as a router,
the layout they had before."""

from __future__ import annotations

import base64
from typing import Any

import anyio
import httpx
import pytest
from fastapi import APIRouter
from pooled_simulators import ServiceNowPool

import bpsn.simulator.servicenow.app as app_module
from bpsn.simulator.common.fast_route import FastPathRoute
from bpsn.simulator.servicenow.backend import ServiceNowBackend
from bpsn.simulator.servicenow.table.routes import add_table_routes

ADMIN = {"Authorization": "Basic " + base64.b64encode(b"admin:admin").decode()}
JSON = {**ADMIN, "Content-Type": "application/json"}
KEPT_HEADERS = ("content-type", "location", "x-total-count", "link", "allow", "content-length")


def _included(router: APIRouter) -> None:
    """The layout before: the same routes in a router of their own, included in the app."""
    table = APIRouter()
    add_table_routes(table)
    router.include_router(table)


@pytest.fixture(scope="module")
def included_pool() -> ServiceNowPool:
    """An instance with the layout before, built once for the file; `apps` puts it back as new."""
    return ServiceNowPool.built_with(app_module, "add_table_routes", _included)


@pytest.fixture
def direct(backend: ServiceNowBackend, pooled_servicenow: tuple[ServiceNowBackend, Any]) -> Any:
    """The pooled instance's app (the layout now), the instance as new (conftest's `backend`)."""
    return pooled_servicenow[1]


@pytest.fixture
def apps(direct: Any, included_pool: ServiceNowPool) -> tuple[Any, Any]:
    included_pool.as_new()  # as conftest's `backend` does for the pooled instance: the same state
    return direct, included_pool.app


def _answer(app: Any, method: str, path: str, **kwargs: Any) -> tuple[int, str, dict[str, str]]:
    async def call() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sn") as client:
            return await client.request(method, path, **kwargs)

    response = anyio.run(call)
    return response.status_code, response.text, {k: v for k, v in response.headers.items() if k in KEPT_HEADERS}


def test_table_routes_are_the_apps_own(direct: Any) -> None:
    app = direct
    table = [r for r in app.router.routes if str(getattr(r, "path", "")).startswith("/api/now/")
             and "/table/" in str(getattr(r, "path", ""))]
    assert len(table) == 3 * 6  # three versions: list, get, create, put, patch, delete
    assert {type(r) for r in table} == {FastPathRoute}
    assert app.router.route_class is not FastPathRoute  # lent to add_table_routes only


def test_the_document_is_the_included_routers(apps: tuple[Any, Any]) -> None:
    direct, included = apps
    assert direct.openapi() == included.openapi()
    assert list(direct.openapi()["paths"]) == list(included.openapi()["paths"])


REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/api/now/table/incident", {"headers": JSON, "content": b'{"short_description": "a", "sys_id": "'
                                                                     + b"a" * 32 + b'"}'}),
    ("POST", "/api/now/v1/table/incident", {"headers": JSON, "content": b'{"short_description": "b"}'}),
    ("POST", "/api/now/v2/table/incident", {"headers": JSON, "content": b'[1]'}),
    ("GET", "/api/now/table/incident/" + "a" * 32, {"headers": ADMIN}),
    ("HEAD", "/api/now/table/incident/" + "a" * 32, {"headers": ADMIN}),
    ("GET", "/api/now/v2/table/incident", {"headers": ADMIN, "params": {"sysparm_limit": "1"}}),
    ("GET", "/api/now/v1/table/problem", {"headers": ADMIN, "params": {"sysparm_query": "active=nothing"}}),
    ("GET", "/api/now/table/incident", {"headers": ADMIN, "params": [("sysparm_limit", "1"), ("sysparm_limit", "2")]}),
    ("PUT", "/api/now/table/incident", {"headers": JSON, "content": b"{}"}),  # no such method: 405
    ("POST", "/api/now/table/incident/" + "a" * 32, {"headers": JSON, "content": b"{}"}),  # 405
    ("OPTIONS", "/api/now/table/incident", {"headers": ADMIN}),
    ("GET", "/api/now/table/bad-name!", {"headers": ADMIN}),
    ("GET", "/api/now/table/incident/x/y", {"headers": ADMIN}),  # no route: 400 as on an instance
    ("GET", "/api/now/table/", {"headers": ADMIN}),
    ("PATCH", "/api/now/table/incident/" + "a" * 32, {"headers": JSON, "content": b'{"impact": "1"}'}),
    ("DELETE", "/api/now/v2/table/incident/" + "a" * 32, {"headers": ADMIN}),
    ("DELETE", "/api/now/table/incident/" + "a" * 32, {}),
    ("GET", "/api/now/stats/incident", {"headers": ADMIN, "params": {"sysparm_count": "true"}}),
    ("GET", "/_sim/health", {}),
]


def test_answers_are_the_included_routers(apps: tuple[Any, Any]) -> None:
    direct, included = apps
    for method, path, kwargs in REQUESTS:
        mine, theirs = _answer(direct, method, path, **kwargs), _answer(included, method, path, **kwargs)
        assert mine == theirs, f"{method} {path}: {mine} != {theirs}"
    statuses = [_answer(direct, "GET", "/api/now/table/incident/" + "a" * 32, headers=ADMIN)[0],
                _answer(direct, "PUT", "/api/now/table/incident", headers=JSON, content=b"{}")[0]]
    assert statuses == [404, 405]  # deleted above; a wrong method is still refused as one
