"""The Table API's fast path (simulator/common/fast_route.py) answers exactly as FastAPI's own
handler does: the same status, body and headers for plain requests and for every kind of invalid
one (each documented parameter, repeated parameters, bodies, credentials), in the same order of
precedence. Two instances with the same seed and clock get the same requests, one with the fast
path and one with FastAPI's handler on the same routes; every answer is compared."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from pooled_simulators import ServiceNowPool

import bpsn.simulator.servicenow.table.routes as table_routes
from bpsn.simulator.common.fast_route import FastPathRoute
from bpsn.simulator.servicenow.backend import ServiceNowBackend

ADMIN = "Basic " + base64.b64encode(b"admin:admin").decode()
WRONG = "Basic " + base64.b64encode(b"admin:nope").decode()
TABLE = "/api/now/table/incident"
LONG_FIELDS = ",".join(["number"] * 600)  # 4,199 characters: over sysparm_fields' max_length of 4,000


class FastAPIOnly(FastPathRoute):
    """The same routes with FastAPI's own handler: the reference the fast path is held to."""

    def get_route_handler(self) -> Any:
        return APIRoute.get_route_handler(self)


@pytest.fixture(scope="module")
def plain_pool() -> ServiceNowPool:
    """The reference instance (FastAPI's own handler on the same routes), built once for the file."""
    return ServiceNowPool.built_with(table_routes, "FastPathRoute", FastAPIOnly)


@pytest.fixture
def fast_app(backend: ServiceNowBackend, pooled_servicenow: tuple[ServiceNowBackend, Any]) -> Any:
    """The pooled instance's app, the instance as new (conftest's `backend`)."""
    return pooled_servicenow[1]


def _table_route_classes(routes: list[Any]) -> set[type]:
    """The classes of the Table API routes, however FastAPI nests an included router."""
    found: set[type] = set()
    for route in routes:
        nested = getattr(getattr(route, "original_router", None), "routes", None)
        if nested is not None:
            found |= _table_route_classes(nested)
        elif str(getattr(route, "path", "")).startswith("/api/now/table"):
            found.add(type(route))
    return found


@pytest.fixture
def apps(fast_app: Any, plain_pool: ServiceNowPool) -> tuple[Any, Any]:
    plain_pool.as_new()  # as conftest's `backend` does for the pooled instance: the same state
    fast, plain = fast_app, plain_pool.app
    assert _table_route_classes(fast.router.routes) == {FastPathRoute}
    assert _table_route_classes(plain.router.routes) == {FastAPIOnly}
    return fast, plain


def _answer(app: Any, method: str, path: str, params: Any = None, headers: dict[str, str] | None = None,
            content: bytes | None = None) -> tuple[int, Any, dict[str, str]]:
    import anyio

    async def call() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sn") as client:
            return await client.request(method, path, params=params, headers=headers, content=content)

    response = anyio.run(call)
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    kept = {k: v for k, v in response.headers.items() if k in ("content-type", "location", "x-total-count", "link",
                                                               "allow", "retry-after")}
    return response.status_code, body, kept


def _same(apps: tuple[Any, Any], method: str, path: str, params: Any = None, *, auth: str | None = ADMIN,
          body: Any = None, raw: bytes | None = None, content_type: str | None = "application/json",
          extra: dict[str, str] | None = None) -> tuple[int, Any]:
    headers = {**({"Authorization": auth} if auth else {}), **(extra or {})}
    content = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    if content is not None and content_type is not None:
        headers["Content-Type"] = content_type
    fast, plain = (_answer(app, method, path, params, headers, content) for app in apps)
    assert fast == plain, f"{method} {path} {params}: fast path {fast} != FastAPI {plain}"
    return fast[0], fast[1]


def _incident(apps: tuple[Any, Any]) -> str:
    status, body = _same(apps, "POST", TABLE, body={"short_description": "disk full", "impact": "1"})
    assert status == 201
    return str(body["result"]["sys_id"])


READ_PARAMS: list[Any] = [
    None, {"sysparm_fields": "number,short_description,caller_id.name"}, {"sysparm_display_value": "TRUE"},
    {"sysparm_display_value": "all"}, {"sysparm_display_value": "yes"}, {"sysparm_display_value": ""},
    {"sysparm_exclude_reference_link": "true"}, {"sysparm_fields": LONG_FIELDS}, {"sysparm_view": "desktop"},
    [("sysparm_fields", "number"), ("sysparm_fields", "state")], [("sysparm_view", "a"), ("sysparm_view", "b")],
    {"unknown": "1"}, {"sysparm_display_value": "yes", "sysparm_fields": LONG_FIELDS},
]


def test_reads_answer_as_fastapi_does(apps: tuple[Any, Any]) -> None:
    sys_id = _incident(apps)
    for params in READ_PARAMS:
        _same(apps, "GET", f"{TABLE}/{sys_id}", params)
    for path in (f"{TABLE}/{'0' * 32}", f"/api/now/table/no_such_table/{sys_id}", f"/api/now/table/in-cident/{sys_id}",
                 f"/api/now/v1/table/incident/{sys_id}", f"/api/now/v2/table/incident/{sys_id}"):
        _same(apps, "GET", path)
    assert _same(apps, "GET", f"{TABLE}/{sys_id}", auth=None)[0] == 401
    assert _same(apps, "GET", f"{TABLE}/{sys_id}", auth=WRONG)[0] == 401
    assert _same(apps, "GET", f"{TABLE}/{sys_id}", [("sysparm_view", "a"), ("sysparm_view", "b")], auth=None)[0] == 400


LIST_PARAMS: list[Any] = [
    None, {"sysparm_limit": "1"}, {"sysparm_limit": "0"}, {"sysparm_limit": "-1"}, {"sysparm_limit": "abc"},
    {"sysparm_limit": "2147483648"}, {"sysparm_limit": "2147483647"}, {"sysparm_limit": " 5"},
    {"sysparm_limit": "5.0"}, {"sysparm_limit": "+5"}, {"sysparm_limit": ""}, {"sysparm_offset": "-1"},
    {"sysparm_offset": "1", "sysparm_limit": "1"}, {"sysparm_query": "active=true^ORDERBYnumber"},
    {"sysparm_query": "x" * 32_001}, {"sysparm_limit": "0", "sysparm_offset": "-1", "sysparm_display_value": "x"},
    {"sysparm_no_count": "true"}, {"sysparm_suppress_pagination_header": "TRUE"}, {"impact": "1"},
    [("sysparm_limit", "1"), ("sysparm_limit", "2")], [("sysparm_query", "a"), ("sysparm_limit", "x"),
                                                        ("sysparm_query", "b")],
    {"sysparm_query_category": "c", "sysparm_query_no_domain": "true", "sysparm_view": "v"},
]


def test_lists_answer_as_fastapi_does(apps: tuple[Any, Any]) -> None:
    for _ in range(3):
        _incident(apps)
    for params in LIST_PARAMS:
        _same(apps, "GET", TABLE, params)
    _same(apps, "GET", "/api/now/v1/table/incident", {"sysparm_query": "number=NONE"})  # v1: 404 on no rows
    _same(apps, "GET", TABLE, {"sysparm_limit": "0"}, auth=None)


BODIES: list[dict[str, Any]] = [
    {"body": {"short_description": "a", "urgency": "1"}},
    {"body": {"short_description": "b", "sys_id": "a" * 32}},
    {"body": {"short_description": "c", "sys_id": "A" * 32}},
    {"body": {"short_description": "d", "sys_id": None}},
    {"body": {"short_description": "e", "sys_id": 5}},
    {"body": ["not", "an", "object"]},
    {"body": "text"},
    {"body": {"short_description": {"nested": ["value", 1]}, "impact": 2, "active": True}},
    {"body": {}},
    {"raw": b"{not json"},
    {"raw": b""},
    {"raw": b'{"short_description": "f"}', "content_type": "text/plain"},
    {"raw": b'{"short_description": "g"}', "content_type": None},
    {"raw": b'{"short_description": "h"}', "content_type": "application/json; charset=utf-8"},
    {"raw": b'{"short_description": "i"}', "content_type": "Application/JSON"},
    {"raw": b'{"short_description": "j"}', "content_type": "application/vnd.api+json"},
    {"body": {"short_description": "k"}, "extra": {"X-No-Response-Body": "true"}},
    {"body": {"short_description": "l", "close_code": "x", "state": "6"}},
    {"body": {"short_description": "m", "state": "6"}},  # data policy: 403
    # nested past what the fast path parses itself, and past what json.loads can on FastAPI's stack
    *({"raw": b'{"short_description": "deep", "deep": ' + b"[" * depth + b"1" + b"]" * depth + b"}"}
      for depth in (63, 64, 65, 900, 1_000, 5_000)),
    # more brackets than the depth limit, but inside a string: not nested at all
    {"body": {"short_description": "[" * 70 + "{" * 70, "description": "]" * 200}},
    {"raw": b'{"short_description": "' + b"[" * 70 + b'", "deep": ' + b"[" * 60 + b"1" + b"]" * 60 + b"}"},
]


def test_creates_answer_as_fastapi_does(apps: tuple[Any, Any]) -> None:
    for case in BODIES:
        _same(apps, "POST", TABLE, **case)
        _same(apps, "POST", TABLE, {"sysparm_display_value": "all", "sysparm_fields": "number,sys_id"}, **case)
    _same(apps, "POST", TABLE, {"sysparm_display_value": "bogus"}, body={"short_description": "x"})
    _same(apps, "POST", TABLE, {"sysparm_input_display_value": "true"},
          body={"short_description": "y", "impact": "1 - High"})
    _same(apps, "POST", TABLE, [("sysparm_fields", "a"), ("sysparm_fields", "b")], body={"short_description": "z"})
    _same(apps, "POST", TABLE, body={"short_description": "again", "sys_id": "a" * 32})  # exists: 403
    _same(apps, "POST", "/api/now/table/no_such_table", body={"a": "b"})
    assert _same(apps, "POST", TABLE, body={"short_description": "anonymous"}, auth=None)[0] == 401
    _same(apps, "GET", TABLE, {"sysparm_fields": "number,short_description,sys_id,priority"})


def test_updates_and_deletes_answer_as_fastapi_does(apps: tuple[Any, Any]) -> None:
    sys_id = _incident(apps)
    for method in ("PUT", "PATCH"):
        for case in ({"body": {"short_description": "changed", "urgency": "3"}}, {"body": ["x"]}, {"raw": b"[1,"},
                     {"raw": b""}, {"body": {"state": "6"}}, {"body": {"work_notes": "looked"}},
                     {"body": {"impact": "2"}, "extra": {"X-No-Response-Body": "true"}}):
            _same(apps, method, f"{TABLE}/{sys_id}", **case)
            _same(apps, method, f"{TABLE}/{sys_id}", {"sysparm_display_value": "true"}, **case)
        _same(apps, method, f"{TABLE}/{'0' * 32}", body={"impact": "1"})
    _same(apps, "GET", f"{TABLE}/{sys_id}", {"sysparm_display_value": "all"})
    _same(apps, "DELETE", f"{TABLE}/{sys_id}", auth=None)
    _same(apps, "DELETE", f"{TABLE}/{sys_id}")
    _same(apps, "DELETE", f"{TABLE}/{sys_id}")
    _same(apps, "GET", f"{TABLE}/{sys_id}")


def test_plain_requests_skip_fastapis_solver_and_invalid_ones_use_it(fast_app: Any,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path is really taken (else this suite compares FastAPI with itself)."""
    import fastapi.routing

    app = fast_app
    solved: list[str] = []
    real = fastapi.routing.solve_dependencies

    async def counting(**kwargs: Any) -> Any:
        solved.append(kwargs["request"].url.path)
        return await real(**kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counting)
    status, body, _ = _answer(app, "POST", TABLE, headers={"Authorization": ADMIN, "Content-Type": "application/json"},
                              content=b'{"short_description": "fast"}')
    assert status == 201
    sys_id = body["result"]["sys_id"]
    assert _answer(app, "GET", f"{TABLE}/{sys_id}", {"sysparm_display_value": "all"},
                   {"Authorization": ADMIN})[0] == 200
    assert _answer(app, "GET", TABLE, {"sysparm_limit": "2"}, {"Authorization": ADMIN})[0] == 200
    assert solved == []
    status, body, _ = _answer(app, "GET", TABLE, {"sysparm_limit": "0"}, {"Authorization": ADMIN})
    assert status == 400 and solved == [TABLE]
    assert body["error"]["detail"] == "query.sysparm_limit: Input should be greater than or equal to 1"


@pytest.mark.parametrize(("params", "detail"), [
    ({"sysparm_limit": "abc"},
     "query.sysparm_limit: Input should be a valid integer, unable to parse string as an integer"),
    ({"sysparm_offset": "-1"}, "query.sysparm_offset: Input should be greater than or equal to 0"),
    ({"sysparm_limit": "2147483648"}, "query.sysparm_limit: Input should be less than or equal to 2147483647"),
    ({"sysparm_display_value": "yes"}, "query.sysparm_display_value: Input should be 'true', 'false' or 'all'"),
    ({"sysparm_fields": LONG_FIELDS}, "query.sysparm_fields: String should have at most 4000 characters"),
    ({"sysparm_query": "x" * 32_001}, "query.sysparm_query: String should have at most 32000 characters"),
    ([("sysparm_limit", "1"), ("sysparm_limit", "2")], "query.sysparm_limit: given more than once; send it once"),
    ([("sysparm_view", "a"), ("sysparm_view", "b"), ("sysparm_fields", "x"), ("sysparm_fields", "y")],
     ("query.sysparm_fields: given more than once; send it once; "
      "query.sysparm_view: given more than once; send it once")),
])
def test_each_documented_parameter_is_refused_in_servicenows_error_body(fast_app: Any, params: Any,
                                                                        detail: str) -> None:
    """The error bodies themselves, as a client sees them (not only equal between both paths)."""
    app = fast_app
    status, body, _ = _answer(app, "GET", TABLE, params, {"Authorization": ADMIN})
    assert status == 400
    assert body == {"error": {"message": "Invalid request", "detail": detail}, "status": "failure"}


def test_the_bracket_count_shortcut_agrees_with_the_nesting_check() -> None:
    """fast_route._may_nest_over skips json_nesting_over only where it could not say yes."""
    import random

    from bpsn.simulator.common.bodies import json_nesting_over
    from bpsn.simulator.common.fast_route import MAX_DEPTH, _may_nest_over

    rng = random.Random(19)
    pieces = [b"[", b"]", b"{", b"}", b'"', b"\\", b"1", b",", b'"[["', b'"\\""']
    texts = [b"".join(rng.choice(pieces) for _ in range(rng.randrange(0, 400))) for _ in range(3_000)]
    texts += [b"[" * n + b"]" * n for n in (MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1)]
    texts += [b"{" * n for n in (MAX_DEPTH, MAX_DEPTH + 1)]
    for text in texts:
        assert _may_nest_over(text) == json_nesting_over(text, MAX_DEPTH), text
    deep = [json_nesting_over(t, MAX_DEPTH) for t in texts]
    assert any(deep) and not all(deep)  # both answers were put to the test
