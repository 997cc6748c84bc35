"""Outermost ASGI layer of every simulator: journals each emulated request.

Routes add who called and which table through `request.state.journal` (a dict placed in
the ASGI scope here), so the journal can be filtered by user and table.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bpsn.clock import Clock

from .journal import Journal

UNJOURNALED_PREFIXES = ("/_sim", "/docs", "/openapi.json", "/redoc")


class JournalMiddleware:
    def __init__(self, app: ASGIApp, journal: Journal, clock: Clock) -> None:
        self.app, self.journal, self.clock = app, journal, clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(UNJOURNALED_PREFIXES):
            await self.app(scope, receive, send)
            return
        info: dict[str, Any] = {"user": "", "table": "", "notes": []}
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
            await self.app(scope, receive, capture)
        finally:
            self.journal.record(
                time=self.clock.now(), method=scope["method"], path=scope["path"],
                query=scope.get("query_string", b"").decode("latin-1"), status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
                user=info["user"], table=info["table"], notes=list(info["notes"]))


def journal_info(request: Any) -> dict[str, Any]:
    """The journal annotations of this request (a throwaway dict for unjournaled paths)."""
    return getattr(request.state, "journal", None) or {"user": "", "table": "", "notes": []}
