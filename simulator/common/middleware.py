"""Outermost ASGI layer of every simulator: request limits, fault rules, then the journal.

Routes add who called and which table through `request.state.journal` (a dict placed in
the ASGI scope here), so the journal can be filtered by user and table; they may also add
response headers there (rate-limit headers decided in a dependency).

Request limits (RequestLimits, below) come before anything reads a body: a request that sends a
body with no credentials to an authenticated route is answered 401 unread, and every body is
held to a maximum size, checked on Content-Length and again on the bytes that actually stream
in (a chunked body over the limit is cut off with 413), and a JSON body may hold at most
MAX_JSON_VALUES values (400). All answer in the API's error body.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import parse_qs

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bpsn.base.clock import Clock

from .bodies import json_values_over
from .faults import FaultInjector, FaultRule
from .journal import BATCH_ITEM, NESTED_CALL, Journal

UNJOURNALED_PREFIXES = ("/_sim", "/docs", "/openapi.json", "/redoc")
ErrorBody = Callable[[int, str], dict[str, Any]]
Envelope = Callable[[int, str, str], dict[str, Any]]  # (status, message, detail) -> the API's error body
MB = 1024 * 1024
DEFAULT_MAX_BODY = 10 * MB
# Our choice (neither API publishes one): parsing a JSON body and walking its fields runs on the
# event loop, and past this many values that holds every other request up for more than 100 ms.
# The core's largest bodies (an Import Set insert of 200 staged shares of about 35 columns) hold
# about 7,000. Not counted: the admin API (/_sim: operators' fixture loads) and BigPanda's OIM
# ingest, whose documented limits (6 MB, 1,000 events) a full batch of wide events would exceed.
MAX_JSON_VALUES = 20_000


@dataclass(frozen=True)
class RequestLimits:
    """What a simulator refuses before its routes read a body.

    `public` matches the paths that take no credentials; on any other path a request that
    declares a body (Content-Length above 0, or Transfer-Encoding) but carries none of the
    credential forms the app accepts is answered 401 unread. A request with no body goes on
    to the app, which answers as it always has (401, or 404 for a path it does not have).
    """

    max_body_bytes: int
    public: re.Pattern[str]
    credential_headers: tuple[bytes, ...]
    credential_query: tuple[str, ...]
    envelope: Envelope
    unauthorized: tuple[str, str]  # (message, detail) of the app's own 401
    too_large: str = "Request body too large"
    too_many_values: str = "Request body has too many values"
    max_json_values: int = MAX_JSON_VALUES
    values_not_counted: re.Pattern[str] = re.compile(r"/_sim/")

    @cached_property
    def read_headers(self) -> frozenset[bytes]:
        """The headers these limits read: headers_of(scope) finds them all in one pass."""
        return frozenset((b"content-length", b"transfer-encoding", b"content-type", *self.credential_headers))

    def headers_of(self, scope: Scope) -> dict[bytes, str]:
        """_header(headers, name) for each name of read_headers that the request has (one walk
        over the headers instead of one per name: four on a POST)."""
        return _headers_named(scope.get("headers") or [], self.read_headers)

    def counts_values(self, scope: Scope, found: dict[bytes, str] | None = None) -> bool:
        """`found`: headers_of(scope), when the caller has it already (so for the methods below)."""
        content_type = (self.headers_of(scope) if found is None else found).get(b"content-type") or ""
        return "json" in content_type.lower() and not self.values_not_counted.match(scope["path"])

    def declared_body(self, scope: Scope, found: dict[bytes, str] | None = None) -> tuple[int | None, bool, bool]:
        """(Content-Length when it is a number, whether Transfer-Encoding is set, whether any
        Content-Length but 0 is): the request has no body when neither header says one."""
        headers = self.headers_of(scope) if found is None else found
        declared = headers.get(b"content-length")
        size = int(declared) if declared is not None and declared.strip().isdigit() else None
        chunked = b"transfer-encoding" in headers
        return size, chunked, chunked or bool(size) or (declared is not None and size is None)

    def refuse_early(self, scope: Scope, declared: tuple[int | None, bool, bool] | None = None,
                     found: dict[bytes, str] | None = None) -> tuple[int, str, str] | None:
        """(status, message, detail) for a request refused on its headers alone, else None.
        `declared`: declared_body(scope), when the caller has it already."""
        size, chunked, _ = declared or self.declared_body(scope, found)
        if size is not None and size > self.max_body_bytes:
            return 413, self.too_large, (f"the request body is {size} bytes (Content-Length); at most "
                                         f"{self.max_body_bytes} bytes are accepted")
        if (size or chunked) and not self.public.match(scope["path"]) and not self._credentials(scope, found):
            return 401, *self.unauthorized
        return None

    def _credentials(self, scope: Scope, found: dict[bytes, str] | None = None) -> bool:
        headers = self.headers_of(scope) if found is None else found
        for name in self.credential_headers:  # a loop, not any(generator): most apps have one
            if (headers.get(name) or "").strip():
                return True
        if self.credential_query:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            return any(any(v.strip() for v in query.get(name, [])) for name in self.credential_query)
        return False


def _headers_named(headers: list[tuple[bytes, bytes]], names: frozenset[bytes]) -> dict[bytes, str]:
    """{name: _header(headers, name)} for each of `names` (lowercase) the headers hold."""
    found: dict[bytes, str] = {}
    for key, value in headers:
        name = key.lower()
        if name in names and name not in found:  # the first one, as _header answers
            found[name] = value.decode("latin-1")
    return found


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    size = len(name)
    for key, value in headers:
        if len(key) == size and key.lower() == name:  # lower() keeps the length: most keys skip it
            return value.decode("latin-1")
    return None


def _servicenow_envelope(status: int, message: str, detail: str) -> dict[str, Any]:
    return {"error": {"message": message, "detail": detail}, "status": "failure"}


def _bigpanda_envelope(status: int, message: str, detail: str) -> dict[str, Any]:
    return {"status": status, "errors": [f"{message}: {detail}" if detail else message]}


# Each app's own credential forms (servicenow/security/auth.py: Authorization, basic or bearer;
# bigpanda/auth.py: Authorization: Bearer, ?access_token=, x-auth-token, and X-Bpsn-Admin-Token on
# /_sim) and its public paths (the ones its OpenAPI document marks `security: []`, plus the
# document and its viewers). Only presence is checked here; the app still decides validity.
SERVICENOW: dict[str, Any] = {
    "public": re.compile(r"/(_sim/health|oauth_token\.do|openapi\.json|docs|redoc)(/|$)"),
    "credential_headers": (b"authorization",), "credential_query": (),
    "envelope": _servicenow_envelope,
    "unauthorized": ("User Not Authenticated", "Required to provide Auth information")}
BIGPANDA: dict[str, Any] = {
    "public": re.compile(r"/(_sim/health|openapi\.json|docs|redoc)(/|$)"),
    "values_not_counted": re.compile(r"/(_sim|oim/api)/"),
    # the API's token forms, and the /_sim admin token's (bigpanda/auth.py admin_caller)
    "credential_headers": (b"authorization", b"x-auth-token", b"x-bpsn-admin-token"),
    "credential_query": ("access_token",),
    "envelope": _bigpanda_envelope,
    "unauthorized": ("Unauthorized", "the token is missing or not valid")}


def limits_for(app: Any, max_body_bytes: int | None = None) -> RequestLimits:
    """The limits of the simulator whose backend `app.state.backend` is; the body limit from its
    settings (`max_body_bytes`: BPSN_SN_MAX_BODY_BYTES, BPSN_BP_MAX_BODY_BYTES), else 10 MB."""
    backend = getattr(getattr(app, "state", None), "backend", None)
    preset = BIGPANDA if getattr(backend, "name", "") == "bigpanda" else SERVICENOW
    if max_body_bytes is None:
        max_body_bytes = getattr(getattr(backend, "settings", None), "max_body_bytes", DEFAULT_MAX_BODY)
    return RequestLimits(max_body_bytes=max_body_bytes, **preset)


class _BodyTooLarge(Exception):
    pass


@dataclass
class BodyLimit:
    """One request's receive and send, counting body bytes as they stream in. Past the limit,
    receive raises (whatever the route was doing stops), the route's answer is dropped, and
    refuse_too_large answers 413 instead."""

    limits: RequestLimits
    _receive: Receive
    _send: Send
    received: int = 0
    exceeded: bool = False
    started: bool = False  # a response is on its way: too late to answer 413
    json_body: bool = False  # counted for json_values_over once it has all arrived
    too_many_values: bool = False
    chunks: list[bytes] = field(default_factory=list)

    @property
    def refused(self) -> bool:
        return self.exceeded or self.too_many_values

    @property
    def transport(self) -> Any:  # the server's, for fault rules that drop the connection
        return getattr(getattr(self._receive, "__self__", None), "transport", None)

    async def receive(self) -> Message:
        if self.exceeded or self.too_many_values:  # self.refused, without a property call per message
            raise _BodyTooLarge
        message = await self._receive()
        if message["type"] == "http.request":
            chunk = message.get("body", b"")
            self.received += len(chunk)
            if self.received > self.limits.max_body_bytes:
                self.exceeded = True
                raise _BodyTooLarge
            if self.json_body:
                self.chunks.append(chunk)
                if not message.get("more_body") and json_values_over(
                        chunk if len(self.chunks) == 1 else b"".join(self.chunks), self.limits.max_json_values):
                    self.too_many_values = True
                    raise _BodyTooLarge
        return message

    async def send(self, message: Message) -> None:
        if (self.exceeded or self.too_many_values) and not self.started:  # self.refused
            return  # the route's answer to a body it never fully got; 413 goes out instead
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)

    async def run(self, app: ASGIApp, scope: Scope) -> None:
        try:
            await app(scope, self.receive, self.send)
        except Exception:
            if not self.refused:
                raise
        if self.refused:
            await self.refuse()

    async def refuse(self) -> int:
        """413 for a body over the size limit, 400 for one with too many values."""
        if self.exceeded or self.started:
            return await self.refuse_too_large()
        n = self.limits.max_json_values
        return await self.answer(400, self.limits.too_many_values,
                                 f"the JSON body holds more than {n} values; at most {n} are accepted")

    async def refuse_too_large(self) -> int:
        if self.started:
            return 413  # cannot happen with our routes: none answers before reading its body
        return await self.answer(413, self.limits.too_large,
                                 f"the request body is more than {self.limits.max_body_bytes} bytes; at most "
                                 f"{self.limits.max_body_bytes} bytes are accepted")

    async def answer(self, status: int, message: str, detail: str) -> int:
        body = json.dumps(self.limits.envelope(status, message, detail), separators=(",", ":")).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if status == 413:
            headers.append((b"connection", b"close"))  # the rest of the body is never read
        self.started = True
        await self._send({"type": "http.response.start", "status": status, "headers": headers})
        await self._send({"type": "http.response.body", "body": body})
        return status


class SimulatorMiddleware:
    def __init__(self, app: ASGIApp, journal: Journal, clock: Clock, faults: FaultInjector,
                 error_body: ErrorBody, limits: RequestLimits | None = None) -> None:
        self.app, self.journal, self.clock, self.faults = app, journal, clock, faults
        self.error_body = error_body
        self.limits = limits  # None: chosen from the app's backend on the first request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "HEAD":  # HEAD is GET without the body
            scope, send = {**scope, "method": "GET"}, _without_body(send)
        if self.limits is None:
            self.limits = limits_for(scope.get("app"))
        found = self.limits.headers_of(scope)
        declared = self.limits.declared_body(scope, found)
        refusal = self.limits.refuse_early(scope, declared, found)
        if scope["path"].startswith(UNJOURNALED_PREFIXES):
            guard = BodyLimit(self.limits, receive, send, json_body=self.limits.counts_values(scope, found))
            if refusal is not None:
                await guard.answer(*refusal)
                return
            await guard.run(self.app, scope)
            return
        info: dict[str, Any] = {"user": "", "table": "", "notes": [BATCH_ITEM] if NESTED_CALL.get() else []}
        scope.setdefault("state", {})["journal"] = info
        status = 500
        started = time.perf_counter()
        # A request that declares no body (no Content-Length above 0, no Transfer-Encoding) has no
        # bytes to count: its receive and send go unwrapped (most GETs, DELETEs)
        wrapped = declared[2] or refusal is not None  # a refusal answers through the guard
        guard = (BodyLimit(self.limits, receive, send, json_body=self.limits.counts_values(scope, found))
                 if wrapped else None)
        if guard is not None:
            receive, send = guard.receive, guard.send

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                extra = info.get("headers")
                if extra:  # e.g. rate-limit headers a route's dependency decided on
                    message = {**message, "headers": [*message.get("headers", []),
                                                      *((k.lower().encode(), v.encode()) for k, v in extra.items())]}
            await send(message)

        try:
            if refusal is not None and guard is not None:  # before any fault rule: an unread body cannot trip one
                info["notes"].append("body_not_read")
                status = await guard.answer(*refusal)
            else:
                fault = self.faults.pick(scope["method"], scope["path"])
                try:
                    if fault is None:
                        await self.app(scope, receive, capture)
                    else:
                        info["notes"].append(f"fault:{fault.id}")
                        injected = await self._misbehave(fault, scope, receive, capture)
                        if injected is not None:
                            status = injected
                except Exception:
                    if guard is None or not guard.refused:
                        raise  # the app's own failure; a body over a limit is answered below
                if guard is not None and guard.refused:
                    info["notes"].append("body_too_large" if guard.exceeded else "body_too_many_values")
                    status = await guard.refuse()
        finally:
            self.journal.add(self.clock.now(), scope["method"], scope["path"],
                             scope.get("query_string", b"").decode("latin-1"), status,
                             round((time.perf_counter() - started) * 1000, 3),
                             info["user"], info["table"], list(info["notes"]))

    async def _misbehave(self, fault: FaultRule, scope: Scope, receive: Receive, send: Send) -> int | None:
        """The status answered (0 for a dropped connection), or None when the app answered."""
        if fault.latency_ms:
            await asyncio.sleep(fault.latency_ms / 1000)
        if fault.after_handling and (fault.drop_connection or fault.status is not None):
            async def swallow(message: Message) -> None:
                return None
            await self.app(scope, receive, swallow)  # the work is done; its answer never leaves
        if fault.drop_connection:
            transport = getattr(getattr(receive, "__self__", None), "transport", None)
            if transport is not None:  # a real server (uvicorn): cut the connection, answer nothing
                transport.abort()
                return 0
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        if fault.status is None:  # latency only: then serve the request as usual
            await self.app(scope, receive, send)
            return None
        body = json.dumps(self.error_body(fault.status, fault.message or "Injected fault")).encode()
        await send({"type": "http.response.start", "status": fault.status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
        return fault.status


def _without_body(send: Send) -> Send:
    async def head_send(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b"", "more_body": False} if not message.get("more_body") else None
            if message is None:
                return
        await send(message)
    return head_send


def journal_info(request: Any) -> dict[str, Any]:
    """The journal annotations of this request (a throwaway dict for unjournaled paths): read
    from the scope's state, the very dict request.state stands for, without making a State
    whose attribute lookup fails first (a tenth of a Table API request's own route time)."""
    state = request.scope.get("state")
    return (state.get("journal") if state else None) or {"user": "", "table": "", "notes": []}
