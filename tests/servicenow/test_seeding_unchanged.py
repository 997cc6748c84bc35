"""Seeding reads the ACL records once, after seeding, where it used to read them after each one:
the instance it makes is the same, row for row and in the same order."""

from __future__ import annotations

from typing import Any

from bpsn.base.clock import SimClock
from bpsn.simulator.servicenow.backend import ServiceNowBackend
from bpsn.simulator.servicenow.records.store import quote
from bpsn.simulator.servicenow.security.acl_records import TABLE as ACL_TABLE


class ReadsAclsOnEveryWrite(ServiceNowBackend):
    """The old path: every sys_security_acl insert, seeding included, reads the ACLs again."""

    acl_reads = 0

    def _changed(self, table: str) -> None:
        super()._changed(table)
        if table == ACL_TABLE and self._seeding:
            self.acl_reads += 1
            self._load_acls()


def dump(backend: ServiceNowBackend) -> dict[str, Any]:
    """Every row of every table in insertion order (rowid), password hashes included (the demo
    users' are made once per process), the schema, the random source, the counters and the ACLs."""
    store = backend.store
    tables = sorted(r["name"] for r in store.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
    rows = {t: [tuple(r) for r in store.execute(f"SELECT rowid, * FROM {quote(t)} ORDER BY rowid")] for t in tables}
    schema = sorted(tuple(r) for r in store.execute("SELECT type, name, sql FROM sqlite_master"))
    return {"rows": rows, "schema": schema, "rng": backend.rng.getstate(), "numbers": dict(backend.numbers.next),
            "acls": backend.acls.rules}


def test_seeding_makes_the_instance_the_old_path_made() -> None:
    new = ServiceNowBackend(clock=SimClock.virtual())
    old = ReadsAclsOnEveryWrite(clock=SimClock.virtual())
    assert old.acl_reads > 50  # the old path really ran
    assert dump(new) == dump(old)
    assert sum(len(r) for r in dump(new)["rows"].values()) > 300 and len(new.acls.rules) > 50


def test_after_a_reset_at_another_time_too() -> None:
    new, old = ServiceNowBackend(clock=SimClock.virtual()), ReadsAclsOnEveryWrite(clock=SimClock.virtual())
    for b in (new, old):
        b.clock.advance(60)
        b.reset()
    assert dump(new) == dump(old)
