"""BigPanda's RBAC in the simulator: roles carry permissions, a user API key acts with its user's
roles, each API checks its permission (403 in BigPanda's error body, naming it), and roles are
configured through /_sim, fixtures and snapshots."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from bpsn.simulator.bigpanda.admin.snapshot import dumps, loads
from bpsn.simulator.bigpanda.backend import BigPandaBackend
from bpsn.simulator.bigpanda.permissions import (
    AUTOSHARE,
    INCIDENT_ACTIONS,
    INCIDENT_ENRICHMENT,
    MANAGE_ENVIRONMENTS,
    PERMISSIONS,
    ROOT_CAUSE_CHANGES,
)
from bpsn.testing import call_asgi

USER = {"Authorization": "Bearer BPUdemo-user-key"}
OPERATOR = {"Authorization": "Bearer BPUdemo-operator-key"}
ORG = {"Authorization": "Bearer demo-org-token"}
ADMIN = {"X-Bpsn-Admin-Token": "bpsn-admin-token"}
INTEGRATION_USER = "integration@demo.example.com"
ROLES_URL = "/_sim/organizations/demo/roles"

# One request per permission: an API that needs it (and, with it, answers something else than 403)
CALLS: dict[str, tuple[str, str, dict[str, Any]]] = {
    AUTOSHARE: ("GET", "/integrations/v3/servicenow/shares", {"headers": {"x-bp-app-key": "demo-incidents-app-key"}}),
    INCIDENT_ENRICHMENT: ("GET", "/resources/v2.1/mapping-enrichment", {}),
    ROOT_CAUSE_CHANGES: ("GET", "/resources/v2.0/rcc", {"params": {"incident_id": "nope"}}),
    INCIDENT_ACTIONS: ("POST", "/resources/v2.0/environments/production/incidents/nope/comments",
                       {"json": {"comment": "hello"}}),
    MANAGE_ENVIRONMENTS: ("GET", "/resources/v2.0/environments", {}),
}


@pytest.fixture
def bp(fresh_bigpanda: tuple[BigPandaBackend, FastAPI]) -> tuple[BigPandaBackend, FastAPI]:
    return fresh_bigpanda  # tests/bigpanda/conftest.py


def call(app: FastAPI, method: str, url: str, headers: dict[str, str] | None = None,
         **kwargs: Any) -> httpx.Response:
    return call_asgi(app, method, url, base_url="http://bp.test", headers=headers, **kwargs)


def as_user(app: FastAPI, permission: str, user: dict[str, str] = USER) -> httpx.Response:
    method, url, kwargs = CALLS[permission]
    return call(app, method, url, headers={**user, **kwargs.get("headers", {})},
                **{k: v for k, v in kwargs.items() if k != "headers"})


def give_integration_user(app: FastAPI, permissions: list[str]) -> None:
    r = call(app, "PUT", ROLES_URL, headers=ADMIN, json={
        "roles": {"admin": list(PERMISSIONS), "limited": permissions}, "user_roles": {INTEGRATION_USER: ["limited"]}})
    assert r.status_code == 200, r.text


def test_by_default_every_user_has_every_permission(bp: tuple[BigPandaBackend, FastAPI]) -> None:
    _, app = bp
    view = call(app, "GET", ROLES_URL, headers=ADMIN).json()
    assert view["roles"] == {"admin": list(PERMISSIONS)}
    assert view["user_roles"] == {}
    assert view["users"] == {
        INTEGRATION_USER: {"roles": ["admin"], "permissions": list(PERMISSIONS), "api_keys": ["er-key"]},
        "sre@demo.example.com": {"roles": ["admin"], "permissions": list(PERMISSIONS), "api_keys": ["or-key"]}}
    for permission in PERMISSIONS:
        assert as_user(app, permission).status_code != 403, permission


@pytest.mark.parametrize("missing", PERMISSIONS)
def test_each_api_needs_its_permission(bp: tuple[BigPandaBackend, FastAPI], missing: str) -> None:
    _, app = bp
    give_integration_user(app, [p for p in PERMISSIONS if p != missing])
    refused = as_user(app, missing)
    assert refused.status_code == 403
    body = refused.json()
    assert body["status"] == 403 and len(body["errors"]) == 1
    assert f"needs the BigPanda permission '{missing}'" in body["errors"][0]
    assert INTEGRATION_USER in body["errors"][0] and "limited" in body["errors"][0]
    for other in PERMISSIONS:
        if other != missing:
            assert as_user(app, other).status_code != 403, other
    # another user (the operator, at the console) keeps the default role
    assert as_user(app, missing, OPERATOR).status_code != 403


def test_a_user_with_no_role_may_do_nothing_that_needs_a_permission(bp: tuple[BigPandaBackend, FastAPI]) -> None:
    _, app = bp
    r = call(app, "PUT", f"/_sim/organizations/demo/users/{INTEGRATION_USER}/roles", headers=ADMIN,
             json={"roles": []})
    assert r.status_code == 200 and r.json()["users"][INTEGRATION_USER]["permissions"] == []
    for permission in PERMISSIONS:
        assert "(roles: none)" in as_user(app, permission).json()["errors"][0]


def test_the_org_token_is_not_checked(bp: tuple[BigPandaBackend, FastAPI]) -> None:
    _, app = bp
    give_integration_user(app, [])
    r = call(app, "POST", "/data/v2/alerts", headers=ORG,
             json={"app_key": "demo-alerts-app-key", "host": "web-1", "check": "cpu", "status": "critical"})
    assert r.status_code in (200, 201, 202, 204), r.text


def test_roles_are_checked_whole_and_named(bp: tuple[BigPandaBackend, FastAPI]) -> None:
    backend, app = bp
    before = call(app, "GET", ROLES_URL, headers=ADMIN).json()
    r = call(app, "PUT", ROLES_URL, headers=ADMIN, json={
        "roles": {"r1": ["Autoshare", "Share Everything"]}, "user_roles": {INTEGRATION_USER: ["r2"]}})
    assert r.status_code == 400
    errors = r.json()["errors"]
    assert any("unknown permission 'Share Everything'" in e for e in errors)
    assert any("unknown role 'r2'" in e for e in errors)
    r = call(app, "PUT", ROLES_URL, headers=ADMIN, json={"roles": {}, "colour": "blue"})
    assert r.status_code == 400 and "colour" in r.text
    r = call(app, "PUT", f"/_sim/organizations/demo/users/{INTEGRATION_USER}/roles", headers=ADMIN,
             json={"roles": ["ghost"]})
    assert r.status_code == 400 and "unknown role 'ghost'" in r.text
    assert call(app, "GET", ROLES_URL, headers=ADMIN).json() == before  # nothing changed
    assert call(app, "GET", ROLES_URL).status_code == 401
    assert call(app, "GET", ROLES_URL, headers=USER).status_code == 401
    assert call(app, "GET", "/_sim/organizations/nope/roles", headers=ADMIN).status_code == 404
    assert backend.orgs["demo"].access.roles_of(INTEGRATION_USER) == ["admin"]


def test_fixtures_snapshots_and_reset_keep_roles(bp: tuple[BigPandaBackend, FastAPI]) -> None:
    backend, app = bp
    org = {"name": "acme", "org_token": "acme-org", "user_api_keys": {"BPUacme": "bot@acme.example.com"},
           "app_keys": {"incidents": "acme-inc"}, "roles": {"sharer": [AUTOSHARE]},
           "user_roles": {"bot@acme.example.com": ["sharer"]}}
    bad = call(app, "POST", "/_sim/fixtures", headers=ADMIN,
                json={"organizations": [{**org, "roles": {"sharer": ["Autoshare", "Fly"]}}]})
    assert bad.status_code == 400 and "organizations[0] (acme).roles.sharer: unknown permission 'Fly'" in bad.text
    assert "acme" not in backend.orgs
    assert call(app, "POST", "/_sim/fixtures", headers=ADMIN, json={"organizations": [org]}).status_code == 201
    acme = {"Authorization": "Bearer BPUacme"}
    assert call(app, "GET", "/resources/v2.0/environments", headers=acme).status_code == 403
    shares = call(app, "GET", "/integrations/v3/servicenow/shares", headers={**acme, "x-bp-app-key": "acme-inc"})
    assert shares.status_code == 200
    snapshot = dumps(backend)
    backend.reset()
    assert "acme" not in backend.orgs
    loads(backend, snapshot)
    assert backend.orgs["acme"].access.permissions_of("bot@acme.example.com") == frozenset({AUTOSHARE})
    assert call(app, "POST", "/_sim/organizations/acme/reset", headers=ADMIN).status_code == 200
    assert call(app, "GET", "/resources/v2.0/environments", headers=acme).status_code == 403


def test_tag_definitions_and_incident_reads_need_none_of_the_five(bp: tuple[BigPandaBackend, FastAPI]) -> None:
    _, app = bp
    give_integration_user(app, [])
    assert call(app, "GET", "/resources/v2.0/incidents/tags/definitions", headers=USER).status_code == 200
    assert call(app, "GET", "/resources/v2.0/environments/production/incidents", headers=USER).status_code == 200
    assert call(app, "GET", "/resources/v2.0/environments", headers=USER).status_code == 403
