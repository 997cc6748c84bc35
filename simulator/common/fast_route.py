"""A FastAPI route that solves its own parameters for the common request, and leaves every other
request to FastAPI: the hot routes stop paying FastAPI's general dependency solver (a third of a
Table API GET's server time) without changing what they document or answer.

`FastPathRoute` keeps the endpoint's declared signature, so the OpenAPI document is FastAPI's own,
built from the same parameters as before. Its handler reads the path and query parameters and the
JSON body with the very `ModelField`s FastAPI built from that signature (the same pydantic
validation, the same defaults), then calls the route's dependencies and the endpoint. Whenever a
request is not plain (a value fails validation, the body is not a JSON object under a JSON content
type, a dependency override is set, telemetry is on) it is handed, untouched and before any
dependency has run, to FastAPI's own handler: every error body and its order (repeated parameter,
then authentication, then all validation errors together) stays FastAPI's by construction.

The same answer is the route's `fast_answer`, for fast_lane.FastLane, which hands a route's
requests to it before the router and FastAPI's wrappers are reached.

A route qualifies when its dependencies take nothing but the `Request` and are plain coroutines,
its parameters are scalar path and query parameters without validation aliases plus at most one
body, and its endpoint is a coroutine that returns a `Response`. Any other route built with this
class simply keeps FastAPI's handler.
"""

from __future__ import annotations

import copy
import inspect
import json
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response, routing
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

# FastAPI's own helpers, private and moving between versions (pyproject allows fastapi>=0.115):
# where one is missing, every route keeps FastAPI's handler, slower but the same answers.
try:
    from fastapi._compat import field_annotation_is_sequence  # how FastAPI itself tells a list parameter
except ImportError:  # pragma: no cover - depends on the installed FastAPI
    field_annotation_is_sequence = None
try:
    from fastapi.telemetry import get_telemetry_data
except ImportError:  # pragma: no cover - a FastAPI without telemetry: it is never on
    def get_telemetry_data() -> None:
        return None

from .bodies import json_nesting_over
from .scope_headers import request_header

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
MAX_DEPTH = 64  # JSON nesting the fast path parses itself; records are flat
IMMUTABLE_DEFAULTS = (type(None), str, int, float, bool, bytes)  # what deepcopy gives back as it is


class _Unsolved(Exception):
    """The request is not plain: FastAPI's own handler answers it."""


@dataclass(frozen=True)
class _Param:
    name: str  # the endpoint's argument
    alias: str  # the name in the request
    field: Any  # FastAPI's ModelField: its validate() is what FastAPI itself calls
    required: bool
    default: Any
    validate_default: bool

    def value(self, raw: str | None, location: str) -> Any:
        if raw is None:
            if self.required:
                raise _Unsolved
            value = self.default if isinstance(self.default, IMMUTABLE_DEFAULTS) else copy.deepcopy(self.default)
            if not self.validate_default:
                return value
            raw = value
        value, errors = self.field.validate(raw, {}, loc=(location, self.alias))
        if errors:
            raise _Unsolved
        return value


@dataclass(frozen=True)
class _Plan:
    dependencies: tuple[tuple[str | None, Callable[[Request], Awaitable[Any]]], ...]
    path: tuple[_Param, ...]
    query: tuple[_Param, ...]
    body: _Param | None
    request_name: str | None
    endpoint: Callable[..., Awaitable[Any]]


def _is_coroutine(call: Any) -> bool:
    """A coroutine function, or an object whose __call__ method is one (FastAPI takes both)."""
    method = getattr(call, "__call__", None)  # noqa: B004 - the method itself, not whether it is callable
    return inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(method)


def _only_request(dependant: Dependant) -> bool:
    return not (dependant.path_params or dependant.query_params or dependant.header_params
                or dependant.cookie_params or dependant.body_params or dependant.dependencies
                or dependant.http_connection_param_name or dependant.websocket_param_name
                or dependant.background_tasks_param_name or dependant.response_param_name
                or dependant.security_scopes_param_name)


def _param(field: Any) -> _Param | None:
    info = field.field_info
    if getattr(info, "validation_alias", None) is not None or _sequence(info.annotation):
        return None
    return _Param(name=field.name, alias=field.alias, field=field, required=info.is_required(),
                  default=info.default, validate_default=bool(info.validate_default))


def _sequence(annotation: Any) -> bool:
    return bool(field_annotation_is_sequence(annotation))


def plan_for(route: Any) -> _Plan | None:
    """How to solve the route (an APIRoute, or FastAPI's view of it as included in an app) by hand,
    or None when it does not qualify (see the module doc)."""
    d: Dependant = route.dependant
    if field_annotation_is_sequence is None or not hasattr(route, "_embed_body_fields"):
        return None
    if not _is_coroutine(d.call) or d.header_params or d.cookie_params or d.http_connection_param_name \
            or d.websocket_param_name or d.background_tasks_param_name or d.response_param_name \
            or d.security_scopes_param_name or len(d.body_params) > 1 or route._embed_body_fields:
        return None
    dependencies: list[tuple[str | None, Callable[[Request], Awaitable[Any]]]] = []
    seen: set[Any] = set()
    for sub in d.dependencies:
        if not (_only_request(sub) and sub.request_param_name and _is_coroutine(sub.call)) \
                or (sub.use_cache and sub.call in seen):  # FastAPI calls a repeated one once: not handled
            return None
        seen.add(sub.call)
        dependencies.append((sub.name, sub.call))  # type: ignore[arg-type]
    path = [_param(f) for f in d.path_params]
    query = [_param(f) for f in d.query_params]
    body = _param(d.body_params[0]) if d.body_params else None
    if any(p is None for p in (*path, *query)) or (d.body_params and body is None):
        return None
    return _Plan(dependencies=tuple(dependencies), path=tuple(p for p in path if p), query=tuple(p for p in query if p),
                 body=body, request_name=d.request_param_name, endpoint=d.call)  # type: ignore[arg-type]


def _json_content(request: Request) -> bool:
    media_type = (request_header(request, "content-type") or "").partition(";")[0].strip().lower()
    return media_type == "application/json"


def _may_nest_over(raw: bytes) -> bool:
    """json_nesting_over(raw, MAX_DEPTH), skipped when the text has too few brackets to nest that
    deep at all (each level opens one; those inside strings only overcount): a record has a few."""
    return raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and json_nesting_over(raw, MAX_DEPTH)


class FastPathRoute(APIRoute):
    """An APIRoute answering plain requests without FastAPI's dependency solver (module doc)."""

    # answer(request, body): the response to a plain request, or None when FastAPI's handler must
    # answer (nothing has run then but the body read); None when the route does not qualify. `body`:
    # the request's body when the caller has read it already, else None (read from the request)
    fast_answer: Callable[[Request, bytes | None], Awaitable[Response | None]] | None = None
    fast_reads_body = False  # whether a plain request's answer reads its body

    def get_route_handler(self) -> Handler:
        standard = super().get_route_handler()
        # Included in an app, FastAPI builds the handler of its view of the route (the app's and the
        # router's dependencies added) with that view in a context variable, as its own handler does.
        context_var = getattr(routing, "_effective_route_context_var", None)
        effective = context_var.get() if context_var is not None else None
        route = effective if effective is not None and getattr(effective, "original_route", None) is self else self
        plan = plan_for(route)
        if plan is None:
            return standard
        provider = route.dependency_overrides_provider

        async def solve(request: Request, body: bytes | None) -> dict[str, Any] | None:
            """The endpoint's arguments, or None to leave the request to FastAPI. Runs nothing
            with side effects: FastAPI may still answer from the start."""
            if getattr(provider, "dependency_overrides", None) or get_telemetry_data() is not None:
                return None
            values: dict[str, Any] = {}
            try:
                path_params = request.scope.get("path_params", {})
                for p in plan.path:
                    values[p.name] = p.value(path_params.get(p.alias), "path")
                if plan.query:
                    query = request.query_params if request.scope.get("query_string") else {}
                    for p in plan.query:
                        values[p.name] = p.value(query.get(p.alias), "query")
                if plan.body is not None:
                    values[plan.body.name] = await self._body(request, plan.body, body)
            except _Unsolved:
                return None
            return values

        async def answer(request: Request, body: bytes | None = None) -> Response | None:
            """The endpoint's response, or None (nothing run) when FastAPI's handler must answer."""
            values = await solve(request, body)
            if values is None:
                return None
            for name, call in plan.dependencies:
                solved = await call(request)
                if name is not None:
                    values[name] = solved
            if plan.request_name:
                values[plan.request_name] = request
            response = await plan.endpoint(**values)
            if not isinstance(response, Response):
                raise TypeError(f"{route.path}: a FastPathRoute endpoint returns a Response, not {type(response)}")
            return response

        async def handler(request: Request) -> Response:
            response = await answer(request)
            return await standard(request) if response is None else response

        if route is self:  # not FastAPI's view of the route included in another router (see FastLane)
            self.fast_answer, self.fast_reads_body = answer, plan.body is not None
        return handler

    @staticmethod
    async def _body(request: Request, param: _Param, raw: bytes | None) -> Any:
        if not _json_content(request):
            raise _Unsolved
        try:
            if raw is None:
                raw = await request.body()
        except Exception as exc:  # a body over the limit, a client gone: FastAPI says what it says
            raise _Unsolved from exc
        # A deep body goes to FastAPI whole: how deep json.loads can go depends on the stack it runs
        # on, and FastAPI's handler, a few frames deeper, must be the one that decides.
        if not raw or _may_nest_over(raw):
            raise _Unsolved
        try:
            document = json.loads(raw)
        except Exception as exc:  # FastAPI's 400 names the position
            raise _Unsolved from exc
        value, errors = param.field.validate(document, {}, loc=("body",))
        if errors:
            raise _Unsolved
        return value
