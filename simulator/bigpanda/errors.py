"""BigPanda's error body: {"status": N, "errors": ["..."]}."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class BpErrorBody(BaseModel):
    status: int
    errors: list[str]


class BpError(Exception):
    def __init__(self, status: int, *messages: str, headers: dict[str, str] | None = None) -> None:
        super().__init__("; ".join(messages))
        self.status, self.messages, self.headers = status, list(messages), headers or {}

    def body(self) -> dict[str, Any]:
        return {"status": self.status, "errors": self.messages}


def bad_request(*messages: str) -> BpError:
    return BpError(400, *messages)


def unauthorized() -> BpError:
    return BpError(401, "Unauthorized: the token is missing or not valid")


def forbidden(message: str) -> BpError:
    return BpError(403, message)


def not_found(what: str) -> BpError:
    return BpError(404, f"{what} is not found")


def doc(status: int, description: str) -> dict[str, Any]:
    return {"model": BpErrorBody, "description": description}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: doc(400, "Call is missing parameters or malformed"),
    401: doc(401, "Token missing or not valid"),
    413: doc(413, "Request body over the limit (10 MB; BPSN_BP_MAX_BODY_BYTES)"),
    429: {**doc(429, "Rate limit: 5 requests per second per token (and the per-API limits)"),
          "headers": {"Retry-After": {"schema": {"type": "integer"}, "required": True,
                                      "description": "Seconds until a retry can succeed (our choice: BigPanda "
                                                     "documents no header)"}}},
}
