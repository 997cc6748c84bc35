"""Batch API through HTTP: mixed items, per-item ACLs, malformed items, limits."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from bpsn.simulator.servicenow.app import create_app
from bpsn.simulator.servicenow.backend import ServiceNowBackend
from bpsn.simulator.servicenow.batch.runner import MAX_ITEMS, QUOTA_ENV

pytestmark = pytest.mark.anyio

ADMIN = ("admin", "admin")
INTEGRATION = ("bigpanda.integration", "bigpanda")
BATCH = "/api/now/v1/batch"


def b64(data: Any) -> str:
    return base64.b64encode(json.dumps(data).encode()).decode()


def decoded(item: dict[str, Any]) -> Any:
    return json.loads(base64.b64decode(item["body"]))


def item(id_: str, method: str, url: str, body: Any = None, **extra: Any) -> dict[str, Any]:
    out = {"id": id_, "method": method, "url": url,
           "headers": [{"name": "Content-Type", "value": "application/json"},
                       {"name": "Accept", "value": "application/json"}], **extra}
    if body is not None:
        out["body"] = b64(body)
    return out


async def test_mixed_get_post_patch(client: httpx.AsyncClient, backend: ServiceNowBackend) -> None:
    existing = backend.insert_system("incident", {"short_description": "before"})
    r = await client.post(BATCH, json={"batch_request_id": "1", "rest_requests": [
        item("11", "GET", "/api/now/table/incident?sysparm_limit=1"),
        item("12", "POST", "/api/now/table/incident", {"short_description": "from batch"},
             exclude_response_headers=True),
        item("13", "PATCH", f"/api/now/table/incident/{existing['sys_id']}", {"short_description": "after"}),
    ]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["batch_request_id"] == "1" and body["unserviced_requests"] == []
    got, created, patched = body["serviced_requests"]
    assert [x["id"] for x in body["serviced_requests"]] == ["11", "12", "13"]
    assert (got["status_code"], got["status_text"]) == (200, "OK")
    assert decoded(got)["result"][0]["sys_id"] == existing["sys_id"]
    headers = {h["name"]: h["value"] for h in got["headers"]}
    assert headers["X-Total-Count"] == "1" and headers["Content-Type"].startswith("application/json")
    assert (created["status_code"], created["status_text"], created["headers"]) == (201, "Created", [])
    assert decoded(created)["result"]["short_description"] == "from batch"
    assert decoded(created)["result"]["sys_created_by"] == "admin"
    assert patched["status_code"] == 200 and decoded(patched)["result"]["short_description"] == "after"
    assert all(isinstance(x["execution_time"], int) and "error_message" not in x for x in body["serviced_requests"])
    assert backend.get("incident", existing["sys_id"])["short_description"] == "after"


async def test_item_acls_apply_per_item(client: httpx.AsyncClient, backend: ServiceNowBackend) -> None:
    r = await client.post(BATCH, auth=INTEGRATION, json={"batch_request_id": "acl", "rest_requests": [
        item("write-config", "POST", "/api/now/table/x_bip_panda_config", {"name": "nope"}),
        item("read-config", "GET", "/api/now/table/x_bip_panda_config"),
        item("create-incident", "POST", "/api/now/table/incident", {"short_description": "allowed"}),
    ]})
    assert r.status_code == 200
    denied, read, created = r.json()["serviced_requests"]
    assert denied["status_code"] == 403 and denied["status_text"] == "Forbidden"
    assert denied["error_message"] == "Operation Failed"
    assert decoded(denied)["error"]["detail"] == "ACL Exception Insert Failed due to security constraints"
    assert read["status_code"] == 200
    assert created["status_code"] == 201
    assert decoded(created)["result"]["sys_created_by"] == INTEGRATION[0]  # the batch caller's own identity
    assert backend.store.count("x_bip_panda_config") == 0


async def test_malformed_items_get_400_and_the_rest_run(client: httpx.AsyncClient) -> None:
    r = await client.post(BATCH, json={"rest_requests": [
        {"id": "no-url", "method": "GET"},
        {"id": "no-method", "url": "/api/now/table/incident"},
        {"id": "bad-b64", "method": "POST", "url": "/api/now/table/incident", "body": "%%% not base64 %%%"},
        {"id": "admin-api", "method": "POST", "url": "/_sim/reset"},
        {"id": "nested", "method": "POST", "url": BATCH, "body": b64({"rest_requests": []})},
        {"id": 7, "method": "get", "url": "/api/now/table/incident"},
    ]})
    assert r.status_code == 200, r.text
    by_id = {x["id"]: x for x in r.json()["serviced_requests"]}
    for name in ("no-url", "no-method", "bad-b64", "admin-api", "nested"):
        assert by_id[name]["status_code"] == 400, name
        body = decoded(by_id[name])
        assert body["status"] == "failure" and body["error"]["message"] == by_id[name]["error_message"]
    assert "url" in by_id["no-url"]["error_message"] and "method" in by_id["no-method"]["error_message"]
    assert by_id["nested"]["error_message"] == "Nested batch requests are not supported"
    assert by_id["7"]["status_code"] == 200  # numeric ids are taken as strings; methods in any case


async def test_items_are_not_atomic(client: httpx.AsyncClient, backend: ServiceNowBackend) -> None:
    r = await client.post(BATCH, json={"rest_requests": [
        item("a", "POST", "/api/now/table/incident", {"short_description": "kept"}),
        item("b", "PATCH", f"/api/now/table/incident/{'0' * 32}", {"short_description": "missing"}),
    ]})
    created, missing = r.json()["serviced_requests"]
    assert missing["status_code"] == 404 and missing["error_message"] == "No Record found"
    assert backend.get("incident", decoded(created)["result"]["sys_id"])["short_description"] == "kept"


async def test_item_cap(client: httpx.AsyncClient) -> None:
    items = [item(str(n), "GET", "/api/now/stats/incident?sysparm_count=true") for n in range(MAX_ITEMS + 1)]
    r = await client.post(BATCH, json={"rest_requests": items})
    assert r.status_code == 400 and r.json()["error"]["message"] == "Too many requests in batch"
    r = await client.post(BATCH, json={"rest_requests": items[:MAX_ITEMS]})
    assert r.status_code == 200 and len(r.json()["serviced_requests"]) == MAX_ITEMS


async def test_limits_leave_the_rest_unserviced(client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    items = [item("1", "GET", "/api/now/table/sys_user_group"), item("2", "GET", "/api/now/table/incident")]
    small = await client.post(BATCH, json={"rest_requests": items}, headers={"X-BATCHREQUEST-MAX-OUTPUT-SIZE": "20"})
    assert small.json()["serviced_requests"] == [] and small.json()["unserviced_requests"] == ["1", "2"]

    big = {"id": "big", "method": "POST", "url": "/api/now/table/incident",
           "body": base64.b64encode(b" " * (5 * 1024 * 1024 + 1)).decode()}
    r = await client.post(BATCH, json={"rest_requests": [items[0], big, items[1]]})
    assert [x["id"] for x in r.json()["serviced_requests"]] == ["1"]
    assert r.json()["unserviced_requests"] == ["big", "2"]

    monkeypatch.setenv(QUOTA_ENV, "0")
    r = await client.post(BATCH, json={"rest_requests": items})
    assert r.status_code == 200 and r.json()["unserviced_requests"] == ["1", "2"]


async def test_batch_needs_auth_and_the_versioned_url(backend: ServiceNowBackend, client: httpx.AsyncClient) -> None:
    transport = httpx.ASGITransport(app=create_app(backend))
    async with httpx.AsyncClient(transport=transport, base_url="http://sn") as anonymous:
        r = await anonymous.post(BATCH, json={"rest_requests": []})
    assert r.status_code == 401
    unversioned = await client.post("/api/now/batch", json={"rest_requests": []})
    assert unversioned.status_code == 400
    bad = await client.post(BATCH, json={"rest_requests": "nope"})
    assert bad.status_code == 400 and bad.json()["status"] == "failure"
