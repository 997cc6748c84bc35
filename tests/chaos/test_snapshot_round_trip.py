"""The snapshot round trip on both simulators, as separate processes with the core: a run goes on,
both simulators save a snapshot mid-run (`/_sim/snapshot/save`, shares still waiting in
BigPanda's queue), are reset, load their snapshot, and the run goes on. The loaded state equals
the saved one (BigPanda: its whole snapshot document and share queue; ServiceNow: every ticket
and BigPanda alert record, field by field), and the run ends with no lost and no duplicate
ticket. Not compared: the request journals, which snapshots do not hold by design (a reset
leaves them; see simulator/bigpanda/admin/snapshot.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bpsn.bench.chaos_stack import ProcessStack
from bpsn.simulator.bigpanda.admin.snapshot_doc import sealer
from bpsn.simulator.bigpanda.settings import BigPandaSettings

BP_FILE, SN_FILE = "round-trip-bigpanda.json", "round-trip-servicenow.sqlite"
SN_TABLES = {"incident": "correlation_display=BigPanda^ORDERBYnumber",
             "x_bip_panda_bp_alerts": "ORDERBYsys_id"}


def bigpanda_document(stack: ProcessStack, name: str) -> dict[str, Any]:
    """A saved BigPanda snapshot with its sealed credentials opened (sealing is randomised, so the
    same credentials never seal to the same text) and without the time it was saved."""
    stack.bp_admin.post("/_sim/snapshot/save", json={"path": name}).raise_for_status()
    doc = json.loads((stack.snapshots / name).read_text())
    seal = sealer(BigPandaSettings())
    for org in doc["organizations"]:
        org["credentials"] = json.loads(seal.decrypt(org["credentials"].encode()))
    doc.pop("saved_at")
    return dict(doc)


def servicenow_records(stack: ProcessStack) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for table, query in SN_TABLES.items():
        r = stack.sn_admin.get(f"/api/now/table/{table}", params={"sysparm_query": query, "sysparm_limit": 100_000})
        out[table] = r.raise_for_status().json()["result"]
    return out


def test_a_snapshot_saved_mid_run_loads_back_equal_and_the_run_loses_nothing(tmp_path: Path) -> None:
    with ProcessStack(tmp_path) as stack:
        stack.start_all()
        incidents = [stack.send_alert(f"before-{i}") for i in range(10)]
        stack.drain()
        stack.stop("core")  # shares arrive and wait: the snapshot holds a queue mid-run
        incidents += [stack.send_alert(f"waiting-{i}") for i in range(10)]
        saved_queue = stack.queue()
        assert len(saved_queue["pending"]) == 10
        saved_bp = bigpanda_document(stack, BP_FILE)
        stack.sn_admin.post("/_sim/snapshot/save", json={"path": SN_FILE}).raise_for_status()
        saved_sn = servicenow_records(stack)
        assert len(saved_sn["incident"]) == 10 and len(saved_sn["x_bip_panda_bp_alerts"]) >= 10

        for client in (stack.bp_admin, stack.sn_admin):
            client.post("/_sim/reset").raise_for_status()
        assert stack.queue()["pending"] == [] and servicenow_records(stack)["incident"] == []

        stack.bp_admin.post("/_sim/snapshot/load", json={"path": BP_FILE}).raise_for_status()
        stack.sn_admin.post("/_sim/snapshot/load", json={"path": SN_FILE}).raise_for_status()
        assert stack.queue() == saved_queue
        assert bigpanda_document(stack, "round-trip-bigpanda-again.json") == saved_bp
        assert servicenow_records(stack) == saved_sn

        stack.start("core")
        incidents += [stack.send_alert(f"after-{i}") for i in range(10)]
        stack.drain()
        count = stack.count(incidents)
        print(f"snapshot round trip: {count.line()}")
        assert (len(count.lost), len(count.duplicates), len(count.orphans)) == (0, 0, 0), count
        assert stack.queue()["dead_letters"] == []
