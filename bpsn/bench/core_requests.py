"""Requests per new incident: the core against a naive path, in the same run, counted from the
simulators' request journals (Batch API items are journaled as such and not counted again).

Both paths turn the same alert storm into the same tickets with the same Incidents settings
(assignment group, caller, opener, CMDB CI from the host tag). The core: one share retrieval
per batch, one ticket lookup per batch, cached reference lookups, its companions' batched
writes. The naive path, per share: look the ticket up, look up the group, the caller, the
opener and the CI, write the incident, write each alert record and the metadata record.
In-process on the virtual clock, with the core's pacing on virtual time, so BigPanda's
5 requests / second are honoured as in production and any 429 is counted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bpsn.integration.clients.http import Pacer
from bpsn.integration.engine.mapping import IncidentSettings, ticket_fields, ticket_sys_id
from bpsn.testing import InProcessBench

from .common import Sizes

CORE_USER = "bigpanda.integration"
SETTINGS = IncidentSettings(assignment_group="Network Operations", caller_email="noc.analyst@example.com",
                            opened_by_email="bigpanda.integration@example.com", cmdb_ci_tag="host")


def _storm(bench: InProcessBench, incidents: int) -> None:
    """One host per incident, each a CI of the CMDB (made before counting starts)."""
    for i in range(incidents):
        bench.servicenow.insert_system("cmdb_ci_linux_server", {"name": f"storm-host-{i:04d}"})
    for i in range(incidents):
        alerts = [{"status": "critical", "host": f"storm-host-{i:04d}", "check": f"check-{k}"}
                  for k in range(1 + i % 2)]
        r = bench.send_alerts(*alerts)
        assert r.status_code == 201, r.text
        bench.advance(0.25)  # the monitoring tool keeps under the alerts API's own limit


def _network(journal: Any, since: int) -> list[Any]:
    return [e for e in journal.find(since_id=since) if "batch-item" not in e.notes]


def _core(incidents: int) -> dict[str, Any]:
    bench = InProcessBench(incident_settings=SETTINGS)
    try:
        connection = bench.settings
        bench.runner.bigpanda.api.pacer = Pacer(connection.bigpanda_requests_per_second, connection.bigpanda_burst,
                                                clock=bench.clock.now, sleep=bench._virtual_sleep)
        _storm(bench, incidents)
        sn0, bp0 = bench.journal_marks()
        while True:
            bench.watch()
            report = bench.poll()
            if not report.has_more and report.shares < bench.runner.retrieval_count:
                break
        tickets = len(bench.tickets())
        sn = [e for e in _network(bench.servicenow.journal, sn0) if e.user == CORE_USER]
        bp = bench.bigpanda.journal.find(since_id=bp0)
        return {"tickets": tickets, "servicenow_requests": len(sn), "bigpanda_requests": len(bp),
                "bigpanda_429": sum(1 for e in bp if e.status == 429), "virtual_seconds": round(bench.slept, 1)}
    finally:
        bench.close()


def _naive(incidents: int) -> dict[str, Any]:
    """One request per lookup and per write, share by share."""
    bench = InProcessBench(incident_settings=SETTINGS)
    try:
        _storm(bench, incidents)
        sn0, _ = bench.journal_marks()
        client = bench.servicenow_user(CORE_USER, "bigpanda")

        async def one(share: dict[str, Any]) -> None:
            incident = share["incident"]

            async def get(table: str, query: str) -> list[dict[str, Any]]:
                r = await client.get(f"/api/now/table/{table}", params={"sysparm_query": query})
                return list(r.json().get("result", []))
            await get("incident", f"correlation_id={incident['id']}")
            sys_ids = {}
            for table, field, key in (("sys_user_group", "name", SETTINGS.assignment_group),
                                      ("sys_user", "email", SETTINGS.caller_email),
                                      ("sys_user", "email", SETTINGS.opened_by_email)):
                rows = await get(table, f"{field}={key}")
                sys_ids[(table, key)] = rows[0]["sys_id"] if rows else ""
            host = incident["alerts"][0]["tags"][0]["value"] if incident.get("alerts") else ""
            rows = await get("cmdb_ci", f"name={host}")
            sys_ids[("cmdb_ci", host)] = rows[0]["sys_id"] if rows else ""
            sys_id = ticket_sys_id("naive", incident["id"])
            await client.post("/api/now/table/incident",
                              json={**ticket_fields(incident, SETTINGS, sys_ids), "sys_id": sys_id})
            for alert in incident.get("alerts") or []:
                await client.post("/api/now/table/x_bip_panda_bp_alerts", json={
                    "u_alert_id": alert.get("id", ""), "u_bp_incident_id": incident["id"], "u_incident": sys_id})
            await client.post("/api/now/table/x_bip_panda_incident_metadata", json={
                "u_bp_incident_id": incident["id"], "u_incident": sys_id})

        async def drain() -> int:
            count = 0
            while True:
                shares, more = await bench.runner.bigpanda.retrieve_shares(100)
                for share in shares:
                    await one(share)
                count += len(shares)
                if not more and len(shares) < 100:
                    return count
        bench.run(drain())
        sn = [e for e in _network(bench.servicenow.journal, sn0) if e.user == CORE_USER]
        bench.run(client.aclose())
        return {"tickets": len(bench.tickets("correlation_display=BigPanda")), "servicenow_requests": len(sn)}
    finally:
        bench.close()


def run(sizes: Sizes, progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    incidents = 10 if sizes.quick else 300
    progress(f"Core: ServiceNow and BigPanda requests per new incident ({incidents} incidents, core vs naive)")
    core, naive = _core(incidents), _naive(incidents)
    per = {name: round(r["servicenow_requests"] / max(1, r["tickets"]), 3) for name, r in
           (("core", core), ("naive", naive))}
    return {"incidents": incidents, "core": core, "naive": naive, "servicenow_per_incident": per,
            "fewer": round(1 - per["core"] / per["naive"], 3) if per["naive"] else 0.0,
            "bigpanda_per_incident": round(core["bigpanda_requests"] / max(1, core["tickets"]), 3)}


def report_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    r = results["core_requests"]
    per = r["servicenow_per_incident"]
    goal = "met" if r["fewer"] >= 0.8 else "MISSED"
    return [("Core (in-process)", f"ServiceNow requests per new incident ({r['incidents']} incidents)",
             f"naive: {per['naive']:.2f}", f"core: {per['core']:.2f}", f"{r['fewer'] * 100:.1f}% fewer",
             f"≥80% fewer: {goal}"),
            ("Core (in-process)", "BigPanda requests per incident; 429s in the run",
             "", f"{r['bigpanda_per_incident']:.2f}/incident", f"{r['core']['bigpanda_429']} × 429",
             "zero 429: " + ("met" if r["core"]["bigpanda_429"] == 0 else "MISSED"))]


def method_note(results: dict[str, Any]) -> str:
    r = results["core_requests"]
    return (f"* Core requests: {r['incidents']} new incidents (1-2 alerts each) turned into tickets with the "
            "assignment group, caller, opener and CMDB CI settings on, by the core (pacing on virtual time) "
            "and by a naive path (one request per lookup and per write, alert and metadata records included), "
            "each on fresh in-process simulators; requests counted from the journals, Batch API items not "
            "counted twice.")


if __name__ == "__main__":  # a quick look: python -m bpsn.bench.core_requests
    print(run(Sizes.tiny()))
