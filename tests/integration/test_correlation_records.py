"""x_bip_panda_correlation and x_bip_panda_external_ticket are filled from what BigPanda sends."""

from __future__ import annotations


import pytest

from bpsn.integration.modules.correlations import (
    confidence,
    correlation_rows,
    external_ticket_rows,
)
from bpsn.testing import InProcessBench


def test_confidence_is_the_share_of_alerts_carrying_the_matched_tags() -> None:
    alerts = [{"tags": [{"name": "host", "value": "web-1"}]}, {"tags": [{"name": "host", "value": "web-2"}]},
              {"tags": [{"name": "host", "value": "web-1"}]}]
    assert confidence(alerts, [{"name": "host", "value": "web-1"}]) == pytest.approx(2 / 3)
    assert confidence([], [{"name": "host", "value": "web-1"}]) == 0.0
    [row] = correlation_rows({"id": "i1", "alerts": alerts, "correlation_matchers_log": [
        [], [{"correlation_id": "by_host", "tags": [{"name": "host", "value": "web-1"}]}]]})
    assert row.fields == {"u_source": "i1", "u_target": "host=web-1", "u_type": "by_host", "u_confidence": "0.67"}
    assert external_ticket_rows({"external_tickets": [{"system": "", "number": "x"}]}, "s") == []


def test_a_share_fills_the_correlation_and_external_ticket_tables(bench: InProcessBench) -> None:
    r = bench.send_alerts({"status": "critical", "host": "corr-01", "check": "disk"},
                          {"status": "warning", "host": "corr-01", "check": "cpu"})
    incident = r.json()["alerts"][0]["incident_id"]
    bench.poll()
    [row] = bench.records("x_bip_panda_correlation", f"u_source={incident}")
    assert (row["u_target"], row["u_type"], row["u_confidence"]) == ("host=corr-01", "by_host", "1.00")
    [ticket] = bench.tickets(f"correlation_id={incident}")
    assert bench.records("x_bip_panda_external_ticket", f"u_incident={ticket['sys_id']}") == []  # no callback yet
    bench.send_alerts({"status": "ok", "host": "corr-01", "check": "cpu"}, {"status": "ok", "host": "corr-01",
                                                                             "check": "disk"})
    bench.poll()  # the update share (resolved) lists the ServiceNow ticket BigPanda recorded from the callback
    [external] = bench.records("x_bip_panda_external_ticket", f"u_incident={ticket['sys_id']}")
    assert (external["u_system"], external["u_ticket_number"]) == ("servicenow", ticket["number"])
    assert ticket["sys_id"] in external["u_ticket_url"]
    bench.poll()
    assert len(bench.records("x_bip_panda_correlation", f"u_source={incident}")) == 1  # no duplicate
