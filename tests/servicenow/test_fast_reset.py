"""A reset restores the seeded template: the same instance a first seeding makes, record for record."""

from __future__ import annotations

from typing import Any

from bpsn.base.clock import SimClock
from bpsn.simulator.servicenow.backend import SYSTEM, ServiceNowBackend
from bpsn.simulator.servicenow.records.store import quote


def everything(backend: ServiceNowBackend) -> dict[str, Any]:
    """Every row of every table (password hashes aside: salted anew for each instance), the schema,
    the random source and the number counters."""
    store = backend.store
    tables = sorted(r["name"] for r in store.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
    rows = {}
    for table in tables:
        found = [dict(r) for r in store.execute(f"SELECT * FROM {quote(table)} ORDER BY sys_id")]
        for row in found:
            row.pop("user_password", None)
        rows[table] = found
    schema = sorted(tuple(r) for r in store.execute("SELECT type, name, sql FROM sqlite_master"))
    return {"rows": rows, "schema": schema, "rng": backend.rng.getstate(), "numbers": dict(backend.numbers.next)}


def busy(backend: ServiceNowBackend) -> None:
    """Records of several kinds, a runtime column, numbers taken, the random source moved on."""
    for i in range(5):
        backend.insert("incident", {"short_description": f"disk {i}"}, SYSTEM)
    backend.insert("sys_dictionary", {"name": "incident", "element": "u_team", "internal_type": "string",
                                      "max_length": "40", "column_label": "Team"}, SYSTEM)
    backend.insert("incident", {"short_description": "with a team", "u_team": "dba"}, SYSTEM)
    backend.insert("sys_user_group", {"name": "Extra group"}, SYSTEM)
    backend.rng.hex32()


def test_a_reset_gives_the_instance_a_first_seeding_gives() -> None:
    fresh = ServiceNowBackend(clock=SimClock.virtual())
    used = ServiceNowBackend(clock=SimClock.virtual())
    for _ in range(3):
        busy(used)
        used.reset()
        assert everything(used) == everything(fresh)
    assert "u_team" not in used.dictionary.fields("incident")


def test_a_reset_at_another_time_seeds_again_at_that_time() -> None:
    clock = SimClock.virtual()
    backend = ServiceNowBackend(clock=clock)
    busy(backend)
    clock.advance(3600)
    backend.reset()
    groups = backend.store.execute('SELECT sys_created_on FROM "sys_user_group"')
    assert {r["sys_created_on"] for r in groups} == {"2026-01-01 01:00:00"}
    later = ServiceNowBackend(clock=SimClock.virtual(1_767_225_600.0 + 3600))
    assert everything(backend) == everything(later)


def test_a_reset_brings_back_a_column_dropped_since_the_template() -> None:
    """The store's own column map comes back with the tables: a column dropped from the store
    (as a test may, to check what goes with it) is written again after the reset."""
    backend = ServiceNowBackend(clock=SimClock.virtual())
    backend.store.drop_column("x_bip_panda_incident_metadata", "u_organization")
    backend.reset()
    assert "u_organization" in backend.store.columns("x_bip_panda_incident_metadata")
    backend.insert("x_bip_panda_incident_metadata", {"u_bp_incident_id": "bp-1", "u_organization": "acme"}, SYSTEM)
    [row] = backend.store.execute('SELECT u_organization FROM "x_bip_panda_incident_metadata" '
                                  "WHERE u_bp_incident_id = 'bp-1'")
    assert row["u_organization"] == "acme"
