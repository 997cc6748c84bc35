"""POST /oauth_token.do: form-encoded password, refresh_token and client_credentials grants.

The client authenticates with form fields (client_id, client_secret) or with HTTP Basic
(RFC 6749 section 2.3.1): requests-oauthlib, under pysnc and pysnow, sends Basic and leaves the
form fields out. Both at once must name the same client and secret, else the answer is the 401 a
wrong secret gets.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from bpsn.simulator.common.route_group import RouteGroup
from bpsn.simulator.servicenow.backend import ServiceNowBackend

from .oauth import OAuthError

FORM = {
    "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
        "type": "object", "required": ["grant_type"],
        "properties": {
            "grant_type": {"type": "string", "enum": ["password", "refresh_token", "client_credentials"]},
            "client_id": {"type": "string"}, "client_secret": {"type": "string"},
            "username": {"type": "string"}, "password": {"type": "string"},
            "refresh_token": {"type": "string"}}}}}}}


def _basic_client(authorization: str) -> tuple[str, str] | None:
    """(client_id, client_secret) from `Authorization: Basic ...`, or None when there is none.

    Taken verbatim: RFC 6749 2.3.1 form-encodes both first, but requests-oauthlib (HTTPBasicAuth)
    and most clients send them plain, and a plain secret may hold `+` or `%`."""
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        text = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise OAuthError("malformed Basic client credentials") from None
    cid, sep, secret = text.partition(":")
    if not sep:
        raise OAuthError("malformed Basic client credentials")
    return cid, secret


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def client_credentials(form: dict[str, str], authorization: str) -> tuple[str, str]:
    """The client id and secret the request authenticates with (see the module doc)."""
    basic = _basic_client(authorization)
    if basic is None:
        return form.get("client_id", ""), form.get("client_secret", "")
    cid, secret = basic
    if ("client_id" in form and not _same(form["client_id"], cid)) or \
            ("client_secret" in form and not _same(form["client_secret"], secret)):
        raise OAuthError("Basic and form client credentials disagree")
    return cid, secret


class TokenOut(BaseModel):
    scope: str
    token_type: str
    expires_in: int
    refresh_token: str
    access_token: str


class OAuthFailure(BaseModel):
    error_description: str
    error: str


def build_oauth_router() -> RouteGroup:
    r = RouteGroup(tags=["OAuth"])

    @r.post("/oauth_token.do", response_model=TokenOut, openapi_extra=FORM,
            responses={401: {"model": OAuthFailure, "description": "access_denied"}},
            summary="Get an access token (password, refresh_token or client_credentials grant)",
            description="The client authenticates with client_id/client_secret form fields or with "
                        "HTTP Basic (RFC 6749 2.3.1); if both are sent they must agree. Access tokens live 1,800 s and refresh tokens 100 days, on the simulator clock; "
                        "they are random (from `secrets`), never derived from the seed. "
                        "The demo client is bpsn-demo-client / bpsn-demo-secret. A password grant counts "
                        "as a login attempt: after BPSN_SN_LOGIN_MAX_FAILURES (5) failures for one user name "
                        "within BPSN_SN_LOGIN_FAILURE_WINDOW (60) s, that name is refused (401 access_denied) "
                        "without its password being checked until the window has passed.")
    async def token(request: Request) -> JSONResponse:
        b: ServiceNowBackend = request.app.state.backend
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        now = b.clock.now()
        try:
            cid, secret = client_credentials(form, request.headers.get("authorization", ""))
            grant = form.get("grant_type")
            if grant == "password":
                user = form.get("username", "")
                b.oauth.client(cid, secret)  # a wrong client secret is no failed login for the user
                ok = await b.identities.authenticate(user, form.get("password", "")) is not None
                body = b.oauth.password_grant(cid, secret, user, ok, now)
            elif grant == "refresh_token":
                body = b.oauth.refresh_grant(cid, secret, form.get("refresh_token", ""), now)
            elif grant == "client_credentials":
                body = b.oauth.client_credentials_grant(cid, secret, now)
            else:
                raise OAuthError(f"unsupported grant_type {grant!r}")
        except OAuthError:
            return JSONResponse({"error_description": "access_denied", "error": "server_error"}, status_code=401)
        return JSONResponse(body)

    return r
