"""Batch API execution: each item is dispatched in-process to the same ASGI app.

Items run one after another with the batch caller's own Authorization header (any the item
carries is replaced), so each meets its route's ACLs, rate limits and journal like a separate
call. Items are not atomic: a failing item changes nothing already done. A size or time limit
ends the batch there: that item and the rest are reported in `unserviced_requests`.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from bpsn.simulator.common.asgi_call import call_app
from bpsn.simulator.common.journal import NESTED_CALL
from bpsn.simulator.servicenow.errors import SnError

MAX_ITEMS = 100  # per batch: our choice (the instance documents none); more is a 400
MAX_INPUT_BYTES = 5 * 1024 * 1024  # glide.rest.batch.max.inputSize default
MAX_OUTPUT_BYTES = 10 * 1024 * 1024  # glide.rest.batch.max.outputSize default
QUOTA_ENV = "BPSN_SN_BATCH_QUOTA_SECONDS"
DEFAULT_QUOTA_SECONDS = 30.0  # the "REST Batch API request timeout" quota, here in real elapsed time
OUTPUT_SIZE_HEADER = "x-batchrequest-max-output-size"
JSON_TYPE = "application/json;charset=UTF-8"
IN_BATCH: ContextVar[bool] = NESTED_CALL  # items are journaled as batch items
_METHOD = re.compile(r"^[A-Za-z]{1,16}$")
_DROPPED_HEADERS = {"authorization", "cookie", "host", "content-length", "transfer-encoding", "connection"}


def quota_seconds() -> float:
    """The batch time quota: BPSN_SN_BATCH_QUOTA_SECONDS, read per batch, else 30 s."""
    try:
        value = float(os.environ.get(QUOTA_ENV, DEFAULT_QUOTA_SECONDS))
    except ValueError:
        return DEFAULT_QUOTA_SECONDS
    return value if value >= 0 else DEFAULT_QUOTA_SECONDS


@dataclass(frozen=True)
class Limits:
    max_input: int = MAX_INPUT_BYTES
    max_output: int = MAX_OUTPUT_BYTES
    quota: float = DEFAULT_QUOTA_SECONDS

    @classmethod
    def for_request(cls, headers: Any) -> Limits:
        """Defaults, the quota from the environment, and a lower output limit if the
        X-BATCHREQUEST-MAX-OUTPUT-SIZE header asks for one (it can't raise the limit)."""
        output = MAX_OUTPUT_BYTES
        asked = (headers.get(OUTPUT_SIZE_HEADER) or "").strip()
        if asked.isdigit():
            output = min(output, int(asked))
        return cls(MAX_INPUT_BYTES, output, quota_seconds())


@dataclass(frozen=True)
class Item:
    id: str
    url: str | None
    method: str | None
    headers: list[tuple[str, str]]
    body: str | None
    exclude_response_headers: bool = False


def _title(name: str) -> str:
    return "-".join(part[:1].upper() + part[1:] for part in name.split("-"))


def _target(url: str) -> str | None:
    """The path and query an item addresses; absolute URLs are cut to them."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if (parts.scheme or parts.netloc) and parts.scheme not in ("http", "https"):
        return None
    if not parts.path.startswith("/"):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _error_message(content: bytes) -> str | None:
    try:
        data = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return None
    error = data.get("error") if isinstance(data, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) else None


class BatchRunner:
    def __init__(self, app: Any, authorization: str, limits: Limits,
                 timer: Callable[[], float] = time.perf_counter) -> None:
        self.app, self.authorization, self.limits, self.timer = app, authorization, limits, timer

    async def run(self, items: list[Item]) -> tuple[list[dict[str, Any]], list[str]]:
        serviced: list[dict[str, Any]] = []
        started = self.timer()
        token = IN_BATCH.set(True)
        try:
            for n, item in enumerate(items):
                if self.timer() - started >= self.limits.quota:
                    return serviced, [i.id for i in items[n:]]
                result = await self._one(item)
                if result is None:  # the item's request or response is over its size limit
                    return serviced, [i.id for i in items[n:]]
                serviced.append(result)
        finally:
            IN_BATCH.reset(token)
        return serviced, []

    async def _one(self, item: Item) -> dict[str, Any] | None:
        started = self.timer()
        missing = [name for name in ("url", "method") if not getattr(item, name)]
        if missing:
            return self._malformed(item, started, "Missing required field(s): " + ", ".join(missing))
        method = str(item.method).upper()
        if not _METHOD.match(method):
            return self._malformed(item, started, f"Invalid method {item.method!r}")
        target = _target(str(item.url))
        if target is None:
            return self._malformed(item, started, f"Invalid url {item.url!r}: expected a path on the "
                                   "instance, such as /api/now/table/incident")
        if not target.startswith("/api/"):  # /_sim, /docs: the simulator's own, not the instance's
            return self._malformed(item, started, "Requested URI does not represent any resource")
        try:
            body = base64.b64decode("".join((item.body or "").split()), validate=True)
        except (binascii.Error, ValueError):
            return self._malformed(item, started, "Invalid body: not Base64")
        if len(body) > self.limits.max_input:
            return None
        headers = [(k, v) for k, v in item.headers if k.lower() not in _DROPPED_HEADERS]
        names = {k.lower() for k, _ in headers}
        headers += [(k, v) for k, v in (("Accept", "application/json"), ("Content-Type", "application/json"))
                    if k.lower() not in names]
        if self.authorization:
            headers.append(("Authorization", self.authorization))
        try:
            response = await call_app(self.app, method, target, headers, body)
        except (ValueError, UnicodeError, TypeError) as exc:  # a header or URL that is not Latin-1
            return self._malformed(item, started, f"Invalid request: {exc}")
        content = response.body
        if len(content) > self.limits.max_output:
            return None
        out = self._entry(item, started, response.status, response.headers, content)
        location = next((v for k, v in response.headers if k.lower() == "location"), "")
        if response.status >= 400:
            out["error_message"] = _error_message(content) or out["status_text"]
        elif 300 <= response.status < 400 and location:
            out["redirect_url"] = location
        return out

    def _entry(self, item: Item, started: float, status: int, headers: list[tuple[str, str]],
               content: bytes) -> dict[str, Any]:
        try:
            text = HTTPStatus(status).phrase
        except ValueError:
            text = ""
        return {"id": item.id, "status_code": status, "status_text": text,
                "headers": [] if item.exclude_response_headers else
                [{"name": _title(k), "value": v} for k, v in headers],
                "body": base64.b64encode(content).decode("ascii"),
                "execution_time": round((self.timer() - started) * 1000)}

    def _malformed(self, item: Item, started: float, message: str) -> dict[str, Any]:
        content = json.dumps(SnError(400, message, None).body()).encode()
        headers = [("content-type", JSON_TYPE), ("content-length", str(len(content)))]
        out = self._entry(item, started, 400, headers, content)
        out["error_message"] = message
        return out
