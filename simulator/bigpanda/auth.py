"""Tokens as BigPanda takes them: Authorization: Bearer, ?access_token=, or x-auth-token."""

from __future__ import annotations

from fastapi import Request

from bpsn.simulator.common.middleware import journal_info

from .backend import BigPandaBackend, Principal
from .errors import BpError


def token_of(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query_params.get("access_token") or request.headers.get("x-auth-token")


def journal_user(org: str, kind: str, token: str) -> str:
    """Who a request came from, as the journal names it (never the whole token)."""
    return f"{org}:{kind}:{token[-6:]}"


async def principal(request: Request) -> Principal:  # async: no threadpool hop per request
    backend: BigPandaBackend = request.app.state.backend
    p = backend.resolve_token(token_of(request))
    info = journal_info(request)
    info["user"] = journal_user(p.org.name, p.kind, p.token)
    verdict = backend.limiter.check(p.token, request.url.path, p.org.rate_limits, backend.clock.now())
    if verdict.early_retry:
        info["notes"].append("early_retry")  # came back before the Retry-After it was given
    if not verdict.allowed:
        info["notes"].append("rate_limited")
        raise BpError(429, f"Too many requests: limit '{verdict.limit}' reached; retry after {verdict.retry_after} s",
                      headers={"Retry-After": str(verdict.retry_after)})
    return p


def app_key_of(request: Request) -> str | None:
    return (request.headers.get("x-bp-app-key") or request.headers.get("x-app-key")
            or request.headers.get("app_key") or request.query_params.get("app_key"))
