"""The core's end of ServiceNow's change notifications (issue #16, must-hold 4).

ServiceNow's business rule (simulator/servicenow/records/outbound.py on the simulator) POSTs
a small JSON body to `NOTIFICATION_PATH` when a ticket changes:

    {"table": "incident", "sys_id": "<32 hex>", "operation": "insert|update|delete",
     "sys_updated_on": "2026-01-01 00:00:05", "sys_updated_by": "itil.analyst", "fields": ["state"]}

with `Authorization: Bearer <token>` (BPSN_NOTIFY_TOKEN for `bpsn core`). `NotificationApp`
checks both and answers 202; a wrong header is a 401, a bad body a 400, both with
{"error": {"message", "detail"}, "status": "failure"} as ServiceNow's own APIs answer.

`ChangeFollower` turns accepted notices into work for the runner, between its polls
(`IntegrationRunner.between_cycles`): the delta watch at once, so a resolve or a snooze
leaves now and a tag change enters its coalesce window (which opens at the edit itself), then
the tag calls when that window is over, without waiting for the next poll. Notices of the
core's own writes are counted and dropped (the watch would skip those rows anyway: the echo
guard). The delta watch of every cycle stays: a lost notification is caught at the next poll.
The engine stays pure: this module only decides when the runner's watch runs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from bpsn.integration.runner import IntegrationRunner

log = logging.getLogger("bpsn.integration.notifications")
NOTIFICATION_PATH = "/api/bpsn/notifications"
OPERATIONS = ("insert", "update", "delete")
SYS_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_BODY = 64 * 1024  # a notice is a few hundred bytes
RETRY_WAIT = 1.0  # seconds before due work that failed is tried again between polls
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class BadNotice(ValueError):
    """A notification body the core cannot use; its message says why."""


@dataclass(frozen=True)
class ChangeNotice:
    table: str
    sys_id: str
    operation: str
    sys_updated_on: str = ""
    sys_updated_by: str = ""
    fields: tuple[str, ...] = ()


def parse_notice(body: Any) -> ChangeNotice:
    if not isinstance(body, dict):
        raise BadNotice("the body must be a JSON object")
    for name in ("table", "sys_id", "operation"):
        if not isinstance(body.get(name), str) or not body[name]:
            raise BadNotice(f"'{name}' is required and must be a non-empty string")
    if not SYS_ID.match(body["sys_id"]):
        raise BadNotice("'sys_id' must be 32 lowercase hexadecimal characters")
    if body["operation"] not in OPERATIONS:
        raise BadNotice(f"'operation' must be one of {', '.join(OPERATIONS)}, not {body['operation']!r}")
    fields = body.get("fields", [])
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise BadNotice("'fields' must be a list of field names")
    for name in ("sys_updated_on", "sys_updated_by"):
        if not isinstance(body.get(name, ""), str):
            raise BadNotice(f"'{name}' must be a string")
    return ChangeNotice(body["table"], body["sys_id"], body["operation"], body.get("sys_updated_on", ""),
                        body.get("sys_updated_by", ""), tuple(fields))


@dataclass
class FollowerCounts:
    received: int = 0
    own_writes: int = 0  # notices of the core's own writes: dropped
    refused: int = 0  # bad header or bad body
    watches: int = 0  # watch passes a notice started
    tag_flushes: int = 0  # tag calls sent when a coalesce window ended between polls


@dataclass
class ChangeFollower:
    """Decides when the runner's watch runs between polls. `runner_of` gives the current core (a
    harness or a stack replaces it on a reset)."""

    runner_of: Callable[[], IntegrationRunner]
    counts: FollowerCounts = field(default_factory=FollowerCounts)
    following: bool = False  # a notice came: tag windows are watched between polls too
    _notified: bool = False
    _wake: asyncio.Event | None = None
    _lock: asyncio.Lock | None = None

    def forget(self) -> None:
        """A fresh start (a harness reset): no notice pending, counts at zero."""
        self.counts, self.following, self._notified = FollowerCounts(), False, False

    def accept(self, notice: ChangeNotice) -> bool:
        """Take a notice; True when it asks for a watch pass (not one of the core's own writes)."""
        self.counts.received += 1
        own_user = self.runner_of().watch.user_name
        if notice.sys_updated_by and notice.sys_updated_by == own_user:
            self.counts.own_writes += 1
            return False
        self._notified = self.following = True
        if self._wake is not None:
            self._wake.set()
        return True

    def due_in(self) -> float | None:
        """Seconds (of the core's clock) until work is due: 0 after a notice, else the end of the
        first open tag window; None when nothing waits."""
        if self._notified:
            return 0.0
        runner = self.runner_of()
        due = runner.engine.tags.next_due() if self.following else None
        return None if due is None else max(0.0, due - runner.clock.now())

    async def catch_up(self) -> None:
        """Do what is due now: a watch pass after a notice, the tag calls whose window is over.
        Errors are logged, as in the runner's cycle; the next poll's watch tries again."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            runner = self.runner_of()
            if not runner.engine.settings.active or runner.outage.closed:
                self._notified = False
                return
            try:
                if self._notified:
                    self._notified = False
                    self.counts.watches += 1
                    await runner.watch_once()  # flushes tags already due too
                elif self.due_in() == 0.0:
                    self.counts.tag_flushes += await runner.watch.flush_tags()
            except Exception as exc:  # noqa: BLE001 - as the runner's cycle: log, the next poll retries
                log.error("ServiceNow watch after a notification failed: %s", exc)

    async def between_cycles(self, stop: asyncio.Event, interval: float) -> None:
        """The runner's wait between polls (`IntegrationRunner.between_cycles`): `interval`
        seconds, or until `stop`, doing due work as it falls due."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + interval
        self._wake = wake = asyncio.Event()
        while not stop.is_set():
            await self.catch_up()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            due = self.due_in()
            if due is None:
                timeout = remaining
            elif due > 0:
                timeout = min(remaining, due)
            elif self._notified:
                continue  # a notice came during the pass
            else:  # work due now was tried and stays (a failed tags call): no busy loop
                timeout = min(remaining, RETRY_WAIT)
            if timeout > 0:
                wake.clear()
                waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
                try:
                    await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for w in waiters:
                        w.cancel()


class NotificationApp:
    """The ASGI app ServiceNow's outbound message posts to. `on_notice` runs after a notice that
    asks for a watch was accepted (a stack's core wakes by itself; a harness may do more)."""

    def __init__(self, follower: ChangeFollower, token: str,
                 on_notice: Callable[[], None] | None = None) -> None:
        if not token:
            raise ValueError("the notification endpoint needs a token (BPSN_NOTIFY_TOKEN)")
        self.follower = follower
        self._expected = f"Bearer {token}".encode()
        self.on_notice = on_notice

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"].rstrip("/") != NOTIFICATION_PATH:
            return await _answer(send, 404, _error("Not found", f"the core accepts notices at {NOTIFICATION_PATH}"))
        if scope["method"] != "POST":
            return await _answer(send, 405, _error("Method not allowed", "POST a change notice"))
        header = dict(scope.get("headers") or []).get(b"authorization", b"")
        if not secrets.compare_digest(header, self._expected):
            self.follower.counts.refused += 1
            return await _answer(send, 401, _error("User Not Authenticated",
                                                   "Required to provide Auth information"))
        raw = await _body(receive)
        try:
            if len(raw) > MAX_BODY:
                raise BadNotice(f"the body is larger than {MAX_BODY} bytes")
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                raise BadNotice("the body is not JSON") from None
            notice = parse_notice(body)
        except BadNotice as exc:
            self.follower.counts.refused += 1
            return await _answer(send, 400, _error("Invalid change notice", str(exc)))
        wakes = self.follower.accept(notice)
        if wakes and self.on_notice is not None:
            self.on_notice()
        await _answer(send, 202, {"result": {"accepted": True, "watch": "scheduled" if wakes else "own write"}})


def _error(message: str, detail: str) -> dict[str, Any]:
    return {"error": {"message": message, "detail": detail}, "status": "failure"}


async def _body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= MAX_BODY + 1:
            chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _answer(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


def notification_token() -> str:
    """A fresh shared secret for a core and its instance (`bpsn up`, the harness)."""
    return secrets.token_urlsafe(32)
