"""Attacks on both simulators' admin API (`/_sim`) and on their request journals.

Every /_sim operation each app's own /openapi.json lists is called without credentials (401,
health excepted), with the wrong ones (401, or 403 for a ServiceNow user without the admin role),
and with the right ones (served: no 401/403, no 5xx). Tokens sent in a query string never reach a
journal in clear.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pooled_simulators import bigpanda_pool, servicenow_pool

from bpsn.simulator.bigpanda.settings import BigPandaSettings
from bpsn.simulator.servicenow.backend import ServiceNowBackend
from bpsn.testing import call_asgi

BP_ADMIN_TOKEN = "s3cret-admin-token-for-tests"
BP_ADMIN = {"Authorization": f"Bearer {BP_ADMIN_TOKEN}"}
BP_ADMIN_HEADER = {"X-Bpsn-Admin-Token": BP_ADMIN_TOKEN}
SN_ADMIN = {"Authorization": "Basic YWRtaW46YWRtaW4="}  # admin / admin
SN_ANALYST = httpx.BasicAuth("noc.analyst", "analyst")  # a user without the admin role
BP_SETTINGS = BigPandaSettings(admin_token=BP_ADMIN_TOKEN, rate_limit_enabled=False)
BP_WRONG = [  # none of these opens /_sim
    {"Authorization": "Bearer bpsn-admin-token"},  # the public default, not in force here
    {"X-Bpsn-Admin-Token": BP_ADMIN_TOKEN[:-1]},
    {"Authorization": f"Bearer {BP_SETTINGS.org_token}"},  # a tenant's token is not an admin's
    {"Authorization": f"Bearer {BP_SETTINGS.user_api_key}"},
    {"Authorization": f"Basic {BP_ADMIN_TOKEN}"},
]
REFUSED = ("Unauthorized: the simulator admin API needs the admin token "
           "(Authorization: Bearer or X-Bpsn-Admin-Token)")
PATH_VALUES = {"name": "demo", "environment": "production", "rule_id": "1"}


# The process's pooled simulators (pooled_simulators.py), as new ones start; BigPanda's with this
# file's settings (read as it runs), on a copy: the pool puts its own back.
@pytest.fixture
def bigpanda() -> FastAPI:
    pool = bigpanda_pool()
    pool.as_new().settings = BP_SETTINGS.model_copy()
    pool.backend.reset()
    return pool.app


@pytest.fixture
def servicenow() -> FastAPI:
    pool = servicenow_pool()
    pool.as_new()
    return pool.app


def sim_operations(app: FastAPI) -> list[tuple[str, str, dict[str, Any]]]:
    """(METHOD, path, operation) of every /_sim route, read from the app's served document."""
    document = call_asgi(app, "GET", "/openapi.json").json()
    return [(method.upper(), path, op) for path, item in document["paths"].items() if path.startswith("/_sim/")
            for method, op in item.items() if isinstance(op, dict)]


def url_of(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES.get(m.group(1), "no-such-thing"), path)


def request(app: FastAPI, method: str, path: str, headers: dict[str, str] | None = None,
            **kw: Any) -> httpx.Response:
    params = {"timeout": 0, "table": "incident"} if path == "/_sim/wait" else None  # never long-poll
    body = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
    return call_asgi(app, method, url_of(path), headers=headers or {}, params=params, **body, **kw)


@pytest.mark.parametrize("simulator", ["bigpanda", "servicenow"])
def test_every_admin_route_but_health_needs_credentials(simulator: str, request_fixture: Any) -> None:
    app = request_fixture(simulator)
    operations = sim_operations(app)
    assert len(operations) > 10  # the document was read, and lists the admin API
    for method, path, _ in operations:
        r = request(app, method, path)
        if path == "/_sim/health":
            assert r.status_code == 200, r.text
            continue
        assert r.status_code == 401, f"{method} {path} answered {r.status_code} without credentials"
        assert "token" not in r.headers.get("set-cookie", "")


def test_bigpanda_admin_routes_refuse_wrong_credentials(bigpanda: FastAPI) -> None:
    for method, path, _ in sim_operations(bigpanda):
        if path == "/_sim/health":
            continue
        for headers in BP_WRONG:
            r = request(bigpanda, method, path, headers)
            assert r.status_code == 401, f"{method} {path} with {headers}: {r.status_code}"
            assert r.json() == {"status": 401, "errors": [REFUSED]}


def test_servicenow_admin_routes_refuse_a_user_without_the_admin_role(servicenow: FastAPI) -> None:
    for method, path, _ in sim_operations(servicenow):
        if path != "/_sim/health":
            r = request(servicenow, method, path, auth=SN_ANALYST)
            assert r.status_code == 403, f"{method} {path}: {r.status_code}"


@pytest.mark.parametrize("simulator", ["bigpanda", "servicenow"])
def test_every_admin_route_works_with_credentials(simulator: str, request_fixture: Any) -> None:
    app = request_fixture(simulator)
    credentials = [BP_ADMIN, BP_ADMIN_HEADER] if simulator == "bigpanda" else [SN_ADMIN]
    for method, path, _ in sim_operations(app):
        for headers in credentials:
            r = request(app, method, path, headers)
            # served: a 400 for the empty body or a 404 for a made-up id is the route's own answer
            assert r.status_code not in (401, 403) and r.status_code < 500, f"{method} {path}: {r.text}"
    request(app, "DELETE", "/_sim/faults", credentials[0])  # the empty rule POST /_sim/faults added


def test_the_bigpanda_document_declares_the_admin_credential(bigpanda: FastAPI) -> None:
    document = call_asgi(bigpanda, "GET", "/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["adminBearer"] == {"type": "http", "scheme": "bearer", "description": schemes["adminBearer"][
        "description"]}
    assert (schemes["adminToken"]["in"], schemes["adminToken"]["name"]) == ("header", "X-Bpsn-Admin-Token")
    for method, path, op in sim_operations(bigpanda):
        expected = [] if path == "/_sim/health" else [{"adminBearer": []}, {"adminToken": []}]
        assert op.get("security") == expected, f"{method} {path}"
        if path != "/_sim/health":
            assert "401" in op["responses"], f"{method} {path} does not document its 401"
    alerts = document["paths"]["/data/v2/alerts"]["post"]
    assert alerts.get("security", document["security"]) == [{"bearerToken": []}]


def test_the_admin_token_opens_nothing_but_the_admin_api(bigpanda: FastAPI) -> None:
    r = call_asgi(bigpanda, "GET", "/resources/v2.0/environments", headers=BP_ADMIN)
    assert r.status_code == 401
    sneaked = call_asgi(bigpanda, "GET", "/_sim/clock", params={"access_token": BP_ADMIN_TOKEN})
    assert sneaked.status_code == 401  # never from the query string, where logs would keep it


# --- journals ---------------------------------------------------------------------------------------
SECRETS_IN_QUERY = ("access_token", "api_key", "token", "client_secret", "password")


def test_bigpanda_journal_never_holds_a_query_string_token(bigpanda: FastAPI) -> None:
    key = BP_SETTINGS.user_api_key
    for name in SECRETS_IN_QUERY:
        call_asgi(bigpanda, "GET", f"/resources/v2.0/environments?page=1&{name}={key}")
    served = call_asgi(bigpanda, "GET", "/resources/v2.0/environments", params={"access_token": key})
    assert served.status_code == 200  # the token still works; only the record of it is redacted
    journal = call_asgi(bigpanda, "GET", "/_sim/journal", headers=BP_ADMIN)
    assert journal.status_code == 200
    text = json.dumps(journal.json())
    assert key not in text and key[-10:] not in text
    queries = [e["query"] for e in journal.json()["entries"] if e["path"] == "/resources/v2.0/environments"]
    assert "page=1&access_token=[redacted]" in queries and "access_token=[redacted]" in queries


def test_servicenow_journal_never_holds_a_token_or_a_client_secret(servicenow: FastAPI) -> None:
    backend: ServiceNowBackend = servicenow.state.backend
    settings = backend.settings
    form = {"grant_type": "password", "client_id": settings.oauth_client_id,
            "client_secret": settings.oauth_client_secret, "username": "admin", "password": "admin"}
    token = call_asgi(servicenow, "POST", "/oauth_token.do", data=form)
    assert token.status_code == 200, token.text
    access = token.json()["access_token"]
    call_asgi(servicenow, "GET", "/api/now/table/incident", params={"access_token": access, "sysparm_limit": 1})
    call_asgi(servicenow, "POST", f"/oauth_token.do?client_secret={settings.oauth_client_secret}", data=form)
    call_asgi(servicenow, "GET", "/api/now/table/incident?password=admin&sysparm_limit=1", headers=SN_ADMIN)
    text = json.dumps(call_asgi(servicenow, "GET", "/_sim/journal", headers=SN_ADMIN).json())
    for secret in (access, settings.oauth_client_secret, "password=admin"):
        assert secret not in text
    assert "client_secret=[redacted]" in text and "access_token=[redacted]" in text


@pytest.fixture
def request_fixture(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue
