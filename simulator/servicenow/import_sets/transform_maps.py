"""Transform maps as data (transform_maps.yaml, or added at run time): the registry.

A map says how a row of a staging table (a table extending sys_import_set_row) becomes a
record of a target table; import_sets.py runs them. Validated against the data dictionary
when added, so a map that cannot work is refused then, not at the first import.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

from bpsn.simulator.common.yaml_text import load_yaml
from bpsn.simulator.servicenow.records.dictionary import Dictionary

ROW_TABLE = "sys_import_set_row"
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


class TransformMaps:
    """The instance's transform maps, by name (sys_transform_map as data)."""

    def __init__(self, dictionary: Dictionary) -> None:
        self.dictionary = dictionary
        self.maps: dict[str, TransformMap] = {}

    @classmethod
    def from_yaml_text(cls, dictionary: Dictionary, text: str) -> TransformMaps:
        registry = cls(dictionary)
        for spec in (load_yaml(text) or {}).get("maps") or []:
            registry.add(spec)
        return registry

    @classmethod
    def default(cls, dictionary: Dictionary) -> TransformMaps:
        text = resources.files(__package__).joinpath("transform_maps.yaml").read_text()
        return cls.from_yaml_text(dictionary, text)

    def add(self, spec: TransformMap | dict[str, Any]) -> TransformMap:
        """Add (or replace, by name) a map; raises TransformMapError if it cannot work."""
        m = spec if isinstance(spec, TransformMap) else parse_map(spec)
        self.validate(m)
        self.maps[m.name] = m
        return m

    def remove(self, name: str) -> bool:
        return self.maps.pop(name, None) is not None

    def for_source(self, table: str) -> list[TransformMap]:
        return sorted((m for m in self.maps.values() if m.active and m.source_table == table),
                      key=lambda m: (m.order, m.name))

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
