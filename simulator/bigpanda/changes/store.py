"""Changes and Root Cause Changes (RCC) of one organisation: plain state, no HTTP.

A change is upserted by its `identifier`; an RCC relation links one change to one incident
with a match certainty. Search is a time-frame overlap plus an optional text filter, paged
with an opaque keyset cursor (our choice: stable when changes arrive between pages).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bpsn.simulator.bigpanda.errors import bad_request, not_found

if TYPE_CHECKING:
    from bpsn.base.rng import SeededRandom

CHANGE_STATUSES = ("Planned", "In Progress", "Done", "Canceled")
MATCH_CERTAINTIES = ("MATCH", "SUSPECT", "NONE")
OPTIONAL_FIELDS = ("end", "ticket_url", "tags", "metadata")


@dataclass
class Change:
    id: str
    identifier: str
    status: str
    summary: str
    start: int
    created_at: float
    updated_at: float
    end: int | None = None
    ticket_url: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def overlaps(self, frame_start: float, frame_end: float) -> bool:
        """A change without `end` is still running: it overlaps every frame ending after its start."""
        end = self.end if self.end is not None else float("inf")
        return self.start <= frame_end and end >= frame_start

    def mentions(self, text: str) -> bool:
        needle = text.lower()
        haystack = [self.summary, self.identifier, *self.tags.values()]
        return any(needle in h.lower() for h in haystack)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "identifier": self.identifier, "status": self.status, "summary": self.summary,
                "start": self.start, "end": self.end, "ticket_url": self.ticket_url, "tags": dict(self.tags),
                "metadata": dict(self.metadata), "created_at": int(self.created_at),
                "updated_at": int(self.updated_at)}


@dataclass
class Relation:
    """One RCC: a change suspected (or confirmed, or ruled out) as the cause of an incident."""

    id: str
    change_id: str
    incident_id: str
    match_certainty: str
    comment: str
    created_at: float
    created_by: str
    updated_at: float
    updated_by: str

    def to_dict(self, change: Change | None = None) -> dict[str, Any]:
        return {"id": self.id, "change_id": self.change_id, "incident_id": self.incident_id,
                "match_certainty": self.match_certainty, "comment": self.comment,
                "created_at": int(self.created_at), "created_by": self.created_by,
                "updated_at": int(self.updated_at), "updated_by": self.updated_by,
                "change": change.to_dict() if change is not None else None}


@dataclass
class ChangePage:
    changes: list[Change]
    total: int
    next_cursor: str | None


def _sort_key(c: Change) -> tuple[int, str]:
    return (c.start, c.id)


def encode_cursor(sort: str, last: Change) -> str:
    raw = json.dumps({"s": sort, "k": [last.start, last.id]}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        start, last_id = data["k"]
        if data["s"] != sort or not isinstance(start, int) or not isinstance(last_id, str):
            raise ValueError
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise bad_request(f"cursor {cursor!r} is not valid for this query (sort={sort}); "
                          "use the Link header of the previous page") from None
    return start, last_id


class ChangeStore:
    def __init__(self) -> None:
        self.changes: dict[str, Change] = {}
        self.by_identifier: dict[str, str] = {}
        self.relations: dict[str, Relation] = {}

    # --- changes -------------------------------------------------------------------------------
    def upsert(self, rng: SeededRandom, fields: dict[str, Any], now: float) -> tuple[Change, bool]:
        """`fields` holds only what the caller sent: required fields always, optional ones when
        present (null clears them). Fields left out keep their earlier values. Validated whole
        before anything is stored, so a refused upsert changes nothing."""
        existing = self.changes.get(self.by_identifier.get(fields["identifier"], ""))
        values: dict[str, Any] = {n: getattr(existing, n) if existing else None for n in OPTIONAL_FIELDS}
        values.update({n: fields[n] for n in OPTIONAL_FIELDS if n in fields})
        end, start = values["end"], fields["start"]
        if end is not None and end < start:
            raise bad_request(f"end ({end}) is before start ({start})")
        if existing is None:
            change = Change(id=rng.object_id(), identifier=fields["identifier"], status=fields["status"],
                            summary=fields["summary"], start=start, created_at=now, updated_at=now)
            self.changes[change.id] = change
            self.by_identifier[change.identifier] = change.id
        else:
            change = existing
            change.status, change.summary, change.start, change.updated_at = (
                fields["status"], fields["summary"], start, now)
        change.end, change.ticket_url = end, values["ticket_url"]
        change.tags, change.metadata = dict(values["tags"] or {}), dict(values["metadata"] or {})
        return change, existing is None

    def get(self, change_id: str) -> Change:
        change = self.changes.get(change_id)
        if change is None:
            raise not_found(f"Change {change_id}")
        return change

    def search(self, *, frame_start: float, frame_end: float, search: str | None = None,
               incident_id: str | None = None, sort: str = "-start", limit: int = 200,
               cursor: str | None = None) -> ChangePage:
        if frame_end < frame_start:
            raise bad_request(f"end_time_frame ({frame_end:g}) is before start_time_frame ({frame_start:g})")
        after = decode_cursor(cursor, sort) if cursor else None
        related = None
        if incident_id is not None:
            related = {r.change_id for r in self.relations.values() if r.incident_id == incident_id}
        found = [c for c in self.changes.values()
                 if c.overlaps(frame_start, frame_end)
                 and (not search or c.mentions(search))
                 and (related is None or c.id in related)]
        descending = sort.startswith("-")
        found.sort(key=_sort_key, reverse=descending)
        total = len(found)
        if after is not None:
            found = [c for c in found if (_sort_key(c) < after if descending else _sort_key(c) > after)]
        page = found[:limit]
        more = len(found) > limit
        return ChangePage(page, total, encode_cursor(sort, page[-1]) if more and page else None)

    # --- RCC -------------------------------------------------------------------------------------
    def relation(self, relation_id: str) -> Relation:
        rel = self.relations.get(relation_id)
        if rel is None:
            raise not_found(f"RCC relation {relation_id}")
        return rel

    def related_to(self, incident_id: str) -> list[Relation]:
        return sorted((r for r in self.relations.values() if r.incident_id == incident_id),
                      key=lambda r: (r.created_at, r.id))
