"""POST /oauth_token.do: form-encoded password, refresh_token and client_credentials grants."""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from bpsn.simulator.servicenow.backend import ServiceNowBackend

from .oauth import OAuthError

FORM = {
    "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
        "type": "object", "required": ["grant_type", "client_id", "client_secret"],
        "properties": {
            "grant_type": {"type": "string", "enum": ["password", "refresh_token", "client_credentials"]},
            "client_id": {"type": "string"}, "client_secret": {"type": "string"},
            "username": {"type": "string"}, "password": {"type": "string"},
            "refresh_token": {"type": "string"}}}}}}}


class TokenOut(BaseModel):
    scope: str
    token_type: str
    expires_in: int
    refresh_token: str
    access_token: str


class OAuthFailure(BaseModel):
    error_description: str
    error: str


def build_oauth_router() -> APIRouter:
    r = APIRouter(tags=["OAuth"])

    @r.post("/oauth_token.do", response_model=TokenOut, openapi_extra=FORM,
            responses={401: {"model": OAuthFailure, "description": "access_denied"}},
            summary="Get an access token (password, refresh_token or client_credentials grant)",
            description="Access tokens live 1,800 s and refresh tokens 100 days, on the simulator clock; "
                        "they are random (from `secrets`), never derived from the seed. "
                        "The demo client is bpsn-demo-client / bpsn-demo-secret. A password grant counts "
                        "as a login attempt: after BPSN_SN_LOGIN_MAX_FAILURES (5) failures for one user name "
                        "within BPSN_SN_LOGIN_FAILURE_WINDOW (60) s, that name is refused (401 access_denied) "
                        "without its password being checked until the window has passed.")
    async def token(request: Request) -> JSONResponse:
        b: ServiceNowBackend = request.app.state.backend
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        now = b.clock.now()
        cid, secret = form.get("client_id", ""), form.get("client_secret", "")
        try:
            grant = form.get("grant_type")
            if grant == "password":
                user = form.get("username", "")
                b.oauth.client(cid, secret)  # a wrong client secret is no failed login for the user
                ok = await b.authenticate(user, form.get("password", "")) is not None
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
