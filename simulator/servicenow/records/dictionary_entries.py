"""sys_dictionary: the dictionary as records, and new u_* columns added by inserting one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from bpsn.simulator.servicenow.errors import SnError, bad_request

from .dictionary import Dictionary, DictionaryError, FieldDef

TABLE = "sys_dictionary"


def entry(table: str, f: FieldDef) -> dict[str, str]:
    return {"name": table, "element": f.name, "internal_type": f.type, "column_label": f.label,
            "reference": f.reference or "", "mandatory": "true" if f.mandatory else "false",
            "default_value": f.default or "", "max_length": str(f.max_length or "")}


def all_entries(dictionary: Dictionary) -> list[dict[str, str]]:
    """One row per field each table defines itself (inherited fields live on the parent)."""
    return [entry(name, f) for name, t in dictionary.tables.items() for f in t.own_fields.values()]


def seed_rows(dictionary: Dictionary, new_sys_id: Callable[[], str], now: str) -> Iterator[dict[str, str]]:
    """all_entries as the system's records, stamped `now`: each row's sys_id drawn as it is made."""
    for row in all_entries(dictionary):
        yield {**row, "sys_id": new_sys_id(), "sys_class_name": TABLE, "sys_created_on": now,
               "sys_created_by": "system", "sys_updated_on": now, "sys_updated_by": "system", "sys_mod_count": "0"}


def add_column(dictionary: Dictionary, record: dict[str, Any]) -> None:
    """Insert-time rule of sys_dictionary: the new column must be valid, then it exists."""
    table, element = str(record.get("name", "")), str(record.get("element", ""))
    if not dictionary.exists(table):
        raise bad_request(f"Invalid table {table}", "sys_dictionary.name must name an existing table")
    spec: dict[str, Any] = {"type": record.get("internal_type") or "string",
                            "label": record.get("column_label") or element.replace("_", " ").title(),
                            "mandatory": str(record.get("mandatory", "false")).lower() == "true"}
    if record.get("reference"):
        spec["reference"] = record["reference"]
    if record.get("default_value"):
        spec["default"] = record["default_value"]
    if str(record.get("max_length", "")).isdigit():
        spec["max_length"] = int(record["max_length"])
    try:
        dictionary.add_field(table, element, spec)
    except DictionaryError as exc:
        raise SnError(403, "Operation Failed", f"Invalid dictionary entry: {exc}") from None
