"""Organisations sharing one ServiceNow instance: a core's delta watch acts only on its own tickets."""

from __future__ import annotations

from bpsn.integration.engine.mapping import owns_ticket, ticket_sys_id
from bpsn.testing import InProcessBench


def test_a_ticket_another_organisations_core_made_is_left_alone() -> None:
    bench = InProcessBench()
    try:
        r = bench.send_alerts({"status": "critical", "host": "web-prod-01", "check": "cpu"})
        incident_id = r.json()["alerts"][0]["incident_id"]
        assert bench.poll().created == 1
        foreign = ticket_sys_id("other-org", "f" * 24)
        r = bench.run(bench.admin.post("/api/now/table/incident", json={
            "sys_id": foreign, "short_description": "other org", "correlation_id": "f" * 24,
            "correlation_display": "BigPanda"}))
        assert r.status_code == 201, r.text
        bench.advance(1)
        for sys_id in (foreign, bench.tickets(f"correlation_id={incident_id}")[0]["sys_id"]):
            r = bench.run(bench.admin.patch(f"/api/now/table/incident/{sys_id}", json={
                "state": "6", "close_code": "Solution provided", "close_notes": "fixed"}))
            assert r.status_code == 200, r.text
        handled = bench.watch()
        assert handled == 1  # only the demo organisation's ticket
        assert not bench.incident(incident_id).active
    finally:
        bench.close()


def test_ownership_is_by_derived_sys_id() -> None:
    assert owns_ticket("demo", "abc", ticket_sys_id("demo", "abc", 3))
    assert not owns_ticket("demo", "abc", ticket_sys_id("other", "abc"))
    assert not owns_ticket("demo", "abc", "0" * 32)
