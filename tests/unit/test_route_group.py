"""RouteGroup: routes declared as on an APIRouter and added straight to the app's router make the
app `include_router` would have made (same document, same answers, dependency overrides and
lifespans honoured), and the simulators include no router but the one that carries a lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Query
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from bpsn.simulator.bigpanda.app import create_app as bigpanda_app
from bpsn.simulator.common.route_group import RouteGroup
from bpsn.simulator.servicenow.app import create_app as servicenow_app

calls: list[str] = []


def app_wide(x_app: str | None = Header(None)) -> None:
    calls.append("app")


def group_wide(x_group: str | None = Header(None)) -> None:
    calls.append("group")


def outer_wide() -> None:
    calls.append("outer")


def who() -> str:
    return "the real caller"


def own(x_own: int = Query(0, ge=0)) -> None:
    calls.append("own")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.started = True
    yield


def _declare(r: Any, child: Any, late: APIRouter) -> None:
    @r.get("/items/{item}", tags=["items"], responses={404: {"description": "no such item"}},
           dependencies=[Depends(own)], summary="One item")
    async def get_item(item: int, caller: str = Depends(who)) -> dict[str, Any]:
        if item == 0:
            raise HTTPException(404, "no such item")
        return {"item": item, "caller": caller}

    @r.post("/items", status_code=201)
    async def post_item(body: dict[str, int]) -> dict[str, int]:
        return body

    @child.put("/items/{item}/name", responses={409: {"description": "taken"}})
    async def name_item(item: int, name: str = Query(..., max_length=5)) -> dict[str, Any]:
        return {"item": item, "name": name}

    @late.get("/late")
    async def late_route() -> dict[str, bool]:
        return {"late": True}

    r.include(child) if isinstance(r, RouteGroup) else r.include_router(child)
    r.include(late) if isinstance(r, RouteGroup) else r.include_router(late)


def _app(grouped: bool) -> FastAPI:
    app = FastAPI(dependencies=[Depends(app_wide)], responses={500: {"description": "app-wide"}},
                  generate_unique_id_function=lambda route: route.name)
    make: Callable[..., Any] = RouteGroup if grouped else APIRouter
    r = make(prefix="/v1", tags=["group"], dependencies=[Depends(group_wide)],
             responses={400: {"description": "group-wide"}})
    child = make(prefix="/child", tags=["child"], responses={400: {"description": "child's own"}})
    late = APIRouter(tags=["late"], lifespan=lifespan)  # a lifespan keeps a router included
    _declare(r, child, late)
    outer = {"prefix": "/api", "tags": ["outer"], "dependencies": [Depends(outer_wide)],
             "responses": {403: {"description": "outer"}}}
    if grouped:
        r.add_to(app.router, **outer)
    else:
        app.include_router(r, **outer)
    return app


REQUESTS = [("GET", "/api/v1/items/3?x_own=1"), ("GET", "/api/v1/items/0"), ("GET", "/api/v1/items/3?x_own=-1"),
            ("GET", "/api/v1/items/three"), ("POST", "/api/v1/items"), ("PUT", "/api/v1/child/items/2/name?name=ab"),
            ("PUT", "/api/v1/child/items/2/name?name=abcdefgh"), ("DELETE", "/api/v1/items/3"), ("GET", "/api/late"),
            ("GET", "/nowhere")]


def _answers(app: FastAPI) -> list[tuple[int, Any, list[str]]]:
    out = []
    with TestClient(app) as client:
        assert app.state.started
        for method, url in REQUESTS:
            calls.clear()
            r = client.request(method, url, json={"a": 1} if method == "POST" else None)
            out.append((r.status_code, r.json(), list(calls)))
    return out


def test_a_group_makes_the_app_include_router_makes() -> None:
    included, grouped = _app(grouped=False), _app(grouped=True)
    assert grouped.openapi() == included.openapi()
    assert list(grouped.openapi()["paths"]) == list(included.openapi()["paths"])
    assert _answers(grouped) == _answers(included)
    assert _answers(grouped)[0] == (200, {"item": 3, "caller": "the real caller"}, ["app", "outer", "group", "own"])


def test_dependency_overrides_reach_grouped_routes() -> None:
    for app in (_app(grouped=False), _app(grouped=True)):
        app.dependency_overrides[who] = lambda: "an override"
        with TestClient(app) as client:
            assert client.get("/api/v1/items/3").json()["caller"] == "an override"


def test_each_grouped_route_is_the_apps_own_and_only_a_lifespan_stays_included() -> None:
    app = _app(grouped=True)
    own_routes = [r.path for r in app.router.routes if isinstance(r, APIRoute)]
    assert own_routes[-3:] == ["/api/v1/items/{item}", "/api/v1/items", "/api/v1/child/items/{item}/name"]
    included = [r for r in app.router.routes if not isinstance(r, APIRoute) and hasattr(r, "original_router")]
    assert len(included) == 1 and included[0].original_router.lifespan_context is not None


def test_a_group_cannot_be_included_as_a_router() -> None:
    with pytest.raises(Exception):  # noqa: B017 - FastAPI's own error for a non-router: any will do
        FastAPI().include_router(RouteGroup())  # type: ignore[arg-type]


@pytest.mark.parametrize("create", [bigpanda_app, servicenow_app], ids=["bigpanda", "servicenow"])
def test_the_simulators_build_each_route_once(create: Callable[[], FastAPI]) -> None:
    """An included router's routes are built twice by FastAPI (see route_group): only BigPanda's
    push routes, which carry the lifespan that starts pushing, are still included."""
    app = create()
    included = [r.original_router for r in app.router.routes if hasattr(r, "original_router")]
    assert all(router.lifespan_context is not None for router in included)
    assert len(included) == (1 if create is bigpanda_app else 0)
