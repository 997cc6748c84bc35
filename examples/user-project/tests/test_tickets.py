"""Our team's tickets, checked with bpsn's fixtures: a fresh, seeded state for every test."""

import httpx
import pytest


@pytest.mark.bpsn(incidents={"assignment_group": "Service Desk"})
def test_a_critical_alert_becomes_one_ticket_for_the_service_desk(bpsn_bench):
    bpsn_bench.send_alerts({"status": "critical", "host": "web-prod-01", "check": "cpu"})
    bpsn_bench.poll()
    (ticket,) = bpsn_bench.tickets()
    group = bpsn_bench.servicenow_client.get(f"/api/now/table/sys_user_group/{ticket['assignment_group']}")
    assert group.json()["result"]["name"] == "Service Desk"
    bpsn_bench.journal.assert_requested("POST", "/data/v2/alerts", count=1)


def test_a_servicenow_outage_loses_no_ticket(bpsn_bench):
    bpsn_bench.faults.servicenow.add(status=503, path="/api/now/import/x_bip_panda_shareincident/insertMultiple",
                                    times=3)
    bpsn_bench.send_alerts({"status": "critical", "host": "db-prod-01", "check": "disk"})
    for _ in range(4):
        bpsn_bench.poll()
        bpsn_bench.clock.advance(30)
    assert len(bpsn_bench.tickets()) == 1
    bpsn_bench.journal.assert_requested("POST", "/api/now/import/x_bip_panda_shareincident/insertMultiple",
                                        status=503, count=3)


def test_a_real_http_client_talks_to_the_stack(bpsn_stack):
    c = bpsn_stack.credentials
    with httpx.Client(base_url=bpsn_stack.servicenow_url, auth=(c.servicenow_admin, c.servicenow_admin_password)) as sn:
        assert sn.get("/api/now/table/incident").json()["result"] == []
    bpsn_stack.send_alerts({"status": "warning", "host": "api-1", "check": "latency"})
    assert bpsn_stack.poll().created == 1
