"""Mapping-enrichment tables of one organisation, their upload jobs, and the CMDB delta sync.

Our choices where BigPanda publishes nothing:
* a map has key fields (given on create, else `?key=` on the first v1 upload, else the first
  column); a row's key is its key fields' values joined with `|`;
* its schema is the ordered union of the columns written so far; a CSV upload must match it
  exactly (so the first upload defines it) and replaces the whole table;
* a v1 upload to an unknown id creates the map (named after the id) if the upload succeeds;
* row operations are applied in order on a copy and kept only if all succeed; `update` and
  `upsert` merge the given columns into the row; `update` and `delete` need an existing row;
* each row has a hash: the client's on a delta upsert, else sha256 of the row's JSON with
  sorted keys and `(",", ":")` separators (`row_hash`); the delta counts an upsert whose hash
  equals the stored one as unchanged, and deleting a missing key as nothing;
* jobs: the last 1000 are kept.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Literal

from bpsn.base.rng import SeededRandom
from bpsn.simulator.bigpanda.errors import BpError, bad_request

from .csv_upload import CsvRejected, parse_csv

Op = Literal["create", "update", "delete", "upsert"]
MAX_JOBS = 1000
KEY_SEPARATOR = "|"


def row_hash(row: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(row, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass
class MappingTable:
    id: str
    name: str
    key_fields: list[str]
    created_at: float
    updated_at: float
    schema: list[str] = field(default_factory=list)
    rows: dict[str, dict[str, str]] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)

    def key_of(self, row: dict[str, str]) -> str:
        return KEY_SEPARATOR.join(row[k] for k in self.key_fields)

    def extend_schema(self, columns: Any) -> None:
        self.schema += [c for c in columns if c not in self.schema]

    def metadata(self, *, digest: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "name": self.name, "key_fields": list(self.key_fields),
                               "schema": list(self.schema), "row_count": len(self.rows),
                               "created_at": int(self.created_at), "updated_at": int(self.updated_at)}
        if digest:
            out["digest"] = dict(self.hashes)
        return out


@dataclass
class EnrichmentJob:
    id: str
    map_id: str
    kind: str
    status: Literal["done", "failed"]
    created_at: float
    errors: list[str] = field(default_factory=list)
    rows: int = 0

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "map_id": self.map_id, "kind": self.kind, "status": self.status,
                "errors": list(self.errors), "rows": self.rows, "created_at": int(self.created_at)}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class EnrichmentStore:
    def __init__(self) -> None:
        self.maps: dict[str, MappingTable] = {}
        self.jobs: OrderedDict[str, EnrichmentJob] = OrderedDict()

    def reset(self) -> None:
        self.maps.clear()
        self.jobs.clear()

    # --- maps --------------------------------------------------------------------------------------
    def create_map(self, name: str, key_fields: list[str], rng: SeededRandom, now: float) -> MappingTable:
        if any(m.name == name for m in self.maps.values()):
            raise BpError(409, f"a mapping named {name!r} already exists")
        if len(set(key_fields)) != len(key_fields):
            raise bad_request("key_fields must not repeat a field")
        table = MappingTable(rng.object_id(), name, list(key_fields), now, now)
        self.maps[table.id] = table
        return table

    def get_map(self, map_id: str, *, stale_hint: bool = False) -> MappingTable:
        table = self.maps.get(map_id)
        if table is None:
            raise BpError(404, f"mapping {map_id} is not found (stale mapping)" if stale_hint
                          else f"mapping {map_id} is not found")
        return table

    def delete_map(self, map_id: str) -> None:
        self.get_map(map_id)
        del self.maps[map_id]

    # --- jobs --------------------------------------------------------------------------------------
    def _job(self, map_id: str, kind: str, rng: SeededRandom, now: float, errors: list[str],
             rows: int) -> EnrichmentJob:
        job = EnrichmentJob(f"{rng.uuid()}_{int(now)}_{kind}", map_id, kind, "failed" if errors else "done",
                            now, errors, rows)
        self.jobs[job.id] = job
        while len(self.jobs) > MAX_JOBS:
            self.jobs.popitem(last=False)
        return job

    def job(self, job_id: str) -> EnrichmentJob:
        job = self.jobs.get(job_id)
        if job is None:
            raise BpError(404, f"job {job_id} is not found")
        return job

    # --- v1 CSV upload -----------------------------------------------------------------------------
    def upload_csv(self, map_id: str, data: bytes, key: list[str] | None, rng: SeededRandom,
                   now: float) -> EnrichmentJob:
        """Replace the whole table. Processed at once; a failed job changes nothing."""
        table = self.maps.get(map_id)
        if table is not None and key and key != table.key_fields:
            return self._job(map_id, "indexcsv", rng, now, [
                f"key {', '.join(key)} differs from the map's key fields ({', '.join(table.key_fields)})"], 0)
        try:
            header, rows, key_fields = parse_csv(data, table.schema if table else [],
                                                 table.key_fields if table else key)
        except CsvRejected as e:
            return self._job(map_id, "indexcsv", rng, now, e.errors, 0)
        if table is None:
            table = MappingTable(map_id, map_id, key_fields, now, now)
            self.maps[map_id] = table
        table.schema = list(header)
        table.rows = {table.key_of(r): r for r in rows}
        table.hashes = {k: row_hash(r) for k, r in table.rows.items()}
        table.updated_at = now
        return self._job(map_id, "indexcsv", rng, now, [], len(rows))

    # --- row operations ------------------------------------------------------------------------------
    def apply_ops(self, map_id: str, ops: list[tuple[Op, dict[str, Any]]], rng: SeededRandom,
                  now: float, kind: str = "patch") -> EnrichmentJob:
        table = self.get_map(map_id)
        rows, hashes = dict(table.rows), dict(table.hashes)
        columns: list[str] = []
        errors: list[str] = []
        for i, (op, value) in enumerate(ops):
            where = f"operations[{i}] ({op})"
            row = {str(k): _cell(v) for k, v in value.items()}
            missing = [k for k in table.key_fields if not row.get(k)]
            if missing:
                errors.append(f"{where}: the value lacks the key field(s) {', '.join(missing)}")
                continue
            key = table.key_of(row)
            exists = key in rows
            if op == "create" and exists:
                errors.append(f"{where}: a row with key {key!r} already exists")
            elif op in ("update", "delete") and not exists:
                errors.append(f"{where}: no row with key {key!r}")
            elif op == "delete":
                del rows[key], hashes[key]
            else:
                merged = {**rows.get(key, {}), **row}
                rows[key], hashes[key] = merged, row_hash(merged)
                columns += [c for c in row if c not in columns]
        if errors:
            raise bad_request(*errors)
        table.rows, table.hashes, table.updated_at = rows, hashes, now
        table.extend_schema(columns)
        return self._job(map_id, kind, rng, now, [], len(ops))

    # --- CMDB delta sync -----------------------------------------------------------------------------
    def delta(self, map_id: str, upserts: list[tuple[str, str, dict[str, Any]]], deletes: list[str],
              now: float) -> dict[str, int]:
        table = self.get_map(map_id, stale_hint=True)
        errors: list[str] = []
        keys = [k for k, _, _ in upserts]
        for dup in sorted({k for k in keys if keys.count(k) > 1}):
            errors.append(f"upserts: key {dup!r} appears more than once")
        for both in sorted(set(keys) & set(deletes)):
            errors.append(f"key {both!r} is both upserted and deleted")
        prepared = []
        for i, (key, digest, raw) in enumerate(upserts):
            row = {str(k): _cell(v) for k, v in raw.items()}
            derived = table.key_of(row) if all(row.get(k) for k in table.key_fields) else None
            if derived is not None and derived != key:
                errors.append(f"upserts[{i}]: key {key!r} does not match the row's key fields ({derived!r})")
            prepared.append((key, digest, row))
        if errors:
            raise bad_request(*errors)
        counts = {"upserted": 0, "deleted": 0, "unchanged": 0}
        for key, digest, row in prepared:
            if table.hashes.get(key) == digest and key in table.rows:
                counts["unchanged"] += 1
                continue
            table.rows[key], table.hashes[key] = row, digest
            table.extend_schema(row)
            counts["upserted"] += 1
        for key in deletes:
            if table.rows.pop(key, None) is not None:
                table.hashes.pop(key, None)
                counts["deleted"] += 1
        if counts["upserted"] or counts["deleted"]:
            table.updated_at = now
        return counts
