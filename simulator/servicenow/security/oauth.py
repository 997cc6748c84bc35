"""OAuth as /oauth_token.do grants it: password, refresh_token and client_credentials grants.

Access tokens expire after 1,800 s and refresh tokens after 100 days, on the simulator
clock, so a test can advance past expiry without sleeping.

Tokens come from `secrets` (256 random bits each, URL-safe base64), never from the instance's
seeded random source: a seed makes data repeat, and anyone who knows it could replay it to guess
a live token. Expired tokens are dropped as new ones are issued.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

TOKEN_BYTES = 32
ACCESS_LIFETIME = 1800.0
REFRESH_LIFETIME = 100 * 86400.0


@dataclass(frozen=True)
class OAuthClient:
    client_id: str
    client_secret: str
    credentials_user: str = ""  # the user a client_credentials grant acts as; empty = grant refused


@dataclass
class Grant:
    user_name: str
    client_id: str
    expires_at: float


class OAuthError(Exception):
    """Answered as the instance does: 401 {"error_description": "access_denied", "error": "server_error"}."""


class OAuthServer:
    def __init__(self) -> None:
        self.clients: dict[str, OAuthClient] = {}
        self.access: dict[str, Grant] = {}
        self.refresh: dict[str, Grant] = {}
        self._prune_at = 1024  # doubles with the live tokens, so pruning stays amortised O(1)

    def register(self, client: OAuthClient) -> None:
        self.clients[client.client_id] = client

    def clear(self) -> None:
        self.clients.clear()
        self.access.clear()
        self.refresh.clear()

    def client(self, client_id: str, client_secret: str) -> OAuthClient:
        """The registered client, or OAuthError; checked before a password grant counts a login."""
        client = self.clients.get(client_id)
        if client is None or not hmac.compare_digest(client.client_secret.encode(), client_secret.encode()):
            raise OAuthError("unknown client or wrong secret")
        return client

    def _prune(self, now: float) -> None:
        for tokens in (self.access, self.refresh):
            for token in [t for t, g in tokens.items() if g.expires_at <= now]:
                del tokens[token]

    def _issue(self, user_name: str, client_id: str, now: float, refresh_token: str | None = None) -> dict[str, object]:
        if len(self.access) >= self._prune_at:
            self._prune(now)
            self._prune_at = max(1024, 2 * len(self.access))
        access = secrets.token_urlsafe(TOKEN_BYTES)
        self.access[access] = Grant(user_name, client_id, now + ACCESS_LIFETIME)
        if refresh_token is None:
            refresh_token = secrets.token_urlsafe(TOKEN_BYTES)
            self.refresh[refresh_token] = Grant(user_name, client_id, now + REFRESH_LIFETIME)
        return {"scope": "useraccount", "token_type": "Bearer", "expires_in": int(ACCESS_LIFETIME) - 1,
                "refresh_token": refresh_token, "access_token": access}

    def password_grant(self, client_id: str, client_secret: str, user_name: str, password_ok: bool,
                       now: float) -> dict[str, object]:
        self.client(client_id, client_secret)
        if not password_ok:
            raise OAuthError("wrong user name or password")
        return self._issue(user_name, client_id, now)

    def refresh_grant(self, client_id: str, client_secret: str, refresh_token: str, now: float) -> dict[str, object]:
        self.client(client_id, client_secret)
        grant = self.refresh.get(refresh_token)
        if grant is None or grant.client_id != client_id or grant.expires_at <= now:
            raise OAuthError("refresh token unknown or expired")
        return self._issue(grant.user_name, client_id, now, refresh_token=refresh_token)

    def client_credentials_grant(self, client_id: str, client_secret: str, now: float) -> dict[str, object]:
        client = self.client(client_id, client_secret)
        if not client.credentials_user:
            raise OAuthError("client_credentials grant is not enabled for this client")
        return self._issue(client.credentials_user, client_id, now)

    def user_for(self, access_token: str, now: float) -> str | None:
        grant = self.access.get(access_token)
        if grant is None or grant.expires_at <= now:
            return None
        return grant.user_name
