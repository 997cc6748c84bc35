"""What both simulators' apps need from FastAPI beyond the defaults: honest 405s and an
OpenAPI document that promises what they really send (400 not 422; how to authenticate)."""

from __future__ import annotations

from typing import Any
import re

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


def allow_all(request: Request, exc: StarletteHTTPException) -> dict[str, str] | None:
    """A 405's Allow header lists every method of the path, not just one route's (RFC 9110)."""
    headers = getattr(exc, "headers", None)
    if exc.status_code != 405:
        return headers
    methods = [m for m in METHODS
               if any(r.matches({**request.scope, "method": m})[0] is Match.FULL for r in request.app.router.routes)]
    return {**(headers or {}), "Allow": ", ".join(methods)}


def honest_openapi(app: FastAPI, security_schemes: dict[str, dict[str, Any]], public: str = r"(?!)") -> None:
    """Validation errors answer 400 with the API's own error body, never FastAPI's 422, so the
    document must not promise a 422; and it says how to authenticate, except on the paths that
    `public` (a regex) matches: those take no credentials and say so with `security: []`."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
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
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
