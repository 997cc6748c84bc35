"""OIM request bodies under BigPanda's 6 MB limit. Pure.

`pack` turns events, in order, into bodies `{"app_key": ..., "alerts": [...]}` of at most
`limit` bytes (6 MB = 6,291,456 by default) and `max_events` events (BigPanda takes at most
1000 per batch). Sizes are exact: each body is encoded here, once, and sent as these bytes.
An event that does not fit in a body on its own is not sent and comes back as `TooLarge`,
whose message names the record, its size and the limit, so it is reported, never dropped
in silence. Order is kept: a record's place in the output is its place in the input.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MAX_OIM_BODY = 6 * 1024 * 1024
MAX_EVENTS = 1000


def encode(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def body_bytes(app_key: str, encoded_events: Sequence[bytes]) -> bytes:
    return b'{"app_key":' + encode(app_key) + b',"alerts":[' + b",".join(encoded_events) + b"]}"


@dataclass(frozen=True)
class Batch:
    indexes: tuple[int, ...]  # positions of its events in the input
    body: bytes

    @property
    def size(self) -> int:
        return len(self.body)


@dataclass(frozen=True)
class TooLarge:
    index: int
    record: str
    size: int
    limit: int

    @property
    def message(self) -> str:
        return (f"{self.record} is not sent to OIM: as one event its request body is {self.size:,} bytes, over "
                f"BigPanda's limit of {self.limit:,} bytes ({self.limit / 1048576:g} MB); shorten its "
                "largest fields or leave them out of the forwarded fields")


def pack(app_key: str, events: Sequence[tuple[str, dict[str, Any]]], *, limit: int = MAX_OIM_BODY,
         max_events: int = MAX_EVENTS) -> list[Batch | TooLarge]:
    """`events` is (record label, event) in order; returns batches and refusals in that order."""
    if max_events < 1:
        raise ValueError(f"max_events must be at least 1 (got {max_events})")
    overhead = len(body_bytes(app_key, []))
    if overhead >= limit:
        raise ValueError(f"a body of no events is already {overhead} bytes, not under the limit of {limit}")
    out: list[Batch | TooLarge] = []
    current: list[tuple[int, bytes]] = []
    size = overhead

    def close() -> None:
        nonlocal current, size
        if current:
            out.append(Batch(tuple(i for i, _ in current), body_bytes(app_key, [e for _, e in current])))
        current, size = [], overhead

    for index, (record, event) in enumerate(events):
        data = encode(event)
        if overhead + len(data) > limit:
            close()
            out.append(TooLarge(index, record, overhead + len(data), limit))
            continue
        added = len(data) + (1 if current else 0)  # the comma between events
        if current and (size + added > limit or len(current) >= max_events):
            close()
            added = len(data)
        current.append((index, data))
        size += added
    close()
    return out
