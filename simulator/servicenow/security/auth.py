"""Who is calling: basic auth or an OAuth bearer token; then the REST rate-limit rules.

Basic auth counts as a login attempt: a user name with too many recent failures is answered
401 "User Not Authenticated", the same body as a wrong password, without its password being
checked (backend.authenticate, security.logins); the request journal notes "login_refused".
"""

from __future__ import annotations

import base64
import binascii

from fastapi import Request

from bpsn.simulator.common.middleware import journal_info
from bpsn.simulator.common.scope_headers import request_header
from bpsn.simulator.servicenow.backend import ServiceNowBackend
from bpsn.simulator.servicenow.errors import SnError, not_authenticated
from bpsn.simulator.servicenow.records.business_rules import Actor

RESOURCES = (("/api/now/import/", "import_set_api"), ("/api/now/stats/", "aggregate_api"),
             ("/api/now/v1/batch", "batch_api"), ("/api/now/", "table_api"))


def _basic(header: str) -> tuple[str, str] | None:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        user, sep, password = base64.b64decode(token, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


async def _identify(backend: ServiceNowBackend, header: str) -> tuple[Actor | None, bool]:
    """The caller, and whether basic auth was refused unchecked (too many failed logins)."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token:
        user_name = backend.oauth.user_for(token.strip(), backend.clock.now())
        return (backend.identities.actor_for(user_name) if user_name else None), False
    known = backend.identities.known_header(header)
    if known is not None:
        return known, False  # authenticate() would say the same: see Identities.known_header
    creds = _basic(header)
    if creds is None:
        return None, False
    refused = backend.identities.login_refused(creds[0])
    return await backend.identities.authenticate(*creds, header=header), refused


def _unauthenticated(request: Request, refused: bool) -> SnError:
    if refused:
        journal_info(request)["notes"].append("login_refused")
    return not_authenticated()


def _resource(path: str) -> tuple[str, str]:
    """(REST resource, table) of a request path, for rate-limit rules."""
    for prefix, resource in RESOURCES:
        if path.startswith(prefix):
            parts = path.split("/")
            table = parts[parts.index("table") + 1] if "table" in parts[:-1] else ""
            if resource == "import_set_api" and len(parts) > 4:
                table = parts[4]
            return resource, table
    return "all", ""


async def admin_caller(request: Request) -> Actor:  # async: no threadpool hop per request
    """The simulator's own /_sim routes: any user with the admin role (no rate-limit rules)."""
    backend: ServiceNowBackend = request.app.state.backend
    actor, refused = await _identify(backend, request_header(request, "authorization") or "")
    if actor is None:
        raise _unauthenticated(request, refused)
    if not actor.has_role("admin"):
        raise SnError(403, "Operation Failed", "The simulator admin API needs the admin role")
    return actor


async def caller(request: Request) -> Actor:  # async: no threadpool hop per request
    backend: ServiceNowBackend = request.app.state.backend
    actor, refused = await _identify(backend, request_header(request, "authorization") or "")
    if actor is None:
        raise _unauthenticated(request, refused)
    info = journal_info(request)
    info["user"] = actor.user_name
    if not backend.rate_limits.rules:
        return actor  # no rule: check() matches nothing, so the path need not be parsed
    # request.url.path without building the URL (a fifth of this function): the same escapes
    resource, table = _resource(request.scope["path"].replace("?", "%3F").replace("#", "%23").replace("\\", "%5C"))
    decision = backend.rate_limits.check(resource, table, actor.sys_id, actor.user_name, actor.roles,
                                         backend.clock.now())
    if decision is not None:
        headers = decision.headers()
        if not decision.allowed:
            info["notes"].append("rate_limited")
            retry = max(1, decision.reset - int(backend.clock.now()))
            raise SnError(429, "Rate limit exceeded", decision.detail, headers={**headers, "Retry-After": str(retry)})
        info.setdefault("headers", {}).update(headers)
    return actor
