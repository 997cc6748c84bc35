"""Tokens as BigPanda takes them: Authorization: Bearer, ?access_token=, or x-auth-token;
and the simulator's own admin token for /_sim."""

from __future__ import annotations

import hmac

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
    if ADMIN_HEADER in request.headers and _admin_token_matches(backend, request.headers[ADMIN_HEADER]):
        # a request that also carries the admin token acts as a person at BigPanda's console (the
        # test bench's own reads and changes): served, journaled, never counted against the API limit
        info["notes"].append("console")
        return p
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


ADMIN_HEADER = "x-bpsn-admin-token"
ADMIN_SCHEMES = {
    "adminBearer": {"type": "http", "scheme": "bearer",
                    "description": "The simulator's admin token (BPSN_BP_ADMIN_TOKEN), for /_sim routes only"},
    "adminToken": {"type": "apiKey", "in": "header", "name": "X-Bpsn-Admin-Token",
                   "description": "The simulator's admin token (BPSN_BP_ADMIN_TOKEN), for /_sim routes only"},
}


def _admin_token_matches(backend: BigPandaBackend, offered: str) -> bool:
    expected = backend.settings.admin_token.get_secret_value().encode()
    return bool(expected) and hmac.compare_digest(offered.strip().encode(), expected)


async def admin_caller(request: Request) -> None:  # async: no threadpool hop per request
    """The /_sim admin API: the admin token as a bearer token or in X-Bpsn-Admin-Token. Never
    taken from the query string (it would end up in logs), never an org token or API key."""
    backend: BigPandaBackend = request.app.state.backend
    expected = backend.settings.admin_token.get_secret_value().encode()
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    offered = [value.strip()] if scheme.lower() == "bearer" and value.strip() else []
    if request.headers.get(ADMIN_HEADER):
        offered.append(request.headers[ADMIN_HEADER].strip())
    # compare_digest on every offer (no early exit on the first byte): no timing hint
    if not expected or not any([hmac.compare_digest(o.encode(), expected) for o in offered]):  # noqa: C419
        raise BpError(401, "Unauthorized: the simulator admin API needs the admin token "
                           "(Authorization: Bearer or X-Bpsn-Admin-Token)")
