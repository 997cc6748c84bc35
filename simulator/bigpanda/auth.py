"""Tokens as BigPanda takes them: Authorization: Bearer, ?access_token=, or x-auth-token."""

from __future__ import annotations

from fastapi import Request

from simulator.common.middleware import journal_info

from .backend import BigPandaBackend, Principal


def token_of(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query_params.get("access_token") or request.headers.get("x-auth-token")


def principal(request: Request) -> Principal:
    backend: BigPandaBackend = request.app.state.backend
    p = backend.resolve_token(token_of(request))
    journal_info(request)["user"] = f"{p.org.name}:{p.kind}:{p.token[-6:]}"
    return p


def app_key_of(request: Request) -> str | None:
    return (request.headers.get("x-bp-app-key") or request.headers.get("x-app-key")
            or request.headers.get("app_key") or request.query_params.get("app_key"))
