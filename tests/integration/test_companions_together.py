"""Every companion at once, as a configuration turns them on: one poll writes the ticket and all
that goes with it, and the core's ServiceNow requests stay a handful however many records."""

from __future__ import annotations

from bpsn.integration.modules.alert_config import AlertConfigSettings
from bpsn.testing import InProcessBench

CORE = "bigpanda.integration"


def test_all_companions_in_one_poll() -> None:
    bench = InProcessBench()
    try:
        bench.alert_settings = AlertConfigSettings(
            auto_create_ci=True, incident_task_tag="task", rcc_tab=True, similar_incidents_tab=True,
            parent_child_incidents=True)
        bench.runner = bench.new_core()
        assert len(bench.runner.companions) == 7
        r = bench.send_alerts(*({"status": "critical", "host": host, "check": "disk", "task": "true",
                                  "assignment_group": "Linux Platform", "incident_key": "k"}
                                 for host in ("web-prod-01", "storage-node-9")))
        assert r.status_code == 201, r.text
        sn0, _ = bench.journal_marks()
        report = bench.poll()
        assert report.created >= 1 and report.errors == 0
        network = [e for e in bench.servicenow.journal.find(since_id=sn0, user=CORE) if "batch-item" not in e.notes]
        writes = {(e.method, e.table or e.path) for e in network if e.method != "GET"}
        assert len(network) <= 14, [(e.method, e.path) for e in network]
        assert ("POST", "/api/now/v1/batch") in writes
        for table in ("x_bip_panda_bp_alerts", "x_bip_panda_shareincident", "x_bip_panda_incident_metadata",
                      "x_bip_panda_correlation",
                      "incident_task", "cmdb_ci"):
            r = bench.run(bench.admin.get(f"/api/now/table/{table}", params={"sysparm_limit": 1}))
            assert r.status_code == 200 and r.json()["result"], table
    finally:
        bench.close()
