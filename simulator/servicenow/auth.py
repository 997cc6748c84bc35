"""Who is calling: basic auth against sys_user (OAuth bearer tokens join in later)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from fastapi import Request

from simulator.common.middleware import journal_info

from .backend import ServiceNowBackend
from .business_rules import Actor
from .errors import not_authenticated


@dataclass(frozen=True)
class Caller:
    actor: Actor
    roles: frozenset[str]

    def has_role(self, role: str) -> bool:
        return "admin" in self.roles or role in self.roles


def _basic(header: str) -> tuple[str, str] | None:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        user, sep, password = base64.b64decode(token, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def caller(request: Request) -> Caller:
    backend: ServiceNowBackend = request.app.state.backend
    creds = _basic(request.headers.get("authorization", ""))
    found = backend.authenticate(*creds) if creds else None
    if found is None:
        raise not_authenticated()
    actor, roles = found
    journal_info(request)["user"] = actor.user_name
    return Caller(actor, roles)
