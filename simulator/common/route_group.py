"""A group of routes declared like an APIRouter's, added straight to the app's own router.

FastAPI (0.165) builds every route of an included router twice: once when it is declared on the
APIRouter, then again, for the app, at the first request that walks past it (`_IncludedRouter`'s
effective routes); each request then matches the included router before the routes inside it.
Building a route (its parameters' and response models' pydantic adapters) is most of a new
simulator's cost, so the simulators declare their routes on a RouteGroup and `add_to` the app's
router once, as the Table API's routes already are (`add_table_routes`). The route each gets is
the one `app.include_router` would have made: the group's prefix goes before the path, and its
tags, dependencies and responses go between the app's (or the caller's) and the route's own, in
the order FastAPI merges them. A router with a lifespan stays an APIRouter: `include` keeps it
included, with the group's settings. A group is not an APIRouter, so `app.include_router(group)`
fails at once instead of adding nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any, TypeVar

from fastapi import APIRouter
from fastapi.params import Depends

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])
Responses = dict[int | str, dict[str, Any]]


class RouteGroup:
    def __init__(self, *, prefix: str = "", tags: Sequence[str | Enum] = (),
                 dependencies: Sequence[Depends] = (), responses: Responses | None = None) -> None:
        self.prefix, self.tags, self.dependencies = prefix, list(tags), list(dependencies)
        self.responses: Responses = dict(responses or {})
        self._entries: list[tuple[str, Callable[..., Any], dict[str, Any]] | RouteGroup | APIRouter] = []

    def api_route(self, path: str, **options: Any) -> Callable[[Endpoint], Endpoint]:
        def declare(endpoint: Endpoint) -> Endpoint:
            self._entries.append((path, endpoint, options))
            return endpoint
        return declare

    def get(self, path: str, **options: Any) -> Callable[[Endpoint], Endpoint]:
        return self.api_route(path, methods=["GET"], **options)

    def post(self, path: str, **options: Any) -> Callable[[Endpoint], Endpoint]:
        return self.api_route(path, methods=["POST"], **options)

    def put(self, path: str, **options: Any) -> Callable[[Endpoint], Endpoint]:
        return self.api_route(path, methods=["PUT"], **options)

    def patch(self, path: str, **options: Any) -> Callable[[Endpoint], Endpoint]:
        return self.api_route(path, methods=["PATCH"], **options)

    def delete(self, path: str, **options: Any) -> Callable[[Endpoint], Endpoint]:
        return self.api_route(path, methods=["DELETE"], **options)

    def include(self, other: RouteGroup | APIRouter) -> None:
        """`other`'s routes, after the ones declared so far, as if its router were included here."""
        self._entries.append(other)

    def add_to(self, router: APIRouter, *, prefix: str = "", tags: Sequence[str | Enum] = (),
               dependencies: Sequence[Depends] = (), responses: Responses | None = None) -> None:
        """Every route, in the order declared, built once on `router` (the keywords are those of
        `include_router`: they apply to the whole group, before its own)."""
        prefix = prefix + self.prefix
        tags = [*tags, *self.tags]
        dependencies = [*dependencies, *self.dependencies]
        responses = {**(responses or {}), **self.responses}
        for entry in self._entries:
            if isinstance(entry, RouteGroup):
                entry.add_to(router, prefix=prefix, tags=tags, dependencies=dependencies, responses=responses)
            elif isinstance(entry, APIRouter):
                router.include_router(entry, prefix=prefix, tags=tags, dependencies=dependencies, responses=responses)
            else:
                path, endpoint, options = entry
                own = dict(options)
                router.add_api_route(prefix + path, endpoint, tags=[*tags, *(own.pop("tags", None) or ())],
                                     dependencies=[*dependencies, *(own.pop("dependencies", None) or ())],
                                     responses={**responses, **(own.pop("responses", None) or {})}, **own)
