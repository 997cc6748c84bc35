"""The ticket link the core writes into BigPanda (`<instance>/nav_to.do?uri=incident.do?sys_id=...`)
opens the record's page on the ServiceNow simulator, behind the instance's credentials."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pooled_simulators import running_servicenow_pool


Instance = tuple[TestClient, tuple[str, str], dict[str, str]]  # a client, the admin's basic auth, one incident


@pytest.fixture
def instance() -> Instance:
    pool = running_servicenow_pool()  # the process's pooled instance (tests/pooled_simulators.py), as new
    backend, app = pool.as_new(), pool.app
    client = TestClient(app)  # a new client each test: no cookie of the last one
    admin = ("admin", backend.settings.admin_password)
    made = client.post("/api/now/table/incident", auth=admin, json={
        "short_description": "<script>alert(1)</script> web down", "correlation_id": "bp-1"}).json()["result"]
    return client, admin, made


def test_the_link_opens_the_record_as_a_readable_page(instance: Instance) -> None:
    client, admin, made = instance
    page = client.get(f"/nav_to.do?uri=incident.do?sys_id={made['sys_id']}", auth=admin)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f"<title>{made['number']} | incident</title>" in page.text
    assert page.text.index("<th>Number</th>") < page.text.index("<th>Sys Id</th>")  # what a reader wants first
    assert "<th>State</th><td>New</td>" in page.text  # labels and display values
    assert "&lt;script&gt;alert(1)&lt;/script&gt; web down" in page.text and "<script>" not in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_a_browser_without_credentials_is_asked_for_them(instance: Instance) -> None:
    client, _, made = instance
    r = client.get(f"/nav_to.do?uri=incident.do?sys_id={made['sys_id']}")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith('Basic realm="ServiceNow"')
    assert "User Not Authenticated" in r.text and made["number"] not in r.text
    wrong = client.get(f"/nav_to.do?uri=incident.do?sys_id={made['sys_id']}", auth=("admin", "wrong"))
    assert wrong.status_code == 401 and made["number"] not in wrong.text


def test_bad_links_answer_servicenows_errors_as_pages(instance: Instance) -> None:
    client, admin, _ = instance
    missing = client.get(f"/nav_to.do?uri=incident.do?sys_id={'0' * 32}", auth=admin)
    assert missing.status_code == 404 and "No Record found" in missing.text
    assert client.get("/nav_to.do?uri=javascript:alert(1)", auth=admin).status_code == 400
    assert client.get("/nav_to.do?uri=no_such_table.do?sys_id=x", auth=admin).status_code == 400
    assert client.get("/nav_to.do", auth=admin).status_code == 400  # uri is required


def test_a_list_link_shows_the_matching_records(instance: Instance) -> None:
    client, admin, made = instance
    page = client.get("/nav_to.do?uri=incident_list.do?sysparm_query=correlation_id=bp-1", auth=admin)
    assert page.status_code == 200 and "<p>1 records</p>" in page.text
    assert f'href="/nav_to.do?uri=incident.do?sys_id={made["sys_id"]}"' in page.text
