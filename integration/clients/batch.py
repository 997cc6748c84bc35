"""Table API writes sent together through ServiceNow's Batch API (`POST /api/now/v1/batch`).

Collect writes with `add(...)`, then `send()`: one HTTP request per `max_items` writes, each
answered on its own (a batch is not atomic). Each write keeps its own outcome: `ok`, the record
(`result`) or the error; an item the instance left unserviced (size or time quota) is sent
again in the next request, so nothing is silently dropped.
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass, field
from itertools import count
from typing import Any, Protocol

from .http import RETRY_STATUSES
from .servicenow import ServiceNowClient

HEADERS = [{"name": "Content-Type", "value": "application/json"}, {"name": "Accept", "value": "application/json"}]


@dataclass
class BatchWrite:
    method: str  # POST, PATCH, PUT, DELETE
    table: str
    sys_id: str = ""  # the record written (PATCH, PUT, DELETE) or the one to create (POST)
    body: dict[str, Any] = field(default_factory=dict)
    status: int = 0
    result: dict[str, Any] | None = None
    error: str = ""
    attempts: int = 0
    staging: dict[str, str] = field(default_factory=dict)  # the share's staging columns (import_set.py only)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def url(self) -> str:
        path = f"/api/now/table/{self.table}"
        if self.method != "POST":
            path += f"/{self.sys_id}"
        return path + "?sysparm_exclude_reference_link=true"


class BatchError(RuntimeError):
    """A Batch API request that failed whole; `status` is its HTTP status when it had one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class BatchWriter:
    def __init__(self, servicenow: ServiceNowClient, max_items: int = 100) -> None:
        self.servicenow, self.max_items = servicenow, max_items
        self.pending: list[BatchWrite] = []
        self.requests = 0
        self._ids = count(1)

    def add(self, method: str, table: str, body: dict[str, Any] | None = None, sys_id: str = "") -> BatchWrite:
        write = BatchWrite(method.upper(), table, sys_id, dict(body or {}))
        if write.method == "POST" and sys_id:
            write.body["sys_id"] = sys_id
        self.pending.append(write)
        return write

    async def send(self) -> list[BatchWrite]:
        """Every pending write, answered; raises BatchError only when the instance refuses a whole batch.
        Items answered 429 / 5xx are sent again, with the client's backoff, as its own calls would be."""
        writes, self.pending = self.pending, []
        queue = list(writes)
        api = self.servicenow.api
        while queue:
            chunk, queue = queue[: self.max_items], queue[self.max_items:]
            left = await self._send(chunk)
            if len(left) == len(chunk):
                raise BatchError(f"ServiceNow serviced none of {len(chunk)} batch items")
            again = [w for w in chunk if w.status in RETRY_STATUSES and w.attempts < api.policy.max_attempts]
            if again:
                statuses = ",".join(sorted({str(w.status) for w in again}))
                await api.pause(max(w.attempts for w in again) - 1,
                                what=f"POST /api/now/v1/batch items={len(again)} reason={statuses}")
            queue = left + again + queue
        return writes

    async def _send(self, chunk: list[BatchWrite]) -> list[BatchWrite]:
        ids = {str(next(self._ids)): w for w in chunk}
        for w in chunk:
            w.attempts += 1
        body = {"batch_request_id": f"bpsn-{next(self._ids)}", "rest_requests": [
            {"id": i, "method": w.method, "url": w.url, "headers": HEADERS, "exclude_response_headers": True,
             **({"body": base64.b64encode(json.dumps(w.body).encode()).decode()} if w.method != "DELETE" else {})}
            for i, w in ids.items()]}
        self.requests += 1
        r = await self.servicenow.api.request("POST", "/api/now/v1/batch", json=body)
        if r.status_code != 200:
            raise BatchError(f"ServiceNow refused the batch: {r.status_code} {r.text[:300]}", r.status_code)
        answer = r.json()
        for item in answer.get("serviced_requests", []):
            write = ids.get(str(item.get("id")))
            if write is None:
                continue
            write.status = int(item.get("status_code", 0))
            payload = _decode(item.get("body"))
            if write.ok:
                write.result = payload.get("result") if isinstance(payload, dict) else None
            else:
                err = payload.get("error", {}) if isinstance(payload, dict) else {}
                write.error = f"{write.status} {err.get('message', '')}: {err.get('detail', '')}".strip()
        return [ids[str(i)] for i in answer.get("unserviced_requests", []) if str(i) in ids]


def _decode(body: Any) -> Any:
    if not body:
        return {}
    try:
        return json.loads(base64.b64decode(body))
    except (ValueError, TypeError):
        return {}


class Writer(Protocol):
    """What WriteCoalescer drives: BatchWriter, or ImportSetWriter (import_set.py)."""

    def add(self, method: str, table: str, body: dict[str, Any] | None = None, sys_id: str = "") -> BatchWrite: ...

    async def send(self) -> list[BatchWrite]: ...


class WriteCoalescer:
    """Writes made by concurrent tasks in the same moment leave together (one Batch API request,
    or one Import Set API request with the ImportSetWriter).

    `write(...)` queues the write and waits; the first write of a moment schedules a flush that
    lets every ready task queue its own first (a few event-loop turns, no clock time), then
    sends them together. A batch that fails as a whole fails each of its writes' callers.
    """

    def __init__(self, writer: Writer, turns: int = 3) -> None:
        self.writer, self.turns = writer, turns
        self._waiters: list[tuple[BatchWrite, asyncio.Future[BatchWrite]]] = []
        self._flush: asyncio.Task[None] | None = None

    async def write(self, method: str, table: str, body: dict[str, Any] | None = None,
                    sys_id: str = "", staging: dict[str, str] | None = None) -> BatchWrite:
        """`staging`: the share's own columns, carried by a staging row (the Batch API ignores them)."""
        write = self.writer.add(method, table, body, sys_id)
        write.staging.update(staging or {})
        future: asyncio.Future[BatchWrite] = asyncio.get_running_loop().create_future()
        self._waiters.append((write, future))
        if self._flush is None:
            self._flush = asyncio.create_task(self._flush_soon())
        return await future

    async def _flush_soon(self) -> None:
        for _ in range(self.turns):
            await asyncio.sleep(0)
        waiters, self._waiters, self._flush = self._waiters, [], None
        try:
            await self.writer.send()
        except Exception as exc:  # noqa: BLE001 - handed to every caller of the batch
            for _, future in waiters:
                if not future.done():
                    future.set_exception(exc)
            return
        for write, future in waiters:
            if not future.done():
                future.set_result(write)
