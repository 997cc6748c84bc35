"""Outermost ASGI layer of every simulator: fault rules first, then the journal.

Routes add who called and which table through `request.state.journal` (a dict placed in
the ASGI scope here), so the journal can be filtered by user and table; they may also add
response headers there (rate-limit headers decided in a dependency).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bpsn.base.clock import Clock

from .faults import FaultInjector, FaultRule
from .journal import BATCH_ITEM, NESTED_CALL, Journal

UNJOURNALED_PREFIXES = ("/_sim", "/docs", "/openapi.json", "/redoc")
ErrorBody = Callable[[int, str], dict[str, Any]]


class SimulatorMiddleware:
    def __init__(self, app: ASGIApp, journal: Journal, clock: Clock, faults: FaultInjector,
                 error_body: ErrorBody) -> None:
        self.app, self.journal, self.clock, self.faults = app, journal, clock, faults
        self.error_body = error_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "HEAD":  # HEAD is GET without the body
            scope, send = {**scope, "method": "GET"}, _without_body(send)
        if scope["type"] != "http" or scope["path"].startswith(UNJOURNALED_PREFIXES):
            await self.app(scope, receive, send)
            return
        info: dict[str, Any] = {"user": "", "table": "", "notes": [BATCH_ITEM] if NESTED_CALL.get() else []}
        scope.setdefault("state", {})["journal"] = info
        status = 500
        started = time.perf_counter()

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
            fault = self.faults.pick(scope["method"], scope["path"])
            if fault is None:
                await self.app(scope, receive, capture)
            else:
                info["notes"].append(f"fault:{fault.id}")
                injected = await self._misbehave(fault, scope, receive, capture)
                if injected is not None:
                    status = injected
        finally:
            self.journal.record(
                time=self.clock.now(), method=scope["method"], path=scope["path"],
                query=scope.get("query_string", b"").decode("latin-1"), status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
                user=info["user"], table=info["table"], notes=list(info["notes"]))

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
    """The journal annotations of this request (a throwaway dict for unjournaled paths)."""
    return getattr(request.state, "journal", None) or {"user": "", "table": "", "notes": []}
