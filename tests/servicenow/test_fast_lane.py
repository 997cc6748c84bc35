"""The Table API's fast lane (simulator/common/fast_lane.py): the first route of the ServiceNow app,
it answers the Table API's plain requests through their routes' fast answers, and everything else
exactly as the router would. Answers are compared with an instance whose routes have FastAPI's own
handler (no fast answer: the lane stands aside), byte for byte, headers included; bodies are also
sent in several ASGI messages, so a request the lane hands on gets its body played back whole."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.routing import Match
from pooled_simulators import ServiceNowPool

import bpsn.simulator.servicenow.table.routes as table_routes
from bpsn.simulator.common.fast_lane import FastLane, add_fast_lane
from bpsn.simulator.common.fast_route import FastPathRoute
from bpsn.simulator.servicenow.backend import ServiceNowBackend
from bpsn.simulator.servicenow.security.auth import caller

ADMIN = "Basic " + base64.b64encode(b"admin:admin").decode()
WRONG = "Basic " + base64.b64encode(b"admin:nope").decode()
TABLE = "/api/now/table/incident"


class FastAPIOnly(FastPathRoute):
    def get_route_handler(self) -> Any:
        return APIRoute.get_route_handler(self)


@pytest.fixture(scope="module")
def plain_pool() -> ServiceNowPool:
    """The instance whose Table API routes have FastAPI's own handler, built once for the file."""
    return ServiceNowPool.built_with(table_routes, "FastPathRoute", FastAPIOnly)


@pytest.fixture
def apps(backend: ServiceNowBackend, pooled_servicenow: tuple[ServiceNowBackend, Any],
         plain_pool: ServiceNowPool) -> tuple[Any, Any]:
    """(the pooled app, the FastAPI-only app), both instances as new: conftest's `backend` puts the
    pooled one back, dependency overrides included, and `as_new` the other."""
    plain_pool.as_new()
    return pooled_servicenow[1], plain_pool.app
    plain_backend.outbound.client = outbound_client


def _call(app: Any, method: str, path: str, chunks: list[bytes] | None = None, *, auth: str | None = ADMIN,
          content_type: str | None = "application/json", query: bytes = b"",
          extra_scope: dict[str, Any] | None = None) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """One request as uvicorn hands it over: the body in `chunks`, one ASGI message each."""
    headers = [(b"host", b"sn")]
    if auth:
        headers.append((b"authorization", auth.encode()))
    if chunks is not None:
        headers.append((b"content-length", str(sum(map(len, chunks))).encode()))
        if content_type:
            headers.append((b"content-type", content_type.encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": query, "root_path": "", "headers": headers,
             "server": ("sn", 80), "client": ("127.0.0.1", 1234), **(extra_scope or {})}
    parts = chunks or [b""]
    messages = [{"type": "http.request", "body": c, "more_body": i < len(parts) - 1} for i, c in enumerate(parts)]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)  # a client that waits for the answer
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = sent[0]
    return start["status"], start["headers"], b"".join(m.get("body", b"") for m in sent[1:])


def _same(apps: tuple[Any, Any], *args: Any, **kwargs: Any) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    fast, plain = (_call(app, *args, **kwargs) for app in apps)
    assert fast == plain, f"{args} {kwargs}: lane {fast} != FastAPI {plain}"
    return fast


def test_the_lane_is_the_first_route_and_answers_plain_requests_itself(apps: tuple[Any, Any],
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    fast, plain = apps
    assert isinstance(fast.router.routes[0], FastLane)
    handled: list[str] = []
    real = FastPathRoute.handle

    async def counting(self: FastPathRoute, scope: Any, receive: Any, send: Any) -> None:
        handled.append(scope["path"])
        await real(self, scope, receive, send)

    monkeypatch.setattr(FastPathRoute, "handle", counting)
    status, _, body = _same((fast, plain), "POST", TABLE, [b'{"short_description": "lane"}'])
    assert status == 201
    sys_id = body.split(b'"sys_id":"')[1][:32].decode()
    _same((fast, plain), "GET", f"{TABLE}/{sys_id}")
    _same((fast, plain), "GET", TABLE, query=b"sysparm_limit=2")
    assert handled == [TABLE, f"{TABLE}/{sys_id}", TABLE]  # the plain app's routes; the lane's app none
    handled.clear()
    _call(fast, "GET", f"{TABLE}/{sys_id}")
    assert handled == []  # the lane answered; the route's own handle never ran


CHUNKED: list[tuple[list[bytes], str | None]] = [
    ([b'{"short_desc', b'ription": "in ', b'three"}'], "application/json"),  # the lane's own answer
    ([b'{"short_desc', b'ription": "text"}'], "text/plain"),  # handed on: FastAPI's 422 turned 400
    ([b"{not", b" json"], "application/json"),  # handed on: FastAPI names the position
    ([b'["an", ', b'"array"]'], "application/json"),
    ([b'{"deep": ', b"[" * 70 + b"1" + b"]" * 70, b"}"], "application/json"),  # over the lane's depth
    ([b'{"short_description": "a", "sys_id": "', b"A" * 32 + b'"}'], "application/json"),  # invalid sys_id
    ([b"", b'{"short_description": "empty first"}'], "application/json"),
]


@pytest.mark.parametrize(("chunks", "content_type"), CHUNKED)
def test_a_body_in_several_messages_is_answered_as_fastapi_does(apps: tuple[Any, Any], chunks: list[bytes],
                                                                content_type: str | None) -> None:
    for path in (TABLE, "/api/now/v2/table/incident"):
        _same(apps, "POST", path, chunks, content_type=content_type)
        _same(apps, "POST", path, chunks, content_type=content_type, query=b"sysparm_fields=number&sysparm_fields=x")


def test_errors_raised_behind_the_lane_get_the_apps_error_bodies(apps: tuple[Any, Any]) -> None:
    assert _same(apps, "POST", TABLE, [b'{"short_description": "x"}'], auth=WRONG)[0] == 401
    assert _same(apps, "GET", f"{TABLE}/{'0' * 32}", auth=WRONG)[0] == 401
    assert _same(apps, "GET", f"{TABLE}/{'0' * 32}")[0] == 404
    assert _same(apps, "POST", "/api/now/table/no_such_table", [b'{"a": "b"}'])[0] == 400
    assert _same(apps, "POST", TABLE, [b'{"short_description": "m", "state": "6"}'])[0] == 403  # data policy
    assert _same(apps, "GET", "/api/now/v1/table/incident", query=b"sysparm_query=number=NONE")[0] == 404
    assert _same(apps, "DELETE", TABLE)[0] == 405  # no DELETE on the table itself: the router's answer
    assert _same(apps, "HEAD", f"{TABLE}/{'0' * 32}")[0] == 404


def test_the_lane_stands_aside_for_what_it_does_not_answer(apps: tuple[Any, Any]) -> None:
    fast, plain = apps
    lane = fast.router.routes[0]
    scope = {"type": "http", "method": "GET", "path": f"{TABLE}/{'0' * 32}", "root_path": "", "headers": []}
    assert lane.matches(scope)[0] is Match.FULL
    for other in ({"fastapi.telemetry": object()}, {"method": "DELETE", "path": TABLE},
                  {"path": "/api/now/stats/incident"}, {"path": "/_sim/health"}, {"type": "websocket"}):
        assert lane.matches({**scope, **other})[0] is Match.NONE, other
    assert plain.router.routes[0].matches(scope)[0] is Match.NONE  # no fast answers: nothing to claim
    # a dependency override: the fast answer declines and the route answers with FastAPI's solver
    fast.dependency_overrides[caller] = lambda: plain.state.backend.identities.actor_for("admin")
    plain.dependency_overrides[caller] = fast.dependency_overrides[caller]
    assert _same((fast, plain), "POST", TABLE, [b'{"short_description": "over"}'], auth=WRONG)[0] == 201
    assert _same((fast, plain), "GET", f"{TABLE}/{'0' * 32}", auth=None)[0] == 404


def test_the_lane_goes_first_only_where_no_route_ahead_can_match() -> None:
    def app_with(ahead: list[str]) -> FastAPI:
        app = FastAPI()
        for path in ahead:
            app.router.add_api_route(path, lambda: None)
        router = APIRouter(route_class=FastPathRoute)

        @router.get("/api/now/table/{table}")
        async def read(table: str) -> None:
            return None

        app.router.routes.extend(router.routes)
        return app

    clear = app_with(["/other"])
    assert isinstance(add_fast_lane(clear.router, "/api/now/"), FastLane)
    assert isinstance(clear.router.routes[0], FastLane)
    for ahead in (["/api/now/table/special"], ["/{anything}"]):
        app = app_with(ahead)
        add_fast_lane(app.router, "/api/now/")
        kinds = [type(r) for r in app.router.routes]
        assert kinds.index(FastLane) == kinds.index(FastPathRoute) - 1, ahead
    assert add_fast_lane(app_with([]).router, "/elsewhere/") is None
    apart = app_with([])
    apart.router.add_api_route("/api/now/between", lambda: None)
    apart.router.routes.extend(app_with([]).router.routes[-1:])
    with pytest.raises(ValueError, match="not together"):
        add_fast_lane(apart.router, "/api/now/")


def test_a_client_gone_before_its_body_ends_meets_fastapis_own_handling(apps: tuple[Any, Any]) -> None:
    def outcome(app: Any) -> tuple[str, list[dict[str, Any]]]:
        headers = [(b"authorization", ADMIN.encode()), (b"content-type", b"application/json"),
                   (b"content-length", b"100")]
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": TABLE, "raw_path": TABLE.encode(), "query_string": b"", "root_path": "",
                 "headers": headers, "server": ("sn", 80), "client": ("127.0.0.1", 1234)}
        messages: list[dict[str, Any]] = [{"type": "http.request", "body": b'{"short_', "more_body": True}]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        try:
            asyncio.run(app(scope, receive, send))
        except Exception as exc:  # noqa: BLE001 - whatever FastAPI does, the lane must do the same
            return type(exc).__name__, sent
        return "", sent

    fast, plain = apps
    assert outcome(fast) == outcome(plain)
