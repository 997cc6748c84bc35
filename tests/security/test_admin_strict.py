"""The admin API (`/_sim`) of both simulators is strict: a query parameter a route does not declare,
or a body field its model does not declare, is a 400 in the simulator's own error body naming it.
A misspelt parameter must never be ignored: `/_sim/wait?query=...` (for `sysparm_query`) would
match at once and let a test pass wrongly, and a fault rule with `"stauts"` would fire as a no-op.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI
from pooled_simulators import bigpanda_pool, servicenow_pool

from bpsn.simulator.bigpanda.settings import BigPandaSettings
from bpsn.testing import call_asgi

BP_TOKEN = "strict-admin-token-for-tests"
BP_ADMIN = {"Authorization": f"Bearer {BP_TOKEN}"}
SN_ADMIN = {"Authorization": "Basic YWRtaW46YWRtaW4="}  # admin / admin
ADMIN = {"bigpanda": BP_ADMIN, "servicenow": SN_ADMIN}
PATH_VALUES = {"name": "demo", "environment": "production", "rule_id": "1"}
UNKNOWN = "bpsn_not_a_parameter"
# Request bodies still taking unknown fields: none
PENDING_BODIES: dict[str, set[tuple[str, str]]] = {"bigpanda": set(), "servicenow": set()}


@pytest.fixture
def apps() -> dict[str, FastAPI]:
    """The process's pooled simulators (pooled_simulators.py) as new ones start; BigPanda's with this
    file's settings (read as it runs), on a copy of its own: the pool puts its own back."""
    bp, sn = bigpanda_pool(), servicenow_pool()
    bp.as_new().settings = BigPandaSettings(admin_token=BP_TOKEN, rate_limit_enabled=False)
    bp.backend.reset()
    sn.as_new()
    return {"bigpanda": bp.app, "servicenow": sn.app}


def operations(app: FastAPI) -> list[tuple[str, str, dict[str, Any]]]:
    document = call_asgi(app, "GET", "/openapi.json").json()
    return [(method.upper(), path, op) for path, item in document["paths"].items() if path.startswith("/_sim/")
            for method, op in item.items() if isinstance(op, dict)]


def errors_text(simulator: str, body: dict[str, Any]) -> str:
    """The messages of the simulator's own 400 body: BigPanda's errors list, ServiceNow's envelope."""
    if simulator == "bigpanda":
        assert body["status"] == 400, body
        return " | ".join(body["errors"])
    assert body["status"] == "failure", body
    return f"{body['error']['message']}: {body['error']['detail']}"


@pytest.mark.parametrize("simulator", ["bigpanda", "servicenow"])
def test_every_admin_route_refuses_an_unknown_query_parameter(simulator: str, apps: dict[str, FastAPI]) -> None:
    app = apps[simulator]
    ops = operations(app)
    assert len(ops) > 10
    for method, path, op in ops:
        url = re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES.get(m.group(1), "x"), path)
        declared = sorted(p["name"] for p in op.get("parameters", []) if p["in"] == "query")
        r = call_asgi(app, method, url, headers=ADMIN[simulator], params={"timeout": 0, UNKNOWN: "1"}
                      if "timeout" in declared else {UNKNOWN: "1"},
                      json={} if method in ("POST", "PUT", "PATCH") else None)
        assert r.status_code == 400, f"{method} {path}: {r.status_code} {r.text}"
        text = errors_text(simulator, r.json())
        assert UNKNOWN in text and "unknown query parameter" in text, f"{method} {path}: {text}"
        assert all(name in text for name in declared), f"{method} {path} should list {declared}: {text}"


@pytest.mark.parametrize("simulator", ["bigpanda", "servicenow"])
def test_admin_request_bodies_declare_no_additional_properties(simulator: str, apps: dict[str, FastAPI]) -> None:
    document = call_asgi(apps[simulator], "GET", "/openapi.json").json()
    schemas = document["components"]["schemas"]
    open_bodies = set()
    for method, path, op in operations(apps[simulator]):
        content = op.get("requestBody", {}).get("content", {}).get("application/json")
        if content is None:
            continue
        schema = content["schema"]
        schema = schema.get("items", schema)  # a list of patterns: each one
        ref = schema.get("$ref")
        if ref is not None:
            schema = schemas[ref.rsplit("/", 1)[-1]]
        if schema.get("additionalProperties") is not False:
            open_bodies.add((method, path))
    assert open_bodies == PENDING_BODIES[simulator]


def test_servicenow_wait_refuses_query_for_sysparm_query(apps: dict[str, FastAPI]) -> None:
    sn = apps["servicenow"]
    r = call_asgi(sn, "GET", "/_sim/wait", headers=SN_ADMIN,
                  params={"table": "incident", "query": "number=NO-SUCH-TICKET", "timeout": 0})
    assert r.status_code == 400
    text = errors_text("servicenow", r.json())
    assert "query.query: unknown query parameter" in text and "sysparm_query" in text
    right = call_asgi(sn, "GET", "/_sim/wait", headers=SN_ADMIN,
                      params={"table": "incident", "sysparm_query": "number=NO-SUCH-TICKET", "timeout": 0})
    assert right.status_code == 200 and right.json()["matched"] is False


@pytest.mark.parametrize("simulator", ["bigpanda", "servicenow"])
def test_a_fault_rule_with_a_misspelt_field_is_refused(simulator: str, apps: dict[str, FastAPI]) -> None:
    app, headers = apps[simulator], ADMIN[simulator]
    r = call_asgi(app, "POST", "/_sim/faults", headers=headers, json={"path": "/api", "stauts": 500})
    assert r.status_code == 400
    assert "stauts" in errors_text(simulator, r.json())
    assert call_asgi(app, "GET", "/_sim/faults", headers=headers).json() == []  # nothing was added


def test_bigpanda_nested_admin_bodies_refuse_unknown_fields(apps: dict[str, FastAPI]) -> None:
    bp = apps["bigpanda"]
    r = call_asgi(bp, "PUT", "/_sim/organizations/demo/rate-limits", headers=BP_ADMIN,
                  json={"enabled": False, "per_secnd": 3})
    assert r.status_code == 400 and "per_secnd" in errors_text("bigpanda", r.json())
    r = call_asgi(bp, "POST", "/_sim/clock/advance", headers=BP_ADMIN, json={"seconds": 1, "secs": 5})
    assert r.status_code == 400 and "secs" in errors_text("bigpanda", r.json())


def test_declared_parameters_and_fields_still_work(apps: dict[str, FastAPI]) -> None:
    bp, sn = apps["bigpanda"], apps["servicenow"]
    r = call_asgi(bp, "GET", "/_sim/journal", headers=BP_ADMIN, params={"method": "GET", "limit": 5, "since_id": 0})
    assert r.status_code == 200, r.text
    r = call_asgi(bp, "GET", "/_sim/wait", headers=BP_ADMIN, params={"incident_id": "x", "timeout": 0})
    assert r.status_code == 200 and r.json()["matched"] is False
    assert call_asgi(sn, "GET", "/_sim/health").status_code == 200
    r = call_asgi(sn, "POST", "/_sim/clock/advance", headers=SN_ADMIN, json={"seconds": 1})
    assert r.status_code == 200, r.text


def test_credentials_are_checked_before_parameters(apps: dict[str, FastAPI]) -> None:
    """A caller without the admin token learns nothing about the route's parameters."""
    r = call_asgi(apps["bigpanda"], "GET", "/_sim/journal", params={UNKNOWN: "1"})
    assert r.status_code == 401
