"""The data dictionary: tables and fields as data, with table inheritance.

A child table has every field of its ancestors; a field redefined on a child (incident.state)
overrides the parent's definition for that table only. Records of a whole hierarchy live in
one store table named after the hierarchy's root, told apart by sys_class_name, as on a real
instance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from typing import Any

from bpsn.simulator.common.yaml_text import load_yaml

from .blank import BlankDicts

FIELD_TYPES = {"string", "integer", "boolean", "reference", "glide_date_time", "journal",
               "password", "password2", "guid", "email", "url"}
# Secrets: `password` is one-way (hashed, as sys_user.user_password is on an instance) and
# `password2` two-way (encrypted). No API returns, queries, sorts or aggregates either.
VARCHAR_MAX = 255  # longer string columns are mediumtext on a real instance's database
MEDIUMTEXT = 16_777_215
SECRET_TYPES = frozenset({"password", "password2"})

SYSTEM_FIELDS: dict[str, dict[str, Any]] = {
    "sys_id": {"type": "guid", "index": True, "read_only": True},
    "sys_class_name": {"type": "string", "read_only": True},
    "sys_created_on": {"type": "glide_date_time", "index": True, "read_only": True},
    "sys_created_by": {"type": "string", "read_only": True},
    "sys_updated_on": {"type": "glide_date_time", "index": True, "read_only": True},
    "sys_updated_by": {"type": "string", "read_only": True},
    "sys_mod_count": {"type": "integer", "read_only": True},
}


class DictionaryError(ValueError):
    """A table or field definition that cannot work."""


@dataclass(frozen=True)
class FieldDef:
    name: str
    type: str = "string"
    label: str = ""
    reference: str | None = None
    choices: dict[str, str] = field(default_factory=dict)
    default: str | None = None
    mandatory: bool = False
    max_length: int | None = None
    index: bool = False
    read_only: bool = False

    @property
    def numeric(self) -> bool:
        return self.type == "integer"

    @cached_property  # read for every field of every record rendered
    def secret(self) -> bool:
        return self.type in SECRET_TYPES

    @cached_property
    def plain(self) -> bool:
        """Shown as its stored text when raw values are asked for: no secret, journal or reference."""
        return not self.secret and self.type not in ("journal", "reference")

    @cached_property  # read for each value written
    def stored_length(self) -> int | None:
        """The most characters the instance keeps. The platform does not enforce max_length
        itself (KB0685779); its database does: up to 255 the column is varchar(max_length), longer
        ones are mediumtext (16,777,215 bytes). None: no limit here (a secret, or no max_length)."""
        if not self.max_length or self.secret:
            return None
        return self.max_length if self.max_length <= VARCHAR_MAX else MEDIUMTEXT

    def choice_label(self, value: str) -> str:
        return self.choices.get(value, value)


@dataclass
class TableDef:
    name: str
    label: str
    parent: str | None = None
    display: str | None = None
    number_prefix: str | None = None
    own_fields: dict[str, FieldDef] = field(default_factory=dict)


def _field_from_data(name: str, data: dict[str, Any]) -> FieldDef:
    kind = str(data.get("type", "string"))
    if kind not in FIELD_TYPES:
        raise DictionaryError(f"field {name}: unknown type {kind!r}")
    if kind == "reference" and not data.get("reference"):
        raise DictionaryError(f"field {name}: a reference field needs a 'reference' table")
    choices = {str(k): str(v) for k, v in (data.get("choices") or {}).items()}
    default = data.get("default")
    if kind in SECRET_TYPES and default not in (None, ""):
        raise DictionaryError(f"field {name}: a password field cannot have a default (it would be stored in clear)")
    return FieldDef(
        name=name, type=kind, label=str(data.get("label") or name.replace("_", " ").title()),
        reference=data.get("reference"), choices=choices,
        default=None if default is None else str(default),
        mandatory=bool(data.get("mandatory", False)), max_length=data.get("max_length"),
        index=bool(data.get("index", False)), read_only=bool(data.get("read_only", False)),
    )


class Dictionary:
    def __init__(self) -> None:
        self.tables: dict[str, TableDef] = {}
        self._fields_cache: dict[str, dict[str, FieldDef]] = {}
        self._ancestry_cache: dict[str, list[str]] = {}
        self._descendants_cache: dict[str, list[str]] = {}
        self._blank_records = BlankDicts()
        self._listeners: list[Any] = []
        self.runtime_fields: list[tuple[str, str]] = []  # (table, field) added after start
        self._started: dict[str, TableDef] = {}  # the tables as the instance started with them

    @classmethod
    def from_yaml_text(cls, text: str) -> Dictionary:
        data = load_yaml(text) or {}
        d = cls()
        for name, spec in (data.get("tables") or {}).items():
            d.add_table(name, spec or {}, validate=False)
        d.validate()
        d._started = dict(d.tables)
        return d

    @classmethod
    def default(cls) -> Dictionary:
        text = resources.files(__package__).joinpath("dictionary.yaml").read_text()
        return cls.from_yaml_text(text)

    def add_table(self, name: str, spec: dict[str, Any], *, validate: bool = True) -> TableDef:
        own = {fname: _field_from_data(fname, fspec or {})
               for fname, fspec in (spec.get("fields") or {}).items()}
        table = TableDef(name=name, label=str(spec.get("label", name)), parent=spec.get("parent"),
                         display=spec.get("display"), number_prefix=spec.get("number_prefix"),
                         own_fields=own)
        self.tables[name] = table
        self._fields_cache.clear()
        self._ancestry_cache.clear()
        self._descendants_cache.clear()
        if validate:
            self.validate()
        return table

    def on_change(self, listener: Any) -> None:
        """Called with (table, FieldDef) when a field is added at run time."""
        self._listeners.append(listener)

    def add_field(self, table: str, name: str, spec: dict[str, Any]) -> FieldDef:
        """Add a column at run time, as a u_* field added through sys_dictionary."""
        t = self.table(table)
        if not name.startswith("u_"):
            raise DictionaryError(f"custom field {name!r} must start with 'u_'")
        if name in self.fields(table):
            raise DictionaryError(f"field {name!r} already exists on {table}")
        fdef = _field_from_data(name, spec)
        if fdef.reference and fdef.reference not in self.tables:
            raise DictionaryError(f"field {name!r} references unknown table {fdef.reference!r}")
        t.own_fields[name] = fdef
        self._fields_cache.clear()
        self.runtime_fields.append((table, name))
        for listener in self._listeners:
            listener(table, fdef)
        return fdef

    def remove_runtime_fields(self, keep: int = 0) -> list[tuple[str, str]]:
        """Forget the columns added at run time after the first `keep` (all of them: a reset);
        returns the (root table, field) pairs forgotten."""
        dropped = self.runtime_fields[keep:]
        removed = [(self.root(table), name) for table, name in dropped]
        for table, name in dropped:
            self.tables[table].own_fields.pop(name, None)
        del self.runtime_fields[keep:]
        self._fields_cache.clear()
        return removed

    def remove_runtime_tables(self) -> list[str]:
        """Forget the tables added (or replaced) at run time through `add_table`, as a reset does;
        returns their names. Call after `remove_runtime_fields`."""
        if not self._started:  # built table by table, not from a dictionary file: nothing to go back to
            return []
        changed = [n for n, t in self.tables.items() if self._started.get(n) is not t]
        if changed:  # add_table only adds or replaces, so the started tables are all still named
            self.tables.clear()
            self.tables.update(self._started)
            self._fields_cache.clear()
            self._ancestry_cache.clear()
            self._descendants_cache.clear()
        return changed

    def validate(self) -> None:
        for t in self.tables.values():
            if t.parent and t.parent not in self.tables:
                raise DictionaryError(f"table {t.name}: unknown parent {t.parent!r}")
            for f in t.own_fields.values():
                if f.reference and f.reference not in self.tables:
                    raise DictionaryError(f"{t.name}.{f.name}: unknown reference {f.reference!r}")
        for name in self.tables:
            self.ancestry(name)  # raises on a cycle

    def exists(self, name: str) -> bool:
        return name in self.tables

    def table(self, name: str) -> TableDef:
        try:
            return self.tables[name]
        except KeyError:
            raise DictionaryError(f"Invalid table {name}") from None

    def ancestry(self, name: str) -> list[str]:
        """[name, parent, grandparent, ...]."""
        cached = self._ancestry_cache.get(name)
        if cached is not None:
            return cached
        chain, seen = [], set()
        current: str | None = name
        while current is not None:
            if current in seen:
                raise DictionaryError(f"table inheritance cycle at {current}")
            seen.add(current)
            chain.append(current)
            current = self.table(current).parent
        self._ancestry_cache[name] = chain
        return chain

    def root(self, name: str) -> str:
        return self.ancestry(name)[-1]

    def descendants(self, name: str) -> list[str]:
        """The table itself and every table that extends it."""
        cached = self._descendants_cache.get(name)
        if cached is None:
            cached = self._descendants_cache[name] = [t for t in self.tables if name in self.ancestry(t)]
        return cached

    def hierarchy_fields(self, root: str) -> dict[str, FieldDef]:
        """Every column any table of the hierarchy needs: the store's columns."""
        cols: dict[str, FieldDef] = {}
        for t in self.descendants(root):
            for fname, fdef in self.fields(t).items():
                cols.setdefault(fname, fdef)
        return cols

    def blank_record(self, name: str) -> dict[str, str]:
        """A new dict of the table's fields, each "" (kept while its field map is the same object)."""
        return self._blank_records.of(name, self.fields(name))

    def fields(self, name: str) -> dict[str, FieldDef]:
        cached = self._fields_cache.get(name)
        if cached is not None:
            return cached
        merged: dict[str, FieldDef] = {k: _field_from_data(k, v) for k, v in SYSTEM_FIELDS.items()}
        for t in reversed(self.ancestry(name)):
            merged.update(self.tables[t].own_fields)
        self._fields_cache[name] = merged
        return merged

    def field(self, table: str, name: str) -> FieldDef | None:
        return self.fields(table).get(name)

    def display_field(self, table: str) -> str:
        for t in self.ancestry(table):
            if self.tables[t].display:
                return str(self.tables[t].display)
        return "sys_id"

    def number_prefix(self, table: str) -> str | None:
        for t in self.ancestry(table):
            if self.tables[t].number_prefix:
                return self.tables[t].number_prefix
        return None
