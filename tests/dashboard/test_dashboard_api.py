"""The dashboard's routes over HTTP: the page and its assets (open, no secret in them), the JSON
summary (admin credential, strict query, its shape), and the whole stack under `bpsn up`."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pooled_simulators import running_bigpanda_pool, running_servicenow_pool

from bpsn.base.clock import iso
from bpsn.simulator.bigpanda.backend import BigPandaBackend
from bpsn.simulator.servicenow.backend import ServiceNowBackend
from bpsn.stack import run_stack

SHAPE = {"own", "stack", "clock", "simulators", "pairs", "has_incidents", "has_tickets", "queue", "core"}


BigPanda = tuple[TestClient, BigPandaBackend, dict[str, str]]  # a client, the simulator, the admin's header
ServiceNow = tuple[ServiceNowBackend, Any]  # the instance and its app


# The process's pooled simulators on a running clock (tests/pooled_simulators.py), put back as a new
# one starts before each test: the clock where it began (running), then reset (data, journal, faults).
@pytest.fixture
def bigpanda() -> BigPanda:
    pool = running_bigpanda_pool()
    backend = pool.as_new()
    return (TestClient(pool.app), backend,  # a new client: no cookie of the last test
            {"Authorization": f"Bearer {backend.settings.admin_token.get_secret_value()}"})


@pytest.fixture
def servicenow() -> ServiceNow:
    pool = running_servicenow_pool()
    return pool.as_new(), pool.app


def _alert(client: TestClient, backend: BigPandaBackend, **alert: Any) -> str:
    s = backend.settings
    r = client.post("/data/v2/alerts", headers={"Authorization": f"Bearer {s.org_token}"},
                    json={"app_key": s.alerts_app_key, "alerts": [{"status": "critical", "host": "h1", **alert}]})
    assert r.status_code == 201, r.text
    return str(r.json()["alerts"][0]["incident_id"])


def test_the_page_and_its_assets_are_open_and_hold_no_secret(bigpanda: BigPanda, servicenow: ServiceNow) -> None:
    client, backend, _ = bigpanda
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert backend.settings.admin_token.get_secret_value() not in page.text
    assert 'data-simulator="bigpanda"' in page.text and 'data-auth="bearer"' in page.text
    script = client.get("/_sim/dashboard/assets/dashboard.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "/_sim/dashboard" in script.text and "sessionStorage" in script.text
    assert client.get("/_sim/dashboard/assets/dashboard.css").status_code == 200
    assert client.get("/_sim/dashboard/assets/other.js").status_code == 404
    sn = TestClient(servicenow[1])
    assert 'data-auth="basic"' in sn.get("/").text  # `/` answered 400 before the dashboard


def test_the_summary_needs_the_admin_credential_and_a_known_query(bigpanda: BigPanda,
                                                                  servicenow: ServiceNow) -> None:
    client, backend, admin = bigpanda
    missing = client.get("/_sim/dashboard")
    assert missing.status_code == 401 and "admin token" in missing.json()["errors"][0]
    org = client.get("/_sim/dashboard", headers={"Authorization": f"Bearer {backend.settings.org_token}"})
    assert org.status_code == 401  # an org token is not the admin token
    unknown = client.get("/_sim/dashboard?limit=5", headers=admin)
    assert unknown.status_code == 400 and "limit" in str(unknown.json())
    sn_backend, sn_app = servicenow
    sn = TestClient(sn_app)
    assert sn.get("/_sim/dashboard").status_code == 401
    user = sn_backend.settings
    not_admin = sn.get("/_sim/dashboard", auth=(user.integration_user, user.integration_password))
    assert not_admin.status_code == 403 and not_admin.json()["error"]["message"] == "Operation Failed"
    assert sn.get("/_sim/dashboard", auth=("admin", user.admin_password)).status_code == 200


def test_the_bigpanda_summary_shows_incidents_their_shares_requests_faults_and_rate(bigpanda: BigPanda) -> None:
    client, backend, admin = bigpanda
    incident_id = _alert(client, backend, description="disk full")
    client.post("/_sim/faults", headers=admin, json={"path": "/data/v2/alerts", "status": 503, "times": 1})
    client.post("/_sim/clock/freeze", headers=admin)
    summary = client.get("/_sim/dashboard", headers=admin).json()
    assert set(summary) == SHAPE and summary["own"] == "bigpanda" and summary["stack"] is False
    assert summary["clock"] == {"now": backend.clock.now(), "iso": iso(backend.clock.now()), "frozen": True}
    [row] = summary["pairs"]
    assert row["ticket"] is None
    assert (row["incident"]["id"], row["incident"]["share"], row["incident"]["title"]) == (incident_id, "pending",
                                                                                            "disk full")
    assert summary["queue"] == {"pending": 1, "leased": 0, "dead_letters": 0}
    bp = summary["simulators"]["bigpanda"]
    assert [(r["method"], r["path"], r["status"]) for r in bp["requests"]][:1] == [("POST", "/data/v2/alerts", 201)]
    assert bp["requests"][0]["duration_ms"] >= 0
    assert [(f["path"], f["status"], f["fired"]) for f in bp["faults"]] == [("/data/v2/alerts", 503, 0)]
    assert bp["rate"]["limit_per_second"] == backend.settings.rate_limit_per_second == 5
    assert bp["rate"]["busiest_requests"] == 1 and bp["rate"]["usage"] == 0.2
    assert summary["core"] is None and summary["has_tickets"] is False


def test_the_servicenow_summary_shows_tickets_with_state_labels_and_links(servicenow: ServiceNow) -> None:
    backend, app = servicenow
    client = TestClient(app)
    admin = ("admin", backend.settings.admin_password)
    made = client.post("/api/now/table/incident", auth=admin, json={"short_description": "db slow",
                                                                     "correlation_id": "abc123"}).json()["result"]
    summary = client.get("/_sim/dashboard", auth=admin).json()
    assert summary["queue"] is None and summary["has_incidents"] is False
    [row] = [r for r in summary["pairs"] if r["ticket"]["sys_id"] == made["sys_id"]]
    assert row["incident"] is None
    ticket = row["ticket"]
    assert (ticket["number"], ticket["state"], ticket["short_description"]) == (made["number"], "New", "db slow")
    assert ticket["link"] == f"/nav_to.do?uri=incident.do?sys_id={made['sys_id']}"
    assert summary["simulators"]["servicenow"]["rate"]["limit_per_second"] is None


def test_under_bpsn_up_either_dashboard_shows_the_whole_stack() -> None:
    # simulators of its own: the test is of `bpsn up`'s stack (servers and core), started here
    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with run_stack(poll_interval=3600) as stack:  # the core's first poll is at start: nothing to share
            bp, sn = stack.bigpanda.settings, stack.servicenow.settings
            async with httpx.AsyncClient(base_url=stack.bigpanda_url) as bp_client, \
                    httpx.AsyncClient(base_url=stack.servicenow_url, auth=("admin", sn.admin_password)) as sn_client:
                r = await bp_client.post("/data/v2/alerts", headers={"Authorization": f"Bearer {bp.org_token}"},
                                         json={"app_key": bp.alerts_app_key,
                                               "alerts": [{"status": "critical", "host": "stack-1"}]})
                incident_id = r.json()["alerts"][0]["incident_id"]
                # a ticket for it, as the core would write it: the incident's id in correlation_id
                await sn_client.post("/api/now/table/incident", json={"short_description": "stack-1 down",
                                                                      "correlation_id": incident_id})
                admin = {"Authorization": f"Bearer {bp.admin_token.get_secret_value()}"}
                from_bp = (await bp_client.get("/_sim/dashboard", headers=admin)).json()
                from_sn = (await sn_client.get("/_sim/dashboard")).json()
                return {**from_bp, "incident_id": incident_id, "sn_url": stack.servicenow_url}, from_sn

    from_bp, from_sn = asyncio.run(scenario())
    for summary in (from_bp, from_sn):
        assert summary["stack"] is True and set(summary["simulators"]) == {"bigpanda", "servicenow"}
        assert summary["core"] is not None and summary["core"]["poll_interval_s"] == 3600
        [row] = [r for r in summary["pairs"] if r["incident"] and r["incident"]["id"] == from_bp["incident_id"]]
        assert row["ticket"]["short_description"] == "stack-1 down" and row["ticket"]["state"] == "New"
        assert row["ticket"]["link"].startswith(f"{from_bp['sn_url']}/nav_to.do?uri=incident.do?sys_id=")
    assert (from_bp["own"], from_sn["own"]) == ("bigpanda", "servicenow")
