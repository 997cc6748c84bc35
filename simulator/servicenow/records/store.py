"""Records in SQLite: one SQL table per table hierarchy, every value a string.

A hierarchy (task, incident, change_request, ...) shares one SQL table named after its root,
told apart by sys_class_name, so a query on `task` sees incidents too. In memory by default,
or a file that survives a restart.

A value longer than its column holds is cut, silently, as a real instance's database does
(FieldDef.stored_length: a max_length up to 255 is a varchar of that size, so short_description
keeps 160 characters; longer ones are mediumtext, 16 MB): the Table API answers 201/200.
Password fields are stored as hashes or ciphertext and are never cut. The request-body limit
(simulator.common.middleware) keeps a 50 MB value from reaching here at all.
"""

from __future__ import annotations

import sqlite3
import threading
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .dictionary import Dictionary, FieldDef
from .result_cache import ResultCache
from .statements import BySysId, Statements, non_empty, quote

# From this offset on, a page is a slice of the query's cached row order (see result_cache)
# instead of an OFFSET walk: building that order visits every match once, which a shallow page
# of a large result should not pay when it is read without a count.
DEEP_OFFSET = 1_000
ROWID_CHUNK = 500  # rowids bound per statement when a page is read back (SQLite caps parameters)


@dataclass
class Where:
    """A SQL condition with its parameters; the empty Where matches everything."""

    sql: str = ""
    params: list[object] = field(default_factory=list)


@dataclass(frozen=True)
class Order:
    column: str
    descending: bool = False
    numeric: bool = False


class Store:
    def __init__(self, dictionary: Dictionary, path: str = ":memory:") -> None:
        self.dictionary = dictionary
        self.path = path
        self.lock = threading.RLock()
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL" if path != ":memory:" else "PRAGMA journal_mode=MEMORY")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        # one cursor for the statements of every request (insert, get, exists), each read to its end
        # under the lock: making and dropping a cursor per statement cost as much as a short read
        self._cursor = self.conn.cursor()
        self._cursor.row_factory = None  # zip over plain tuples: far cheaper than dict(sqlite3.Row)
        # root -> its columns. Replaced, never changed in place: Statements knows a layout by the
        # object it was built for (an identity check, where comparing 68 names cost 5 % of an insert)
        self._columns: dict[str, frozenset[str]] = {}
        self._indexes: set[tuple[str, tuple[str, ...]]] = set()
        self.results = ResultCache(self.conn)
        self._limit_cache: dict[str, tuple[dict[str, FieldDef], dict[str, int]]] = {}
        self.statements = Statements(self.conn)
        self.ensure_schema()
        dictionary.on_change(self._on_field_added)

    # --- schema -----------------------------------------------------------------------------
    def ensure_schema(self) -> None:
        with self.lock:
            roots = {self.dictionary.root(t) for t in self.dictionary.tables}
            for root in sorted(roots):
                self._ensure_root(root)

    def _ensure_root(self, root: str) -> None:
        cols = self.dictionary.hierarchy_fields(root)
        existing = {r["name"] for r in self.conn.execute(f"PRAGMA table_info({quote(root)})")}
        if not existing:
            defs = ", ".join(
                f"{quote(c)} TEXT NOT NULL DEFAULT ''" + (" PRIMARY KEY" if c == "sys_id" else "")
                for c in cols)
            self.conn.execute(f"CREATE TABLE {quote(root)} ({defs})")
            existing = set(cols)
        for c in cols:
            if c not in existing:
                self.conn.execute(f"ALTER TABLE {quote(root)} ADD COLUMN {quote(c)} TEXT NOT NULL DEFAULT ''")
                existing.add(c)
        for c, fdef in cols.items():
            if fdef.index and c != "sys_id":
                self.conn.execute(f"CREATE INDEX IF NOT EXISTS {quote(f'ix_{root}_{c}')} "
                                  f"ON {quote(root)} ({quote(c)})")
        self.conn.execute(f"CREATE INDEX IF NOT EXISTS {quote(f'ix_{root}_class')} "
                          f"ON {quote(root)} (sys_class_name)")
        self._columns[root] = frozenset(existing)
        self.results.invalidate()  # a column added: SELECT * rows change shape

    def _on_field_added(self, table: str, fdef: FieldDef) -> None:
        with self.lock:
            self._ensure_root(self.dictionary.root(table))

    def drop_column(self, root: str, column: str) -> None:
        with self.lock:
            if column in self._columns.get(root, frozenset()):
                for key in [k for k in self._indexes if k[0] == root and column in k[1]]:
                    self.conn.execute(f"DROP INDEX IF EXISTS {quote(self._index_name(*key))}")
                    self._indexes.discard(key)
                self.conn.execute(f"DROP INDEX IF EXISTS {quote(f'ix_{root}_{column}')}")  # SQLite keeps it else
                self.conn.execute(f"ALTER TABLE {quote(root)} DROP COLUMN {quote(column)}")
                self._columns[root] = self._columns[root] - {column}
                self.results.invalidate()

    def forget_columns(self, root: str, columns: Iterable[str]) -> None:
        """Columns whose ALTER TABLE was rolled back (a savepoint's): no longer the root's."""
        with self.lock:
            self._columns[root] = self._columns[root].difference(columns)

    def ensure_index(self, table: str, columns: Sequence[str]) -> None:
        """A composite index for a lookup the single-column indexes serve badly: with one index per
        column SQLite picks either, and a coalesce on (incident id, organisation) through the
        organisation index scans every row of the organisation."""
        key = (self.dictionary.root(table), tuple(columns))
        if key in self._indexes:
            return
        root, cols = key
        if all(c in self._columns[root] for c in cols):
            with self.lock:
                self.conn.execute(f"CREATE INDEX IF NOT EXISTS {quote(self._index_name(root, cols))} "
                                  f"ON {quote(root)} ({', '.join(quote(c) for c in cols)})")
            self._indexes.add(key)

    @staticmethod
    def _index_name(root: str, columns: tuple[str, ...]) -> str:
        return "ixc_" + root + "_" + "_".join(columns)

    def columns(self, table: str) -> frozenset[str]:
        return self._columns[self.dictionary.root(table)]

    # --- class restriction ----------------------------------------------------------------------
    def class_filter(self, table: str) -> Where:
        root = self.dictionary.root(table)
        classes = self.dictionary.descendants(table)
        if table == root and len(classes) == len(self.dictionary.descendants(root)):
            return Where()
        marks = ",".join("?" * len(classes))
        # unary + keeps SQLite from choosing the (unselective) class index over the column
        # indexes of the query itself (correlation_id, number, sys_updated_on, ...)
        return Where(f"+sys_class_name IN ({marks})", list(classes))

    # --- records ----------------------------------------------------------------------------------
    def _fit(self, table: str, values: dict[str, str]) -> dict[str, str]:
        """The values, each cut to what its column holds (see the module docstring)."""
        limits = self._limits(values.get("sys_class_name") or table)
        # walks the few limited fields (3 of an incident's 60), not every value of the record
        long = {name: size for name, size in limits.items()
                if (value := values.get(name)) and isinstance(value, str) and len(value) > size}
        return {**values, **{name: values[name][:size] for name, size in long.items()}} if long else values

    def _limits(self, table: str) -> dict[str, int]:
        """Each limited field's stored_length, kept while the dictionary's field map of the
        table is the same object (it makes a new one whenever a field or table is added)."""
        fields = self.dictionary.fields(table)
        known = self._limit_cache.get(table)
        if known is None or known[0] is not fields:
            limits = {name: size for name, f in fields.items() if (size := f.stored_length)}
            known = self._limit_cache[table] = (fields, limits)
        return known[1]

    def insert(self, table: str, values: dict[str, str]) -> dict[str, str]:
        if not values.get("sys_id"):
            raise ValueError(f"a new {table} record needs its sys_id")  # every caller makes one
        root = self.dictionary.root(table)
        values = self._fit(table, values)
        columns = self._columns[root]
        order = self.statements.text_columns(root, columns)
        # Every column TEXT NOT NULL DEFAULT '': an empty value is what SQLite stores for a column
        # left out, and most of a new record is empty (binding it was a fifth of the INSERT)
        given = non_empty(values) if order is not None else tuple(values)
        insert = self.statements.insert(root, given, columns)
        params = list(map(values.__getitem__, insert.inserted))
        if order is None or not set(map(type, params)) <= {str}:  # str itself: SQLite returns a plain str
            return self._returned(table, insert.sql + " RETURNING *", params) or {}
        # Every value a str: the row SQLite stores is known without reading it back (RETURNING *
        # cost as much as the INSERT itself).
        with self.lock:
            self._cursor.execute(insert.sql, params)
        row = self.statements.blank_row(root, order)  # in the table's column order, as RETURNING * gives it
        row.update(zip(insert.inserted, params))
        classes = self._by_sys_id(table).params  # the class filter's, built once per table
        return row if not classes or row["sys_class_name"] in classes else {}

    def _returned(self, table: str, sql: str, params: list[object]) -> dict[str, str] | None:
        """The row an INSERT / UPDATE ... RETURNING * wrote (no second SELECT), or None when it
        wrote none or the row's class is not `table`'s, exactly as get(table, sys_id) would say."""
        with self.lock:
            cursor = self.conn.cursor()
            cursor.row_factory = None
            cursor.execute(sql, params)
            rows = cursor.fetchall()  # to the end: the statement, and its autocommit, completes
            names = [d[0] for d in cursor.description]
        if not rows:
            return None
        row = dict(zip(names, rows[0], strict=True))
        classes = self._by_sys_id(table).params  # the class filter's, built once per table
        return row if not classes or row.get("sys_class_name") in classes else None

    def get(self, table: str, sys_id: str) -> dict[str, str] | None:
        """select(table, sys_id = ?, limit=1)'s row, by a statement built once per table."""
        by_id = self._by_sys_id(table)
        with self.lock:
            cursor = self._cursor
            rows = cursor.execute(by_id.select, (*by_id.params, sys_id)).fetchall()  # to the end: the read completes
            if not rows:
                return None
            root = self.dictionary.root(table)
            order = self.statements.text_columns(root, self._columns[root])
            if order is None:
                return dict(zip([d[0] for d in cursor.description], rows[0], strict=True))
            # SELECT *'s columns are the table's, in its order: fill a copy of the blank row, which
            # has every key already (no resizing, no names read from the cursor)
            row = self.statements.blank_row(root, order)
            row.update(zip(order, rows[0], strict=True))
            return row

    def _by_sys_id(self, table: str) -> BySysId:
        return self.statements.by_sys_id(table, self.dictionary.descendants(table), self._class_filter_sql)

    def _class_filter_sql(self, table: str) -> tuple[str, str, list[object]]:
        """(root, the class filter's SQL, its parameters) of `table`, for Statements.by_sys_id."""
        w = self.class_filter(table)
        return self.dictionary.root(table), w.sql, w.params

    def exists(self, table: str, sys_id: str) -> bool:
        """Whether get(table, sys_id) would find a row; on a hierarchy's root table it reads the
        primary key index only, no row."""
        by_id = self._by_sys_id(table)
        with self.lock:
            return bool(self._cursor.execute(by_id.exists, (*by_id.params, sys_id)).fetchall())  # to the end

    def update(self, table: str, sys_id: str, values: dict[str, str]) -> dict[str, str] | None:
        root = self.dictionary.root(table)
        values = self._fit(table, values)
        cols = [c for c in values if c in self._columns[root] and c != "sys_id"]
        if cols:
            assignments = ", ".join(f"{quote(c)} = ?" for c in cols)
            return self._returned(table, f"UPDATE {quote(root)} SET {assignments} WHERE sys_id = ? RETURNING *",
                                  [values[c] for c in cols] + [sys_id])
        return self.get(table, sys_id)

    def delete(self, table: str, sys_id: str) -> bool:
        root = self.dictionary.root(table)
        with self.lock:
            cur = self.conn.execute(f"DELETE FROM {quote(root)} WHERE sys_id = ?", [sys_id])
        return cur.rowcount > 0

    def _where(self, table: str, where: Where) -> Where:
        parts, params = [], []
        for w in (self.class_filter(table), where):
            if w.sql:
                parts.append(f"({w.sql})")
                params.extend(w.params)
        return Where(" AND ".join(parts), params)

    def select(self, table: str, where: Where | None = None, order: Sequence[Order] = (),
               limit: int | None = None, offset: int = 0,
               columns: Iterable[str] | None = None) -> list[dict[str, str]]:
        root = self.dictionary.root(table)
        w = self._where(table, where or Where())
        cols = "*" if columns is None else ", ".join(quote(c) for c in columns)
        sql = f"SELECT {cols} FROM {quote(root)}"
        if w.sql:
            sql += f" WHERE {w.sql}"
        order_terms = [self._order_sql(o) for o in order]
        order_terms.append("rowid")  # insertion order: stable paging when nothing else decides
        order_sql = ", ".join(order_terms)
        sql += " ORDER BY " + order_sql
        params = list(w.params)
        if limit is not None or offset:
            sql += " LIMIT ? OFFSET ?"
            params += [-1 if limit is None else limit, offset]
        with self.lock:
            if offset >= DEEP_OFFSET and self.results.usable():
                page = self._deep_page(root, w, order_sql, cols, limit, offset)
                if page is not None:
                    return page
            cursor = self.conn.cursor()
            cursor.row_factory = None  # zip over plain tuples: far cheaper than dict(sqlite3.Row)
            cursor.execute(sql, params)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor]

    def _deep_page(self, root: str, w: Where, order_sql: str, cols: str, limit: int | None,
                   offset: int) -> list[dict[str, str]] | None:
        """The rows the plain LIMIT / OFFSET statement answers, from the query's cached order
        (None: not worth building yet, see result_cache). The ORDER BY ends in rowid, so the
        order is total and the slice is the same rows."""
        key = (root, w.sql, tuple(w.params), order_sql)
        order = self.results.rowids(key)
        if order is None:
            if not self.results.worth_building(key):
                return None
            where = f" WHERE {w.sql}" if w.sql else ""
            cursor = self.conn.execute(f"SELECT rowid FROM {quote(root)}{where} ORDER BY {order_sql}", w.params)
            order = array("q", (r[0] for r in cursor))
            self.results.put_rowids(key, order)
        page = order[offset:] if limit is None else order[offset:offset + limit]
        found: dict[int, dict[str, str]] = {}
        for start in range(0, len(page), ROWID_CHUNK):
            chunk = page[start:start + ROWID_CHUNK]
            cursor = self.conn.cursor()
            cursor.row_factory = None
            cursor.execute(f"SELECT rowid, {cols} FROM {quote(root)} WHERE rowid IN "
                           f"({','.join('?' * len(chunk))})", list(chunk))
            names = [d[0] for d in cursor.description][1:]
            for row in cursor:
                found[row[0]] = dict(zip(names, row[1:], strict=True))
        return [found[r] for r in page]

    @staticmethod
    def _order_sql(o: Order) -> str:
        col = quote(o.column)
        expr = f"CAST(NULLIF({col}, '') AS REAL)" if o.numeric else col
        return f"{expr} {'DESC' if o.descending else 'ASC'}"

    def count(self, table: str, where: Where | None = None) -> int:
        root = self.dictionary.root(table)
        w = self._where(table, where or Where())
        sql = f"SELECT COUNT(*) FROM {quote(root)}" + (f" WHERE {w.sql}" if w.sql else "")
        with self.lock:
            if not self.results.usable():
                return int(self.conn.execute(sql, w.params).fetchone()[0])
            key = (root, w.sql, tuple(w.params))
            n = self.results.count(key)
            if n is None:
                n = int(self.conn.execute(sql, w.params).fetchone()[0])
                self.results.put_count(key, n)
            return n

    def execute(self, sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
        with self.lock:
            return list(self.conn.execute(sql, params))

    # --- whole-store operations --------------------------------------------------------------------
    def clear(self) -> None:
        with self.lock:
            for root in self._columns:
                self.conn.execute(f"DELETE FROM {quote(root)}")
            self.results.invalidate()

    def backup_to(self, path: str) -> None:
        with self.lock:
            dest = sqlite3.connect(path)
            try:
                self.conn.backup(dest)
            finally:
                dest.close()

    def restore_from(self, path: str) -> None:
        with self.lock:
            src = sqlite3.connect(path)
            try:
                src.backup(self.conn)
            finally:
                src.close()
            self.results.invalidate()  # the backup API replaces pages: no row change is counted
            self.statements.forget_layout()
            self._indexes.clear()  # the restored database has the indexes it was saved with
            self.ensure_schema()

    def template(self) -> StoreTemplate:
        """A copy of this store as it stands (SQLite's backup API): `restore` puts it back whole."""
        with self.lock:
            copy = sqlite3.connect(":memory:", check_same_thread=False)
            self.conn.backup(copy)
            return StoreTemplate(copy, set(self._indexes), dict(self._columns))

    def restore(self, template: StoreTemplate) -> None:
        """Every table back as it was when the template was taken: page by page, so a few
        milliseconds whatever the size (an in-memory store; a file is reset the slow way)."""
        with self.lock:
            template.conn.backup(self.conn)
            self.results.invalidate()
            self.statements.forget_layout()  # the template's columns may stand in another order
            self._indexes = set(template.indexes)
            self._columns = dict(template.columns)  # a column dropped since is back in the tables too

    def close(self) -> None:
        self.conn.close()


@dataclass
class StoreTemplate:
    conn: sqlite3.Connection
    indexes: set[tuple[str, tuple[str, ...]]]
    columns: dict[str, frozenset[str]]
