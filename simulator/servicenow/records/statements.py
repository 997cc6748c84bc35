"""The SQL a Store runs on every request, built once: an insert of the same fields as the last
record, a read or existence check by sys_id, and whether a root table's columns are all plain text
(then an inserted row is known without reading it back).

Each entry says what it was built from and is rebuilt when that changed: the column set of the
root table (columns added, dropped, or rolled back), or the dictionary's list of a table's classes
(a new object whenever a table is added). `forget_layout` is for a store whose pages were replaced
(a backup restored), where columns may stand in another order with the same names.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from itertools import compress, repeat
from operator import countOf, ne

from .blank import BlankDicts

MAX_INSERTS = 256  # distinct field lists kept; a store rarely sees more than a few per table


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def non_empty(values: dict[str, object]) -> tuple[str, ...]:
    """The names whose value is not "", in order: the fields an INSERT names (the others are left
    to the column default ''). Selected by truth in C; when the values that are false are not all
    "" (a 0, a None), by comparison instead."""
    true = tuple(compress(values, values.values()))
    if len(values) - len(true) == countOf(values.values(), ""):
        return true
    return tuple(compress(values, map(ne, values.values(), repeat(""))))


@dataclass(frozen=True)
class Insert:
    columns: frozenset[str]  # the root's columns it was built for (the store's very object)
    inserted: tuple[str, ...]  # the given fields that are columns, in the order given
    sql: str  # without RETURNING


@dataclass(frozen=True)
class BySysId:
    classes: list[str]  # the dictionary's list it was built for (compared by identity)
    select: str  # SELECT * ... LIMIT 1
    exists: str  # SELECT 1 ... LIMIT 1
    params: tuple[object, ...]  # the class filter's; the sys_id follows


class Statements:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._inserts: dict[tuple[str, tuple[str, ...]], Insert] = {}
        self._by_sys_id: dict[str, BySysId] = {}
        self._layouts: dict[str, tuple[frozenset[str], tuple[str, ...] | None]] = {}  # by the columns object
        self._blank_rows = BlankDicts()

    def insert(self, root: str, fields: tuple[str, ...], columns: frozenset[str]) -> Insert:
        """`columns`: the store's columns of `root`, an object replaced whenever they change (Store)."""
        known = self._inserts.get((root, fields))
        if known is None or known.columns is not columns:
            inserted = tuple(c for c in fields if c in columns)
            known = Insert(columns, inserted,
                           f"INSERT INTO {quote(root)} ({', '.join(quote(c) for c in inserted)}) "
                           f"VALUES ({', '.join('?' * len(inserted))})")
            if len(self._inserts) >= MAX_INSERTS:
                self._inserts.clear()
            self._inserts[(root, fields)] = known
        return known

    def by_sys_id(self, table: str, classes: list[str],
                  class_filter: Callable[[str], tuple[str, str, list[object]]]) -> BySysId:
        """`class_filter(table)`: (the root table, the store's condition on the class column for
        `table` ('' for none), its parameters); called only when the statements are (re)built."""
        known = self._by_sys_id.get(table)
        if known is None or known.classes is not classes:
            root, sql, params = class_filter(table)
            where = f"({sql}) AND (sys_id = ?)" if sql else "(sys_id = ?)"
            known = self._by_sys_id[table] = BySysId(
                classes, f"SELECT * FROM {quote(root)} WHERE {where} LIMIT 1",
                f"SELECT 1 FROM {quote(root)} WHERE {where} LIMIT 1", tuple(params))
        return known

    def text_columns(self, root: str, columns: frozenset[str]) -> tuple[str, ...] | None:
        """The root table's columns in SQLite's order when each is TEXT NOT NULL DEFAULT '' (so a str
        is stored as it is and a column left out reads ""), else None."""
        known = self._layouts.get(root)
        if known is None or known[0] is not columns:
            info = list(self.conn.execute(f"PRAGMA table_info({quote(root)})"))
            order = tuple(str(r[1]) for r in info)  # (cid, name, type, notnull, dflt_value, pk)
            plain = all(str(r[2]).upper() == "TEXT" and r[3] and r[4] == "''" for r in info)
            known = (columns, order if plain and set(order) == columns else None)
            self._layouts[root] = known
        return known[1]

    def blank_row(self, root: str, order: tuple[str, ...]) -> dict[str, str]:
        """dict.fromkeys(order, ""), a new dict (kept while the column order, text_columns, is the same object)."""
        return self._blank_rows.of(root, order)

    def forget_layout(self) -> None:
        self._layouts.clear()
