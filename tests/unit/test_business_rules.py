"""ServiceNow's platform rules on insert and update, through the backend."""

from __future__ import annotations

import asyncio

import pytest

from bpsn.base.clock import SimClock
from bpsn.simulator.servicenow.backend import ServiceNowBackend
from bpsn.simulator.servicenow.errors import SnError
from bpsn.simulator.servicenow.records.business_rules import Actor

ADMIN = Actor("admin", "", frozenset({"admin"}))


@pytest.fixture
def sn() -> ServiceNowBackend:
    return ServiceNowBackend(clock=SimClock.virtual())


def test_numbers_defaults_and_priority(sn: ServiceNowBackend) -> None:
    a = sn.insert("incident", {"short_description": "x", "impact": "1", "urgency": "2"}, ADMIN)
    b = sn.insert("incident", {"short_description": "y"}, ADMIN)
    assert (a["number"], b["number"]) == ("INC0010001", "INC0010002")
    assert a["priority"] == "2" and b["priority"] == "5"
    assert a["state"] == "1" and a["active"] == "true" and a["sys_mod_count"] == "0"
    assert a["opened_at"] == a["sys_created_on"] == "2026-01-01 00:00:00"
    assert sn.insert("change_request", {}, ADMIN)["number"] == "CHG0010001"


def test_resolving_needs_code_and_notes_and_sets_platform_fields(sn: ServiceNowBackend) -> None:
    inc = sn.insert("incident", {"short_description": "x"}, ADMIN)
    with pytest.raises(SnError) as err:
        sn.update("incident", inc["sys_id"], {"state": "6"}, ADMIN)
    assert err.value.status_code == 403 and "Resolution code, Resolution notes" in str(err.value.detail)
    assert sn.get("incident", inc["sys_id"])["state"] == "1"  # nothing changed
    sn.clock.advance(60)
    done = sn.update("incident", inc["sys_id"], {"state": "6", "close_code": "Solution provided",
                                                 "close_notes": "fixed"}, ADMIN)
    assert done["resolved_at"] == "2026-01-01 00:01:00" and done["active"] == "true"
    reopened = sn.update("incident", inc["sys_id"], {"state": "2"}, ADMIN)
    assert reopened["reopen_count"] == "1" and reopened["resolved_at"] == ""
    closed = sn.update("incident", inc["sys_id"], {"state": "7", "close_code": "Solution provided",
                                                   "close_notes": "fixed"}, ADMIN)
    assert closed["active"] == "false" and closed["closed_at"]


def test_every_field_change_is_audited(sn: ServiceNowBackend) -> None:
    inc = sn.insert("incident", {"short_description": "x"}, ADMIN)
    sn.update("incident", inc["sys_id"], {"short_description": "y", "urgency": "1"}, ADMIN)
    rows, _ = sn.query("sys_audit", f"documentkey={inc['sys_id']}", limit=100, offset=0)
    changes = {(r["fieldname"], r["oldvalue"], r["newvalue"]) for r in rows}
    assert {("short_description", "x", "y"), ("urgency", "3", "1"), ("priority", "5", "3")} <= changes


def test_query_on_a_parent_table_sees_children(sn: ServiceNowBackend) -> None:
    sn.insert("incident", {"short_description": "x"}, ADMIN)
    sn.insert("change_request", {"short_description": "y"}, ADMIN)
    rows, total = sn.query("task", "short_descriptionINx,y", limit=10, offset=0)
    assert total == 2 and {r["sys_class_name"] for r in rows} == {"incident", "change_request"}


def test_passwords_are_stored_hashed(sn: ServiceNowBackend) -> None:
    rows, _ = sn.query("sys_user", "user_name=admin", limit=1, offset=0)
    assert rows[0]["user_password"].startswith("pbkdf2_sha256$") and "admin" not in rows[0]["user_password"]
    assert asyncio.run(sn.identities.authenticate("admin", "admin")) is not None
    assert asyncio.run(sn.identities.authenticate("admin", "nope")) is None
