"""The ServiceNow simulator's dictionary entries, fixtures, HEAD and admin credentials."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from bpsn.simulator.common.fixtures import example_fixtures, read_fixture_file
from bpsn.simulator.servicenow.backend import ServiceNowBackend
from bpsn.testing import call_asgi

ROOT = Path(__file__).resolve().parents[2]
ADMIN = ("admin", "admin")


@pytest.fixture
def app(backend: ServiceNowBackend, pooled_servicenow: tuple[ServiceNowBackend, Any]) -> Any:
    """The pooled instance's app, the instance as new (conftest's `backend`): no test sees another's columns."""
    return pooled_servicenow[1]


def call(app: Any, method: str, url: str, **kw: Any) -> httpx.Response:
    return call_asgi(app, method, url, base_url="http://sn", **kw)


def test_a_u_column_added_through_sys_dictionary_is_usable_at_once(app: Any) -> None:
    r = call(app, "POST", "/api/now/table/sys_dictionary", auth=ADMIN,
             json={"name": "incident", "element": "u_bp_team", "internal_type": "string", "column_label": "Team"})
    assert r.status_code == 201
    created = call(app, "POST", "/api/now/table/incident", auth=ADMIN, json={"u_bp_team": "payments"})
    assert created.json()["result"]["u_bp_team"] == "payments"
    found = call(app, "GET", "/api/now/table/task", auth=ADMIN, params={"sysparm_query": "u_bp_team=payments"})
    assert len(found.json()["result"]) == 1  # the parent table sees the child's new column
    listed = call(app, "GET", "/api/now/table/sys_dictionary", auth=ADMIN,
                  params={"sysparm_query": "name=incident^element=u_bp_team"})
    assert listed.json()["result"][0]["column_label"] == "Team"


@pytest.mark.parametrize(("entry", "message"), [
    ({"name": "incident", "element": "team", "internal_type": "string"}, "must start with 'u_'"),
    ({"name": "incident", "element": "u_x", "internal_type": "blob"}, "unknown type"),
    ({"name": "incident", "element": "u_ref", "internal_type": "reference", "reference": "nope"}, "unknown table"),
    ({"name": "incident", "element": "short_description", "internal_type": "string"}, "must start with 'u_'"),
])
def test_bad_dictionary_entries_are_refused(app: Any, entry: dict[str, str], message: str) -> None:
    r = call(app, "POST", "/api/now/table/sys_dictionary", auth=ADMIN, json=entry)
    assert r.status_code == 403 and message in r.json()["error"]["detail"]


def test_unknown_table_in_a_dictionary_entry(app: Any) -> None:
    r = call(app, "POST", "/api/now/table/sys_dictionary", auth=ADMIN,
             json={"name": "nope", "element": "u_x", "internal_type": "string"})
    assert r.status_code == 400 and r.json()["error"]["message"] == "Invalid table nope"


def test_on_hold_needs_a_reason(app: Any) -> None:
    inc = call(app, "POST", "/api/now/table/incident", auth=ADMIN, json={"short_description": "x"}).json()["result"]
    refused = call(app, "PATCH", f"/api/now/table/incident/{inc['sys_id']}", auth=ADMIN, json={"state": "3"})
    assert refused.status_code == 403 and "On hold reason" in refused.json()["error"]["detail"]
    held = call(app, "PATCH", f"/api/now/table/incident/{inc['sys_id']}", auth=ADMIN,
                json={"state": "3", "hold_reason": "4"})
    assert held.status_code == 200 and held.json()["result"]["state"] == "3"


def test_fixture_file_loads_and_a_bad_one_changes_nothing(app: Any) -> None:
    data = read_fixture_file(example_fixtures("servicenow"))
    r = call(app, "POST", "/_sim/fixtures", auth=ADMIN, json=data)
    assert r.status_code == 201 and r.json() == {"inserted": 4}
    servers = call(app, "GET", "/api/now/table/cmdb_ci", auth=ADMIN, params={"sysparm_query": "nameSTARTSWITHpay-"})
    assert len(servers.json()["result"]) == 2
    before = len(call(app, "GET", "/api/now/table/sys_user_group", auth=ADMIN).json()["result"])
    bad = call(app, "POST", "/_sim/fixtures", auth=ADMIN,
               json={"tables": {"sys_user_group": [{"name": "x"}], "nosuch": [{}]}})
    assert bad.status_code == 400
    assert len(call(app, "GET", "/api/now/table/sys_user_group", auth=ADMIN).json()["result"]) == before


def test_head_is_get_without_a_body(app: Any) -> None:
    r = call(app, "HEAD", "/api/now/table/incident", auth=ADMIN)
    assert r.status_code == 200 and r.content == b"" and "x-total-count" in r.headers


def test_admin_routes_need_an_admin(app: Any) -> None:
    assert call(app, "GET", "/_sim/health").status_code == 200
    assert call(app, "GET", "/_sim/journal").status_code == 401
    assert call(app, "GET", "/_sim/journal", auth=("noc.analyst", "analyst")).status_code == 403
    assert call(app, "GET", "/_sim/journal", auth=ADMIN).status_code == 200
