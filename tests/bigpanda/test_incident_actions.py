"""Incidents API V2 and V1 through HTTP: search, resolve, comment, snooze, assign, merge,
split, tags, activities, environments."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from bpsn.simulator.bigpanda.backend import BigPandaBackend
from bpsn.testing import call_asgi

ORG = {"Authorization": "Bearer demo-org-token"}
USER = {"Authorization": "Bearer BPUdemo-user-key"}
ENV = "/resources/v2.0/environments/production/incidents"


class Api:
    """The module's simulator (tests/bigpanda/conftest.py) as a new one starts: its clock back at the
    start, then reset."""

    def __init__(self, backend: BigPandaBackend, app: FastAPI) -> None:
        self.backend, self.app = backend, app
        backend.clock.restart()
        backend.reset()
        for org in self.backend.orgs.values():
            org.rate_limits.enabled = False  # a frozen clock puts every request in one second

    def call(self, method: str, url: str, headers: dict[str, str] = USER, **kw: Any) -> httpx.Response:
        return call_asgi(self.app, method, url, headers=headers, **kw)

    def alert(self, **fields: Any) -> str:
        r = self.call("POST", "/data/v2/alerts", ORG, json={"app_key": "demo-alerts-app-key", **fields})
        assert r.status_code == 201, r.text
        return str(r.json()["alerts"][0]["incident_id"])

    def incident(self, incident_id: str) -> dict[str, Any]:
        r = self.call("GET", f"{ENV}/{incident_id}?expand=alerts")
        assert r.status_code == 200, r.text
        return dict(r.json())

    def activity_types(self, incident_id: str) -> list[str]:
        r = self.call("GET", f"/resources/v2.0/incidents/{incident_id}/activities")
        return [a["type"] for a in r.json()["activities"]]


@pytest.fixture
def api(shared_bigpanda: tuple[BigPandaBackend, FastAPI]) -> Iterator[Api]:
    yield Api(*shared_bigpanda)


def test_search_by_bpql_folder_and_sort(api: Api) -> None:
    a = api.alert(status="critical", host="web-1", cluster="front")
    b = api.alert(status="warning", host="db-1", cluster="data")
    api.backend.clock.advance(10)
    c = api.alert(status="ok", host="cache-1")
    r = api.call("GET", ENV, params={"query": 'status = "critical" OR cluster IN [data]'})
    assert r.status_code == 200 and r.json()["total"] == 2
    assert {i["id"] for i in r.json()["items"]} == {a, b}
    by_status = api.call("GET", ENV, params={"sort_by": "status"}).json()["items"]
    assert [i["id"] for i in by_status][:2] == [a, b]
    resolved = api.call("GET", ENV, params={"folder": "resolved"}).json()
    assert [i["id"] for i in resolved["items"]] == [c]
    wildcard = api.call("GET", ENV, params={"query": 'host = "web-*"'}).json()
    assert [i["id"] for i in wildcard["items"]] == [a]


def test_search_pages_and_refuses_bad_queries(api: Api) -> None:
    for n in range(13):
        api.alert(status="critical", host=f"h{n}")
    first = api.call("GET", ENV, params={"page_size": 5}).json()
    third = api.call("GET", ENV, params={"page_size": 5, "page": 3}).json()
    assert first["total"] == 13 and len(first["items"]) == 5 and len(third["items"]) == 3
    bad = api.call("GET", ENV, params={"query": 'status = '})
    assert bad.status_code == 400 and "BPQL" in bad.json()["errors"][0]
    too_many = api.call("GET", ENV, params={"expand": "alerts", "page_size": 11})
    assert too_many.status_code == 400


def test_resolve_is_202_then_409_and_shares(api: Api) -> None:
    inc = api.alert(status="critical", host="web-1")
    r = api.call("POST", f"{ENV}/{inc}/resolve", json={"comments": "fixed by hand"})
    assert r.status_code == 202 and r.json() == {"status": 202, "data": {}}
    assert api.incident(inc)["active"] is False and api.incident(inc)["alerts"][0]["status"] == "ok"
    assert api.call("POST", f"{ENV}/{inc}/resolve", json={"comments": "again"}).status_code == 409
    assert "incident_resolved_api" in api.activity_types(inc)
    queue = api.call("GET", "/_sim/shares", {"Authorization": "Bearer bpsn-admin-token"}).json()
    assert any("incident#resolved" in s["triggers"] for s in queue["pending"])


def test_resolve_needs_comments_and_the_user_key(api: Api) -> None:
    inc = api.alert(status="critical", host="web-1")
    assert api.call("POST", f"{ENV}/{inc}/resolve", json={}).status_code == 400
    assert api.call("POST", f"{ENV}/{inc}/resolve", ORG, json={"comments": "x"}).status_code == 403
    assert api.call("POST", f"{ENV}/nope/resolve", json={"comments": "x"}).status_code == 404


def test_comment_and_v1_resolve(api: Api) -> None:
    inc = api.alert(status="critical", host="web-1")
    assert api.call("POST", f"{ENV}/{inc}/comments", json={"comment": "looking"}).status_code == 204
    r = api.call("POST", f"/resources/v1.0/incidents/{inc}", ORG,
                 json={"resolved": True, "comments": "ServiceNow ticket was resolved"})
    assert r.status_code == 200 and r.json()["resolved"] is True
    assert api.activity_types(inc)[:2] == ["incident_resolved_api", "incident_commented"]


def test_snooze_wakes_at_end_time_on_the_simulator_clock(api: Api) -> None:
    inc = api.alert(status="critical", host="web-1")
    now = int(api.backend.clock.now())
    r = api.call("PUT", f"{ENV}/{inc}/snooze", json={"end_time": now + 600, "comment": "maintenance"})
    assert r.status_code == 204 and api.incident(inc)["snooze"]["snoozed"] is True
    assert "snoozed" in api.incident(inc)["folders"]
    api.backend.clock.advance(599)
    api.backend.tick()
    assert api.incident(inc)["snooze"]["snoozed"] is True
    api.backend.clock.advance(1)
    api.backend.tick()
    assert api.incident(inc)["snooze"]["snoozed"] is False
    assert api.activity_types(inc)[0] == "incident_unsnoozed"


def test_snooze_is_cancelled_by_a_new_alert_when_asked(api: Api) -> None:
    inc = api.alert(status="warning", host="web-1", check="cpu")
    now = int(api.backend.clock.now())
    api.call("PUT", f"{ENV}/{inc}/snooze", json={"end_time": now + 3600, "cancel_on_incident_updates": True})
    assert api.alert(status="warning", host="web-1", check="disk") == inc
    assert api.incident(inc)["snooze"]["snoozed"] is False


def test_snooze_limits(api: Api) -> None:
    inc = api.alert(status="critical", host="web-1")
    now = int(api.backend.clock.now())
    assert api.call("PUT", f"{ENV}/{inc}/snooze", json={"end_time": now - 1}).status_code == 400
    assert api.call("PUT", f"{ENV}/{inc}/snooze", json={"end_time": now + 90 * 86400}).status_code == 400
    api.call("PUT", f"{ENV}/{inc}/snooze", json={"end_time": now + 60})
    assert api.call("DELETE", f"{ENV}/{inc}/snooze").status_code == 204
    assert api.incident(inc)["snooze"]["snoozed"] is False


def test_assignment(api: Api) -> None:
    inc = api.alert(status="critical", host="web-1")
    assert api.call("PUT", f"{ENV}/{inc}/assignment", json={"assignee": "u-123"}).status_code == 204
    assert api.incident(inc)["assignee"] == "u-123"
    assert api.call("DELETE", f"{ENV}/{inc}/assignment").status_code == 204
    assert api.call("DELETE", f"{ENV}/{inc}/assignment").status_code == 400


def test_merge_moves_alerts_and_enforces_the_300_cap(api: Api) -> None:
    dest = api.alert(status="critical", host="web-1")
    src = api.alert(status="warning", host="db-1")
    r = api.call("POST", f"{ENV}/{dest}/merge", json={"source_incidents": [src], "comment": "same outage"})
    assert r.status_code == 202
    assert len(api.incident(dest)["alerts"]) == 2 and api.incident(src)["active"] is False
    assert api.call("POST", f"{ENV}/{dest}/merge", json={"source_incidents": [src]}).status_code == 409
    big = api.alert(status="critical", host="big-0")
    org = api.backend.orgs["demo"]
    org.incidents[big].alert_ids.extend(["x"] * 299)  # 300 alerts without 300 requests
    other = api.alert(status="critical", host="other")
    r = api.call("POST", f"{ENV}/{big}/merge", json={"source_incidents": [other]})
    assert r.status_code == 400 and "at most 300" in r.json()["errors"][0]


def test_split_makes_a_new_incident(api: Api) -> None:
    inc = api.alert(status="critical", host="web-1", check="cpu")
    api.alert(status="warning", host="web-1", check="disk")
    alerts = api.incident(inc)["alerts"]
    r = api.call("POST", f"{ENV}/{inc}/split", json={"alerts": [alerts[1]["id"]], "comment": "unrelated"})
    assert r.status_code == 202
    assert [a["id"] for a in api.incident(inc)["alerts"]] == [alerts[0]["id"]]
    every = api.call("GET", ENV).json()
    assert every["total"] == 2
    assert api.call("POST", f"{ENV}/{inc}/split", json={"alerts": [alerts[0]["id"]]}).status_code == 400


def test_tag_definitions_and_incident_tags(api: Api) -> None:
    defs = "/resources/v2.0/incidents/tags/definitions"
    r = api.call("POST", defs, json={"name": "priority", "type": "ClosedListValuesSingle", "values": ["P1", "P2"]})
    assert r.status_code == 201
    tag_id = r.json()["id"]
    assert api.call("POST", defs, json={"name": "priority"}).status_code == 409
    assert api.call("POST", defs, json={"name": "x" * 21}).status_code == 400
    inc = api.alert(status="critical", host="web-1")
    assert api.call("POST", f"{ENV}/{inc}/tags/{tag_id}", json={"tag_value": "P1"}).status_code == 204
    got = api.call("GET", f"{ENV}/{inc}/tags/{tag_id}").json()
    assert got["tag_value"] == "P1" and got["name"] == "priority" and got["email"]
    assert api.call("POST", f"{ENV}/{inc}/tags/{tag_id}", json={"tag_value": "P9"}).status_code == 400
    search = api.call("GET", ENV, params={"query": "incident_tags.%s = P1" % tag_id}).json()
    assert search["total"] == 1
    assert api.call("DELETE", f"{ENV}/{inc}/tags/{tag_id}").status_code == 204
    assert api.call("GET", f"{ENV}/{inc}/tags/{tag_id}").status_code == 404
    assert api.activity_types(inc)[:2] == ["incident_tag_removed", "incident_tag_updated"]


def test_environments_with_bpql_filters_decide_what_is_shared(api: Api) -> None:
    envs = "/resources/v2.0/environments"
    r = api.call("POST", envs, json={"name": "databases", "filter": 'host = "db-*"', "autoshare_targets": ["servicenow"]})
    assert r.status_code == 201
    assert api.call("POST", envs, json={"name": "bad", "filter": "host ="}).status_code == 400
    assert api.call("POST", envs, json={"name": "databases"}).status_code == 409
    db = api.alert(status="critical", host="db-1")
    web = api.alert(status="critical", host="web-1")
    scoped = f"/resources/v2.0/environments/databases/incidents/{db}"
    assert api.call("GET", scoped).status_code == 200
    assert api.call("GET", f"/resources/v2.0/environments/databases/incidents/{web}").status_code == 404
    assert len(api.call("GET", envs).json()) == 2
