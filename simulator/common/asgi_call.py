"""One HTTP request to an ASGI app in the same process, with no server, no socket and no client.

The Batch API runs each of its items through the instance's own app this way, so an item meets
the same routes, ACLs, rate limits and journal as a separate call; `InProcessTransport` puts the
same call under an httpx client (tests and in-process benches). It does what httpx's
ASGITransport does, without its per-request look for trio (a failed `import sniffio` that
searches sys.path on every request where trio is not installed) and without building an httpx
Request for every batch item.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import httpx

Message = MutableMapping[str, Any]
App = Callable[[MutableMapping[str, Any], Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
               Awaitable[None]]


@dataclass
class AsgiResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


async def call_app(app: App, method: str, target: str, headers: list[tuple[str, str]], body: bytes = b"", *,
                   scheme: str = "http", server: tuple[str, int | None] = ("instance", 80),
                   raise_app_exceptions: bool = False) -> AsgiResponse:
    """`target` is the path and query (`/api/now/table/incident?sysparm_limit=1`). An exception in
    the app is a 500, as a server would answer, unless `raise_app_exceptions`."""
    path, _, query = target.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method.upper(),
             "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
             "scheme": scheme, "path": unquote(path), "raw_path": path.encode("latin-1"),
             "query_string": query.encode("latin-1"), "server": server, "client": ("127.0.0.1", 123),
             "root_path": ""}
    status: int | None = None
    response_headers: list[tuple[str, str]] = []
    parts: list[bytes] = []
    done = asyncio.Event()
    sent_body = False

    async def receive() -> Message:
        nonlocal sent_body
        if sent_body:
            await done.wait()
            return {"type": "http.disconnect"}
        sent_body = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status, response_headers
        if message["type"] == "http.response.start":
            status = message["status"]
            response_headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", [])]
        elif message["type"] == "http.response.body":
            if message.get("body") and scope["method"] != "HEAD":
                parts.append(message["body"])
            if not message.get("more_body", False):
                done.set()

    try:
        await app(scope, receive, send)
    except Exception:
        if raise_app_exceptions:
            raise
        done.set()
        if status is None:
            status = 500
    return AsgiResponse(500 if status is None else status, response_headers, b"".join(parts))


class InProcessTransport(httpx.AsyncBaseTransport, httpx.BaseTransport):
    """An httpx transport that hands every request to an ASGI app in this process, for
    `httpx.AsyncClient` and `httpx.Client` alike.

    A synchronous request runs on `loop` when one is given (the event loop the app's state lives
    on, running in another thread, as in the in-process bench), else on a loop of its own."""

    def __init__(self, app: App, raise_app_exceptions: bool = True,
                 loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.app, self.raise_app_exceptions, self.loop = app, raise_app_exceptions, loop

    async def _answer(self, request: httpx.Request, body: bytes) -> httpx.Response:
        url = request.url
        answer = await call_app(self.app, request.method, url.raw_path.decode("latin-1"),
                                [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw],
                                body, scheme=url.scheme, server=(url.host, url.port),
                                raise_app_exceptions=self.raise_app_exceptions)
        # a stream, not content: the client reads and closes it, which sets `elapsed`
        return httpx.Response(answer.status, headers=answer.headers, stream=httpx.ByteStream(answer.body))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._answer(request, await request.aread())

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        coro = self._answer(request, request.read())
        if self.loop is None:
            return asyncio.run(coro)
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            coro.close()
            raise RuntimeError("a synchronous client cannot wait on the event loop it runs on: "
                               "use an httpx.AsyncClient there")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)
