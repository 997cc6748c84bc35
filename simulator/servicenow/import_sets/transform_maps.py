"""Transform maps as data: records in sys_transform_map and sys_transform_entry.

A map says how a row of a staging table (a table extending sys_import_set_row) becomes a
record of a target table; staging.py runs them. transform_maps.yaml holds the defaults, seeded
as records; an admin changes them through the Table API and the next import follows the
records. A map added through `add` is validated against the data dictionary then; records
changed by hand are validated at the import, where a map that cannot work is each row's error.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any, Protocol

from bpsn.simulator.common.yaml_text import load_yaml
from bpsn.simulator.servicenow.records.dictionary import Dictionary
from bpsn.simulator.servicenow.records.store import Store, Where

ROW_TABLE = "sys_import_set_row"
MAP_TABLE, ENTRY_TABLE = "sys_transform_map", "sys_transform_entry"
CHOICE_ACTIONS = ("create", "ignore", "reject")
MAP_KEYS = {"name", "source_table", "target_table", "active", "order", "coalesce", "field_map",
            "run_business_rules", "copy_empty", "script"}
Hook = Callable[..., None]  # (source row, target values, TransformContext): import_sets/staging.py


class TransformMapError(ValueError):
    """A transform map that cannot work on this dictionary."""


@dataclass(frozen=True)
class FieldMapping:
    target: str
    source: str
    choice_action: str = "create"
    reference_lookup: str | None = None


@dataclass(frozen=True)
class TransformMap:
    name: str
    source_table: str
    target_table: str
    field_map: tuple[FieldMapping, ...]
    coalesce: tuple[str, ...] = ()
    active: bool = True
    order: int = 100
    copy_empty: bool = False  # as the instance's "Copy empty fields": off, empty sources are not written
    script: Hook | None = None
    broken: str = ""  # why the map's records cannot work on this dictionary ("" when they can)


def _resolve_script(ref: Any) -> Hook | None:
    if ref is None or callable(ref):
        return ref
    module, sep, attr = str(ref).partition(":")
    if not sep or not module or not attr:
        raise TransformMapError(f"script {ref!r}: expected 'module.path:function'")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise TransformMapError(f"script {ref!r}: {exc}") from None
    if not callable(fn):
        raise TransformMapError(f"script {ref!r} is not callable")
    return fn


def _mapping(target: str, spec: Any) -> FieldMapping:
    if isinstance(spec, str):
        return FieldMapping(target, spec)
    if not isinstance(spec, dict) or not isinstance(spec.get("source"), str):
        raise TransformMapError(f"field_map.{target}: expected a source field or {{source: ...}}")
    extra = set(spec) - {"source", "choice_action", "reference_lookup"}
    if extra:
        raise TransformMapError(f"field_map.{target}: unknown keys {sorted(extra)}")
    return FieldMapping(target, spec["source"], str(spec.get("choice_action", "create")),
                        spec.get("reference_lookup"))


def parse_map(spec: dict[str, Any]) -> TransformMap:
    if not isinstance(spec, dict):
        raise TransformMapError("a transform map is a mapping")
    unknown = set(spec) - MAP_KEYS
    missing = {"name", "source_table", "target_table", "field_map"} - set(spec)
    if unknown or missing:
        raise TransformMapError(f"transform map {spec.get('name')!r}: unknown keys {sorted(unknown)}, "
                                f"missing keys {sorted(missing)}")
    if spec.get("run_business_rules", True) is not True:
        raise TransformMapError(f"{spec['name']}: run_business_rules false is not supported "
                                "(the simulator's base business rules always run)")
    if not isinstance(spec["field_map"], dict):
        raise TransformMapError(f"{spec['name']}: field_map must map target fields to sources")
    try:
        order = int(spec.get("order", 100))
    except (TypeError, ValueError):
        raise TransformMapError(f"{spec['name']}: order must be a whole number") from None
    if not isinstance(spec.get("coalesce") or [], list):
        raise TransformMapError(f"{spec['name']}: coalesce must be a list of target fields")
    return TransformMap(
        name=str(spec["name"]), source_table=str(spec["source_table"]), target_table=str(spec["target_table"]),
        field_map=tuple(_mapping(str(t), s) for t, s in spec["field_map"].items()),
        coalesce=tuple(str(f) for f in spec.get("coalesce") or ()), active=bool(spec.get("active", True)),
        order=order, copy_empty=bool(spec.get("copy_empty", False)),
        script=_resolve_script(spec.get("script")))


class RecordHost(Protocol):
    """What the registry needs of the backend: its store, and system inserts (business rules run)."""

    store: Store

    def insert_system(self, table: str, body: dict[str, Any]) -> dict[str, str]: ...


class TransformMaps:
    """The instance's transform maps: records in sys_transform_map and sys_transform_entry.

    The maps of transform_maps.yaml are the defaults, written as records at every reset; an
    admin changes them through the Table API like any record, and `for_source` reads what the
    records say at each import. Script hooks are Python callables kept here by map name: they
    are code, so they never come from a request (a record cannot name one)."""

    def __init__(self, dictionary: Dictionary, defaults: list[TransformMap] | None = None) -> None:
        self.dictionary = dictionary
        self.defaults = list(defaults or [])
        self.hooks: dict[str, Hook] = {m.name: m.script for m in self.defaults if m.script is not None}
        self._host: RecordHost | None = None

    @classmethod
    def from_yaml_text(cls, dictionary: Dictionary, text: str) -> TransformMaps:
        registry = cls(dictionary)
        for spec in (load_yaml(text) or {}).get("maps") or []:
            m = parse_map(spec)
            registry.validate(m)
            registry.defaults.append(m)
            if m.script is not None:
                registry.hooks[m.name] = m.script
        return registry

    @classmethod
    def default(cls, dictionary: Dictionary) -> TransformMaps:
        text = resources.files(__package__).joinpath("transform_maps.yaml").read_text()
        return cls.from_yaml_text(dictionary, text)

    def attach(self, host: RecordHost) -> None:
        """The backend whose records hold the maps (set once, by the backend)."""
        self._host = host

    @property
    def host(self) -> RecordHost:
        if self._host is None:
            raise RuntimeError("TransformMaps: attach() the backend before reading or writing maps")
        return self._host

    def seed(self) -> None:
        """Write the default maps as records (the backend's reset seeds them)."""
        for m in self.defaults:
            self._write(m)

    def add(self, spec: TransformMap | dict[str, Any]) -> TransformMap:
        """Add (or replace, by name) a map as records; raises TransformMapError if it cannot work."""
        m = spec if isinstance(spec, TransformMap) else parse_map(spec)
        self.validate(m)
        self.remove(m.name)
        if m.script is not None:
            self.hooks[m.name] = m.script
        self._write(m)
        return m

    def remove(self, name: str) -> bool:
        store = self.host.store
        rows = store.select(MAP_TABLE, Where("name = ?", [name]), columns=["sys_id"])
        for row in rows:
            for entry in store.select(ENTRY_TABLE, Where('"map" = ?', [row["sys_id"]]), columns=["sys_id"]):
                store.delete(ENTRY_TABLE, entry["sys_id"])
            store.delete(MAP_TABLE, row["sys_id"])
        self.hooks.pop(name, None)
        return bool(rows)

    def for_source(self, table: str) -> list[TransformMap]:
        """The active maps of a staging table as their records say now, in order. A map whose
        records cannot work comes back `broken` (each row it meets is that map's error)."""
        store = self.host.store
        rows = store.select(MAP_TABLE, Where("source_table = ? AND active = ?", [table, "true"]))
        maps = [self._from_records(row, store.select(ENTRY_TABLE, Where('"map" = ?', [row["sys_id"]])))
                for row in rows]
        return sorted(maps, key=lambda m: (m.order, m.name))

    def _from_records(self, row: dict[str, str], entries: list[dict[str, str]]) -> TransformMap:
        try:
            order = int(row.get("order") or 100)
        except ValueError:
            order = 100
        m = TransformMap(
            name=row["name"], source_table=row["source_table"], target_table=row["target_table"],
            field_map=tuple(FieldMapping(e["target_field"], e["source_field"], e.get("choice_action") or "create",
                                         e.get("reference_value_field") or None) for e in entries),
            coalesce=tuple(e["target_field"] for e in entries if e.get("coalesce") == "true"),
            order=order, copy_empty=row.get("copy_empty_fields") == "true", script=self.hooks.get(row["name"]))
        try:
            if row.get("run_business_rules", "true") != "true":
                raise TransformMapError("run_business_rules false is not supported (the simulator's base "
                                        "business rules always run)")
            self.validate(m)
        except TransformMapError as exc:
            return replace(m, broken=str(exc))
        return m

    def _write(self, m: TransformMap) -> None:
        host = self.host
        record = host.insert_system(MAP_TABLE, {
            "name": m.name, "source_table": m.source_table, "target_table": m.target_table,
            "active": "true" if m.active else "false", "order": str(m.order), "run_business_rules": "true",
            "copy_empty_fields": "true" if m.copy_empty else "false"})
        for fm in m.field_map:
            host.insert_system(ENTRY_TABLE, {
                "map": record["sys_id"], "source_table": m.source_table, "source_field": fm.source,
                "target_table": m.target_table, "target_field": fm.target,
                "coalesce": "true" if fm.target in m.coalesce else "false", "choice_action": fm.choice_action,
                "reference_value_field": fm.reference_lookup or ""})

    def validate(self, m: TransformMap) -> None:
        d = self.dictionary
        if not is_staging(d, m.source_table):
            raise TransformMapError(f"{m.name}: source table {m.source_table!r} must exist and extend {ROW_TABLE}")
        if not d.exists(m.target_table):
            raise TransformMapError(f"{m.name}: unknown target table {m.target_table!r}")
        sources, targets = d.fields(m.source_table), d.fields(m.target_table)
        for fm in m.field_map:
            fdef = targets.get(fm.target)
            if fdef is None or (fdef.read_only and fm.target != "sys_id"):
                raise TransformMapError(f"{m.name}: {m.target_table}.{fm.target} is not a writable field")
            if fm.source not in sources:
                raise TransformMapError(f"{m.name}: {m.source_table}.{fm.source} is not a field")
            if fm.choice_action not in CHOICE_ACTIONS:
                raise TransformMapError(f"{m.name}: choice_action of {fm.target} must be one of {CHOICE_ACTIONS}")
            if fm.reference_lookup is not None and (
                    fdef.type != "reference" or fm.reference_lookup not in d.fields(str(fdef.reference))):
                raise TransformMapError(f"{m.name}: reference_lookup of {fm.target} must name a field "
                                        "of the referenced table")
        mapped = {fm.target for fm in m.field_map}
        if not set(m.coalesce) <= mapped:
            raise TransformMapError(f"{m.name}: coalesce fields {sorted(set(m.coalesce) - mapped)} are not in field_map")


def is_staging(dictionary: Dictionary, table: str) -> bool:
    return dictionary.exists(table) and table != ROW_TABLE and ROW_TABLE in dictionary.ancestry(table)
