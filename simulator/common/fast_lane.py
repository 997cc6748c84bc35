"""A route placed in front of a router's hot routes: it matches a request for one of them itself,
cheaply, and has that route's fast answer (fast_route.FastPathRoute) answer it as a plain ASGI
app, without the router's walk through every route ahead of it and without the per-request
wrappers FastAPI puts around a route's handler (two exit stacks, an exception wrapper, a second
method check): about 5 % of a Table API POST's instructions in the app and 8 % of a GET's.

Nothing a client sees changes. The lane claims exactly the requests the router would have given
to the same route (the first route of the block that matches in full, as the router picks it), and
only while that route has a fast answer; anything else goes on down the router as before. A
request the fast answer leaves to FastAPI is handed to the route's own `handle`, the way the
router would have, with the body messages the fast answer already read played back first. An
error the endpoint raises (SnError, ...) reaches the app's exception handlers through
ExceptionMiddleware, which answers with the same handlers request_response would have used.
Telemetry on (FastAPI's own names the route in the request's span): the lane stands aside.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Request
from starlette.routing import BaseRoute, Match, Mount, NoMatchFound, Route
from starlette.types import Message, Receive, Scope, Send

from .fast_route import FastPathRoute

TELEMETRY_SCOPE_KEY = "fastapi.telemetry"  # FastAPI's per-request telemetry state, when it is on


class FastLane(BaseRoute):
    """Matches the requests of a block of FastPathRoutes (all sharing `prefix`) and answers them
    through their fast answers; see the module doc."""

    def __init__(self, routes: Sequence[FastPathRoute], prefix: str) -> None:
        self.prefix = prefix
        self.block = tuple(routes)
        by_method: dict[str, list[FastPathRoute]] = {}
        for route in self.block:  # in the router's order: the first full match wins, as there
            for method in route.methods or ():
                by_method.setdefault(method, []).append(route)
        self._by_method = {method: tuple(found) for method, found in by_method.items()}

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or TELEMETRY_SCOPE_KEY in scope or not scope["path"].startswith(self.prefix):
            return Match.NONE, {}
        for route in self._by_method.get(scope["method"], ()):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                if route.fast_answer is None:
                    return Match.NONE, {}  # the router finds the route and FastAPI answers
                return Match.FULL, {**child_scope, "route": route}
        return Match.NONE, {}  # a wrong method or no such path: the router answers as always

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)  # the routes themselves are named, not the lane

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        route: FastPathRoute = scope["route"]
        answer = route.fast_answer
        assert answer is not None  # matches() claims no other
        received: list[Message] = []

        async def recording() -> Message:
            message = await receive()
            received.append(message)
            return message

        response = None
        try:
            # read here: cheaper than Request.body()'s stream generator, and replayable as it is
            body = await _whole_body(recording) if route.fast_reads_body else None
        except Exception:  # a body over the limit, ...: FastAPI's handler meets it again and answers
            body, ready = None, False
        else:
            ready = body is not None or not route.fast_reads_body
        if ready:
            response = await answer(Request(scope, recording, send), body)
        if response is None:
            await route.handle(scope, _replaying(received, receive) if received else receive, send)
            return
        await response(scope, receive, send)


async def _whole_body(receive: Receive) -> bytes | None:
    """The request's body, as Request.body() reads it; None when the client left first."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None  # http.disconnect: FastAPI's handler raises ClientDisconnect on it
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    """`receive` with `messages` (already taken from it) given out again first."""
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay


def add_fast_lane(router: Any, prefix: str) -> FastLane | None:
    """A FastLane in `router` for its FastPathRoutes under `prefix`, which must stand together;
    placed first when no route ahead of them can match a path under `prefix` (plain paths only:
    the app's document and viewers), else just before them. None when there are none."""
    routes: list[BaseRoute] = router.routes
    block = [i for i, r in enumerate(routes) if isinstance(r, FastPathRoute) and r.path.startswith(prefix)]
    if not block:
        return None
    first, last = block[0], block[-1]
    if block != list(range(first, last + 1)):
        raise ValueError(f"the routes under {prefix} are not together: no fast lane for them")
    lane = FastLane([routes[i] for i in block], prefix)  # type: ignore[misc]
    clear = all(_apart(r, prefix) for r in routes[:first])
    routes.insert(0 if clear else first, lane)
    return lane


def _apart(route: BaseRoute, prefix: str) -> bool:
    """Whether `route` surely matches no path under `prefix`: a route of one plain path outside
    it, or a mount whose path and `prefix` do not begin one another."""
    if isinstance(route, Route):
        return not route.param_convertors and not route.path.startswith(prefix)
    if isinstance(route, Mount):
        mounted = route.path + "/"
        return "{" not in route.path and not (prefix.startswith(mounted) or mounted.startswith(prefix))
    return False
