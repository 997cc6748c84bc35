"""What an instance keeps of each write besides the record: journal fields (work notes,
comments) in sys_journal_field, and one sys_audit row per changed field, as ServiceNow does."""

from __future__ import annotations

from typing import Protocol

from bpsn.base.rng import SeededRandom

from .dictionary import Dictionary
from .render import secret_shown
from .store import Order, Store, Where

UNAUDITED = ("sys_audit", "sys_journal_field")


class HistorySource(Protocol):
    """The backend's parts history writes with (read each time: a reset replaces the random source)."""

    store: Store
    dictionary: Dictionary
    rng: SeededRandom


class RecordHistory:
    def __init__(self, source: HistorySource) -> None:
        self._source = source

    def journal_entries(self, table: str, sys_id: str, element: str) -> list[dict[str, str]]:
        """A record's journal field, newest first (insertion order breaking ties within a second)."""
        oldest_first = self._source.store.select(
            "sys_journal_field", Where("element_id = ? AND element = ?", [sys_id, element]),
            [Order("sys_created_on")])
        return oldest_first[::-1]

    def add_journals(self, table: str, sys_id: str, journals: dict[str, str], user_name: str, now: str) -> None:
        s = self._source
        for element, text in journals.items():
            s.store.insert("sys_journal_field", {
                "sys_id": s.rng.hex32(), "sys_class_name": "sys_journal_field",
                "element_id": sys_id, "element": element, "name": table, "value": text,
                "sys_created_on": now, "sys_created_by": user_name,
                "sys_updated_on": now, "sys_updated_by": user_name, "sys_mod_count": "0"})

    def audit(self, table: str, old: dict[str, str], changed: dict[str, str], user_name: str, now: str) -> None:
        """One sys_audit row per changed field; secret fields as the Table API shows them, since
        sys_audit is readable through it."""
        if table in UNAUDITED:
            return
        s = self._source
        for fieldname, new in changed.items():
            if fieldname.startswith("sys_") and fieldname != "sys_id":
                continue
            before = old.get(fieldname, "")
            fdef = s.dictionary.field(table, fieldname)
            if fdef is not None and fdef.secret:
                before, new = secret_shown(fdef, before), secret_shown(fdef, new)
            s.store.insert("sys_audit", {
                "sys_id": s.rng.hex32(), "sys_class_name": "sys_audit", "tablename": table,
                "documentkey": old["sys_id"], "fieldname": fieldname, "oldvalue": before,
                "newvalue": new, "user": user_name, "record_checkpoint": changed.get("sys_mod_count", ""),
                "sys_created_on": now, "sys_created_by": user_name, "sys_updated_on": now,
                "sys_updated_by": user_name, "sys_mod_count": "0"})
