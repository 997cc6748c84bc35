"""The CMDB v2 delta, decided without I/O: schema -> rows -> a hash per record -> what to send.

A sync pass reads the CIs of one class in sys_id order, from a cursor, a bounded number of
pages: the pass covers a key span (cursor, last key read], or (cursor, end) once the table is
exhausted. Against the hashes last sent for that span it plans upserts (new or changed rows)
and deletes (keys sent before that the span no longer holds). The hashes are kept in
ServiceNow grouped by sys_id prefix (`HashBucket`), so a pass loads and rewrites only the
buckets its span touches: prefixes keep sys_id order, so a span's keys fall in a prefix range.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

KEY_FIELD = "sys_id"  # stable across renames: an edited name is one upsert, not a delete and a create
MAP_PREFIX = "snow_cmdb_"  # BigPanda's CMDB maps are named snow_cmdb_<table>


class SchemaError(ValueError):
    """A configured field the CI class does not have."""


@dataclass(frozen=True)
class ClassSchema:
    table: str
    fields: tuple[str, ...]

    @property
    def map_name(self) -> str:
        return f"{MAP_PREFIX}{self.table}"

    @property
    def v1_map_id(self) -> str:
        """The v1 enrichment id: apart from the v2 map, so the two modes never share a table."""
        return f"{MAP_PREFIX}v1_{self.table}"

    @property
    def columns(self) -> tuple[str, ...]:
        return (KEY_FIELD, *self.fields)

    def row(self, record: Mapping[str, Any]) -> dict[str, str]:
        """The record reduced to the schema's columns, every value a string. ServiceNow leaves
        out a requested field the table does not have, so a missing one is a schema error."""
        missing = [c for c in self.columns if c not in record]
        if missing:
            raise SchemaError(f"{self.table} has no field {', '.join(missing)} (check the CMDB sync's classes)")
        return {c: "" if record[c] is None else str(record[c]) for c in self.columns}


def record_hash(row: Mapping[str, str]) -> str:
    """sha256 of the row's JSON with sorted keys: any change to a configured field, or to the
    set of fields, changes it. BigPanda's own row hash is computed the same way."""
    return hashlib.sha256(json.dumps(row, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class KeySpan:
    """The keys a pass covers: after `after` (exclusive; "" = from the first) through `through`
    (inclusive; None = to the end of the table)."""

    after: str = ""
    through: str | None = None

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key > self.after and (self.through is None or key <= self.through)

    @property
    def reaches_end(self) -> bool:
        return self.through is None


@dataclass(frozen=True)
class Upsert:
    key: str
    hash: str
    row: dict[str, str]


@dataclass(frozen=True)
class Delta:
    upserts: tuple[Upsert, ...] = ()
    deletes: tuple[str, ...] = ()
    unchanged: int = 0

    @property
    def empty(self) -> bool:
        return not self.upserts and not self.deletes

    def chunks(self, size: int) -> Iterator[Delta]:
        """Pieces of at most `size` upserts plus deletes, upserts first."""
        if size < 1:
            raise ValueError(f"chunk size must be at least 1 (got {size})")
        items: list[Upsert | str] = [*self.upserts, *self.deletes]
        for start in range(0, len(items), size):
            part = items[start:start + size]
            yield Delta(tuple(i for i in part if isinstance(i, Upsert)), tuple(i for i in part if isinstance(i, str)))


def plan_delta(rows: Sequence[Mapping[str, str]], known: Mapping[str, str], span: KeySpan) -> Delta:
    """Upserts for rows whose hash differs from the known one (or is unknown), deletes for known
    keys inside the span that the rows no longer hold. Known keys outside the span are not
    looked at: another pass covers them."""
    seen: dict[str, Upsert] = {}
    for row in rows:
        key = row[KEY_FIELD]
        if key not in span:
            raise ValueError(f"row {key!r} lies outside the pass's span ({span.after!r}, {span.through!r}]")
        if key in seen:
            raise ValueError(f"row {key!r} appears twice in one pass")
        seen[key] = Upsert(key, record_hash(row), dict(row))
    upserts = tuple(u for u in seen.values() if known.get(u.key) != u.hash)
    deletes = tuple(sorted(k for k in known if k in span and k not in seen))
    return Delta(upserts, deletes, len(seen) - len(upserts))


def hashes_after(known: Mapping[str, str], span: KeySpan, rows: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """What BigPanda holds once the pass's delta is applied: the known hashes outside the span,
    and the hash of every row read inside it."""
    out = {k: h for k, h in known.items() if k not in span}
    out.update((row[KEY_FIELD], record_hash(row)) for row in rows)
    return out


# --- the hashes as ServiceNow keeps them -----------------------------------------------------------
@dataclass(frozen=True)
class HashBucket:
    """The hashes of the CIs whose sys_id starts with `prefix`, as sent to map `map_id`. A bucket
    written for another map id (one since deleted on BigPanda) counts as empty."""

    prefix: str
    map_id: str
    hashes: dict[str, str] = field(default_factory=dict)
    sys_id: str = ""  # its ServiceNow record; "" until stored


def prefix_range(span: KeySpan, length: int) -> tuple[str | None, str | None]:
    """The lowest and highest bucket prefix the span's keys can have (None: unbounded)."""
    return (span.after[:length] or None), (span.through[:length] if span.through is not None else None)


def known_hashes(buckets: Sequence[HashBucket], map_id: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for bucket in buckets:
        if bucket.map_id == map_id:
            out.update(bucket.hashes)
    return out


def bucket_writes(loaded: Sequence[HashBucket], hashes: Mapping[str, str], map_id: str,
                  length: int) -> list[HashBucket]:
    """The buckets to store so that the loaded prefixes hold exactly `hashes` for `map_id`:
    only those whose content changes (a new bucket for a new prefix, an update otherwise)."""
    wanted: dict[str, dict[str, str]] = {}
    for key, digest in hashes.items():
        wanted.setdefault(key[:length], {})[key] = digest
    current = {b.prefix: b for b in loaded}
    out = []
    for prefix in sorted(set(current) | set(wanted)):
        old, new = current.get(prefix), wanted.get(prefix, {})
        old_hashes = old.hashes if old is not None and old.map_id == map_id else {}
        if old_hashes == new and (old is not None or not new):
            continue  # unchanged, or an empty bucket that reads as empty already
        out.append(HashBucket(prefix, map_id, new, old.sys_id if old is not None else ""))
    return out
