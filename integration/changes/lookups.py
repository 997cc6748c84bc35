"""Gathers, in few requests, what the CI fallback chain (ci_resolution.py) needs for a page of
records: their parents, their affected CIs, the CI names, and CIs named in their text.

For a page: one query for the parents (a change task's change request, an outage's task), one
for the `task_ci` rows of the records and parents (per 100 tasks), one for the CI names
(through the shared ReferenceCache, so names seen recently cost nothing), and, only for
records still without a CI after levels 1-3, one for the words of their text that may name
a CI (level 4).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bpsn.integration.clients.lookups import ReferenceCache
from bpsn.integration.clients.servicenow import ServiceNowClient

from .ci_resolution import CiLookups, CiRef, RecordCis, names_in_text, resolve_ci

PARENT_FIELDS = ["sys_id", "number", "sys_class_name", "cmdb_ci", "business_service", "short_description",
                 "description"]
CHUNK = 100


@dataclass(frozen=True)
class RecordSource:
    """How a table's records lead to CIs."""

    table: str
    is_task: bool  # a task has affected CIs (task_ci) and a business_service
    parent_field: str = ""  # the reference to the task the record belongs to
    parent_table: str = "task"


SOURCES = {
    "change_request": RecordSource("change_request", True),
    "change_task": RecordSource("change_task", True, "change_request", "change_request"),
    "cmdb_ci_outage": RecordSource("cmdb_ci_outage", False, "task_number", "task"),
}


@dataclass
class Gathered:
    lookups: dict[str, CiLookups] = field(default_factory=dict)  # record sys_id -> lookups
    parents: dict[str, dict[str, Any]] = field(default_factory=dict)  # parent sys_id -> row


def affected_cis(rows: list[tuple[str, str]], ref: Any) -> tuple[CiRef, ...]:
    """Oldest first; rows of the same second by CI name (see CiLookupGatherer._affected)."""
    found = [(created, ci) for created, sys_id in rows if (ci := ref(sys_id)) is not None]
    return tuple(ci for _, ci in sorted(found, key=lambda pair: (pair[0], pair[1].name)))


def _chunks(items: list[str], size: int = CHUNK) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


class CiLookupGatherer:
    def __init__(self, servicenow: ServiceNowClient, references: ReferenceCache) -> None:
        self.servicenow, self.references = servicenow, references

    async def gather(self, source: RecordSource, rows: list[dict[str, Any]]) -> Gathered:
        parents = await self._parents(source, rows)
        task_ids = [str(r["sys_id"]) for r in rows] if source.is_task else []
        affected = await self._affected(task_ids + list(parents))
        ci_ids = {str(row.get(f) or "") for row in [*rows, *parents.values()] for f in ("cmdb_ci", "business_service")}
        ci_ids |= {ci for cis in affected.values() for _, ci in cis}
        names = await self.references.names("cmdb_ci", ci_ids - {""})

        def cis(row: Mapping[str, Any], table: str, named: tuple[CiRef, ...] = ()) -> RecordCis:
            def ref(sys_id: str) -> CiRef | None:
                return CiRef(sys_id, names[sys_id]) if sys_id in names else None
            return RecordCis(
                label=f"{table} {row.get('number') or row.get('sys_id')}", ci=ref(str(row.get("cmdb_ci") or "")),
                affected=affected_cis(affected.get(str(row["sys_id"]), []), ref),
                business_service=ref(str(row.get("business_service") or "")), named=named)

        def parent_of(row: Mapping[str, Any]) -> dict[str, Any] | None:
            return parents.get(str(row.get(source.parent_field) or "")) if source.parent_field else None

        def lookups(row: Mapping[str, Any], named: Mapping[str, CiRef]) -> CiLookups:
            parent = parent_of(row)

            def named_in(r: Mapping[str, Any]) -> tuple[CiRef, ...]:
                words = names_in_text(str(r.get("short_description") or ""), str(r.get("description") or ""))
                return tuple(named[w] for w in words if w in named)
            return CiLookups(cis(row, source.table, named_in(row)),
                             cis(parent, str(parent.get("sys_class_name") or source.parent_table), named_in(parent))
                             if parent else None)

        out = Gathered(parents=parents)
        out.lookups = {str(r["sys_id"]): lookups(r, {}) for r in rows}
        unresolved = [r for r in rows if not resolve_ci(out.lookups[str(r["sys_id"])]).found]
        if unresolved:
            texts = [x for r in unresolved for x in (r, parent_of(r)) if x]
            words = sorted({w for t in texts for w in names_in_text(str(t.get("short_description") or ""),
                                                                        str(t.get("description") or ""))})
            named: dict[str, CiRef] = {}
            for chunk in _chunks(words):
                for name, sys_id in (await self.references.sys_ids("cmdb_ci", chunk, "name")).items():
                    named[name] = CiRef(sys_id, name)
            for r in unresolved:
                out.lookups[str(r["sys_id"])] = lookups(r, named)
        return out

    async def _parents(self, source: RecordSource, rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        if not source.parent_field:
            return {}
        ids = sorted({str(r.get(source.parent_field) or "") for r in rows} - {""})
        parents: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(ids):
            for row in await self.servicenow.query(source.parent_table, "sys_idIN" + ",".join(chunk),
                                                   fields=PARENT_FIELDS, limit=len(chunk)):
                parents[str(row["sys_id"])] = row
        return parents

    async def _affected(self, task_ids: list[str]) -> dict[str, list[tuple[str, str]]]:
        """task sys_id -> (created on, CI sys_id) of its affected CIs. Timestamps have one-second
        resolution and sys_ids are random, so rows of the same second are put in order by the
        caller, by CI name: the same CIs always come out in the same order."""
        affected: dict[str, list[tuple[str, str]]] = {}
        for chunk in _chunks(sorted(set(task_ids))):
            rows = await self.servicenow.query_all("task_ci", "taskIN" + ",".join(chunk) + "^ORDERBYsys_created_on",
                                                   fields=["task", "ci_item", "sys_created_on"])
            for row in rows:
                if row.get("ci_item"):
                    affected.setdefault(str(row["task"]), []).append(
                        (str(row.get("sys_created_on") or ""), str(row["ci_item"])))
        return affected
