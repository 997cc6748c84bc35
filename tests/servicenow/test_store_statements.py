"""The store's statements built once (records/statements.py) answer as the statements they replace:
an insert's row, made without reading it back, is the row SELECT * reads (values and column order),
through columns added, dropped and a template restored; reads and existence checks by sys_id follow
the tables' classes."""

from __future__ import annotations

from typing import Any

import pytest

from bpsn.base.clock import SimClock
from bpsn.simulator.servicenow.backend import ServiceNowBackend
from bpsn.simulator.servicenow.records.store import Store, Where


@pytest.fixture
def store() -> Store:
    return ServiceNowBackend(clock=SimClock.virtual()).store


def _insert(store: Store, n: int, **extra: Any) -> dict[str, Any]:
    values = {"sys_id": f"{n:032x}", "sys_class_name": "incident", "number": f"INC9{n:06d}",
              "short_description": f"row {n} é", "impact": "2", **extra}
    return store.insert("incident", values)


def _as_read(store: Store, row: dict[str, Any]) -> list[tuple[str, Any]]:
    """The row as get() reads it, which must be what a SELECT * names from the cursor gives."""
    read = store.get("incident", row["sys_id"])
    assert read is not None
    [selected] = store.select("incident", Where("sys_id = ?", [row["sys_id"]]))
    assert list(read.items()) == list(selected.items())
    return list(read.items())


def test_an_inserted_row_is_the_row_select_reads(store: Store) -> None:
    row = _insert(store, 1)
    assert list(row.items()) == _as_read(store, row)
    long = _insert(store, 2, short_description="x" * 500)  # cut to the column's 160, as before
    assert list(long.items()) == _as_read(store, long) and len(long["short_description"]) == 160


def test_values_that_are_not_plain_text_are_read_back(store: Store) -> None:
    row = _insert(store, 3, impact=2, urgency=1.5)  # SQLite stores their text: RETURNING says which
    assert list(row.items()) == _as_read(store, row)
    assert row["impact"] == "2" and row["urgency"] == "1.5"


def test_columns_added_dropped_and_restored(store: Store) -> None:
    template = store.template()
    store.dictionary.add_field("incident", "u_extra", {"type": "string"})
    row = _insert(store, 4, u_extra="kept")
    assert list(row.items()) == _as_read(store, row) and row["u_extra"] == "kept"
    assert _insert(store, 5)["u_extra"] == ""
    for root, column in store.dictionary.remove_runtime_fields():
        store.drop_column(root, column)
    row = _insert(store, 6, u_extra="gone")
    assert "u_extra" not in row and list(row.items()) == _as_read(store, row)
    store.dictionary.add_field("incident", "u_other", {"type": "string"})
    store.dictionary.add_field("incident", "u_extra", {"type": "string"})  # back, after u_other this time
    row = _insert(store, 7, u_extra="a", u_other="b")
    assert list(row.items()) == _as_read(store, row)
    for root, column in store.dictionary.remove_runtime_fields():  # as a reset does it
        store.drop_column(root, column)
    store.restore(template)
    row = _insert(store, 8)
    assert list(row.items()) == _as_read(store, row) and "u_other" not in row


def test_reads_by_sys_id_follow_the_classes(store: Store) -> None:
    row = _insert(store, 9)
    assert store.exists("incident", row["sys_id"]) and store.exists("task", row["sys_id"])
    assert store.get("task", row["sys_id"]) == store.get("incident", row["sys_id"])
    assert not store.exists("change_request", row["sys_id"]) and store.get("change_request", row["sys_id"]) is None
    assert not store.exists("incident", "f" * 32) and store.get("incident", "f" * 32) is None


def test_empty_values_are_left_to_the_column_default_and_no_other(store: Store) -> None:
    """An INSERT names the non-empty values only (records/statements.py non_empty); a value that is false
    but not "" (0, False) is still written, as before."""
    from bpsn.simulator.servicenow.records.statements import non_empty

    values = {"a": "", "b": "x", "c": 0, "d": None, "e": False, "f": "y", "g": 0.0}
    assert non_empty(values) == ("b", "c", "d", "e", "f", "g")
    assert non_empty({"a": "", "b": "x"}) == ("b",) and non_empty({}) == ()
    row = _insert(store, 10, impact=0, urgency=False, description="")
    assert list(row.items()) == _as_read(store, row)
    assert (row["impact"], row["urgency"], row["description"]) == ("0", "0", "")
