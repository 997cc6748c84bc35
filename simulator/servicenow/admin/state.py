"""The instance's state from and to files: seed fixtures, all or nothing, and snapshots.

Fixtures are checked first (tables, the shape of every record), then inserted as the system user
inside one SQLite savepoint: a record refused half-way (a business rule, a duplicate sys_id)
rolls back every record before it, and the in-memory state the inserts touched (number counters,
the random source, columns added through sys_dictionary) is put back. A snapshot is a copy of
the SQLite store, written atomically and readable by its owner only; a file is loaded only when
it is this simulator's database and holds no triggers or views (SQL that would run later).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from bpsn.simulator.common.admin import snapshot_dir_ready
from bpsn.simulator.servicenow.backend import ServiceNowBackend
from bpsn.simulator.servicenow.errors import bad_request


def _insert_all(backend: ServiceNowBackend, data: dict[str, Any]) -> int:
    tables = data.get("tables")
    if not isinstance(tables, dict):
        raise bad_request("Invalid fixtures", "expected a mapping 'tables: {table: [records]}'")
    for table, records in tables.items():
        backend.check_table(table)
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise bad_request("Invalid fixtures", f"{table}: expected a list of records")
    count = 0
    for table, records in tables.items():
        for record in records:
            backend.insert_system(table, record)
            count += 1
    return count


def load_fixtures(backend: ServiceNowBackend, data: dict[str, Any]) -> int:
    """Insert `{"tables": {table: [record, ...]}}` as the system user, all or nothing; how many."""
    store, dictionary = backend.store, backend.dictionary
    with store.lock:  # no other request writes between the savepoint and its end
        numbers, rng = dict(backend.numbers.next), backend.rng.getstate()
        fields_before = len(dictionary.runtime_fields)
        store.conn.execute("SAVEPOINT bpsn_fixtures")
        try:
            count = _insert_all(backend, data)
        except BaseException:
            store.conn.execute("ROLLBACK TO bpsn_fixtures")
            store.conn.execute("RELEASE bpsn_fixtures")
            for root, name in dictionary.remove_runtime_fields(keep=fields_before):
                store.forget_columns(root, [name])  # their ALTER TABLE was rolled back too
            backend.numbers.next.clear()
            backend.numbers.next.update(numbers)
            backend.rng.setstate(rng)
            backend.restored()
            raise
        store.conn.execute("RELEASE bpsn_fixtures")
    return count


def save_snapshot(backend: ServiceNowBackend, target: Path, folder: Path) -> None:
    temporary = target.with_name(target.name + ".tmp")
    try:
        snapshot_dir_ready(folder)
        temporary.unlink(missing_ok=True)
        backend.store.backup_to(str(temporary))
        os.chmod(temporary, 0o600)
        os.replace(temporary, target)  # a crash mid-write leaves the previous file as it was
    except (OSError, sqlite3.Error) as exc:
        temporary.unlink(missing_ok=True)
        raise bad_request("Cannot write snapshot", f"{target.name}: {getattr(exc, 'strerror', None) or exc}") \
            from None


def load_snapshot(backend: ServiceNowBackend, path: Path) -> None:
    check_snapshot_file(path)
    backend.store.restore_from(str(path))
    backend.restored()


def check_snapshot_file(path: Path) -> None:
    """A SQLite database of this simulator, opened read-only, with no triggers or views (SQL that
    would run inside the instance later): anything else is refused before the state changes."""
    if not path.is_file():
        raise bad_request("No such snapshot", path.name)
    try:
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        try:
            kinds = {row[0]: row[1] for row in db.execute(
                "SELECT type, count(*) FROM sqlite_master GROUP BY type")}
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            healthy = db.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise bad_request("Invalid snapshot", f"{path.name} is not a SQLite snapshot: {exc}") from None
    if not healthy or "sys_user" not in tables:
        raise bad_request("Invalid snapshot", f"{path.name} is damaged or not a ServiceNow simulator snapshot")
    if kinds.get("trigger") or kinds.get("view"):
        raise bad_request("Invalid snapshot", f"{path.name} holds triggers or views, which a snapshot never has")
