"""Changes API and RCC of the BigPanda simulator, through its HTTP interface on a virtual clock."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from bpsn.simulator.bigpanda.backend import BigPandaBackend
from bpsn.testing import call_asgi

USER = {"Authorization": "Bearer BPUdemo-user-key"}
CHANGES = {**USER, "x-bp-app-key": "demo-changes-app-key"}
ORG = {"Authorization": "Bearer demo-org-token"}
T0 = 1_767_225_600  # SimClock.virtual()'s start


class Sim:
    """The module's simulator (tests/bigpanda/conftest.py) as a new one starts: its clock back at the
    start, then reset."""

    def __init__(self, backend: BigPandaBackend, app: FastAPI) -> None:
        self.clock, self.backend, self.app = backend.clock, backend, app
        self.clock.restart()
        backend.reset()
        for org in self.backend.orgs.values():  # every request is at one virtual instant: no 429s here
            org.rate_limits.enabled = False
        self.org = self.backend.orgs["demo"]

    def call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return call_asgi(self.app, method, url, **kwargs)

    def put_change(self, **fields: Any) -> httpx.Response:
        body = {"identifier": "CHG1", "status": "Planned", "summary": "Patch web", "start": T0, **fields}
        return self.call("POST", "/data/changes", headers=CHANGES, json=body)

    def search(self, **params: Any) -> httpx.Response:
        query = {"start_time_frame": T0 - 86400, "end_time_frame": T0 + 86400, **params}
        return self.call("GET", "/resources/v2.0/changes", headers=USER, params=query)

    def incident(self, host: str = "web-1") -> str:
        r = self.call("POST", "/data/v2/alerts", headers=ORG,
                      json={"app_key": "demo-alerts-app-key", "status": "critical", "host": host, "check": "cpu"})
        assert r.status_code == 201, r.text
        return r.json()["alerts"][0]["incident_id"]


@pytest.fixture
def sim(shared_bigpanda: tuple[BigPandaBackend, FastAPI]) -> Sim:
    return Sim(*shared_bigpanda)


def errors(r: httpx.Response) -> str:
    body = r.json()
    assert body["status"] == r.status_code
    return " ".join(body["errors"])


# --- POST /data/changes ------------------------------------------------------------------------------

def test_a_change_is_created_with_204_and_found(sim: Sim) -> None:
    r = sim.put_change(end=T0 + 3600, ticket_url="https://sn/CHG1", tags={"service": "web"},
                       metadata={"opened_by": "jane"})
    assert r.status_code == 204 and r.content == b""
    [change] = sim.search().json()["changes"]
    assert change["identifier"] == "CHG1" and change["status"] == "Planned" and change["summary"] == "Patch web"
    assert (change["start"], change["end"]) == (T0, T0 + 3600)
    assert change["ticket_url"] == "https://sn/CHG1"
    assert change["tags"] == {"service": "web"} and change["metadata"] == {"opened_by": "jane"}
    assert change["created_at"] == change["updated_at"] == T0
    assert len(change["id"]) == 24


def test_upsert_by_identifier_updates_the_same_change(sim: Sim) -> None:
    sim.put_change(ticket_url="https://sn/CHG1", tags={"service": "web"})
    first = sim.search().json()["changes"][0]
    sim.clock.advance(60)
    assert sim.put_change(status="Done", summary="Patched", end=T0 + 50).status_code == 204
    body = sim.search().json()
    assert body["total"] == 1
    [change] = body["changes"]
    assert change["id"] == first["id"]
    assert (change["status"], change["summary"], change["end"]) == ("Done", "Patched", T0 + 50)
    assert change["ticket_url"] == "https://sn/CHG1" and change["tags"] == {"service": "web"}  # kept
    assert change["created_at"] == T0 and change["updated_at"] == T0 + 60
    sim.put_change(status="Done", ticket_url=None, tags=None)  # null clears
    change = sim.search().json()["changes"][0]
    assert change["ticket_url"] is None and change["tags"] == {}


@pytest.mark.parametrize("missing", ["identifier", "status", "summary", "start"])
def test_each_required_field_is_named_when_missing(sim: Sim, missing: str) -> None:
    body = {"identifier": "CHG1", "status": "Planned", "summary": "s", "start": T0}
    del body[missing]
    r = sim.call("POST", "/data/changes", headers=CHANGES, json=body)
    assert r.status_code == 400 and missing in errors(r)
    assert sim.org.changes.changes == {}


@pytest.mark.parametrize(("field", "value"), [
    ("status", "done"), ("status", "Closed"), ("start", "yesterday"), ("start", -1),
    ("start", T0 * 1000), ("end", "later"), ("tags", {"service": 1}), ("tags", {"a": {"b": "c"}}),
    ("tags", ["web"]), ("metadata", "x"), ("summary", ""), ("identifier", ""),
])
def test_invalid_fields_are_refused_by_name(sim: Sim, field: str, value: Any) -> None:
    r = sim.put_change(**{field: value})
    assert r.status_code == 400 and field in errors(r), r.text
    assert sim.org.changes.changes == {}


def test_end_before_start_is_refused_and_changes_nothing(sim: Sim) -> None:
    sim.put_change(end=T0 + 10)
    r = sim.put_change(status="Done", end=T0 - 10)
    assert r.status_code == 400 and "end" in errors(r)
    change = sim.search().json()["changes"][0]
    assert change["status"] == "Planned" and change["end"] == T0 + 10


def test_changes_need_the_user_key_and_the_changes_app_key(sim: Sim) -> None:
    body = {"identifier": "CHG1", "status": "Planned", "summary": "s", "start": T0}
    org = sim.call("POST", "/data/changes", headers={**ORG, "x-bp-app-key": "demo-changes-app-key"}, json=body)
    assert org.status_code == 403 and "user API key" in errors(org)
    no_key = sim.call("POST", "/data/changes", headers=USER, json=body)
    assert no_key.status_code == 400 and "x-bp-app-key" in errors(no_key)
    wrong = sim.call("POST", "/data/changes", headers={**USER, "x-bp-app-key": "demo-alerts-app-key"}, json=body)
    assert wrong.status_code == 403
    anon = sim.call("POST", "/data/changes", headers={"x-bp-app-key": "demo-changes-app-key"}, json=body)
    assert anon.status_code == 401
    assert sim.org.changes.changes == {}


# --- GET /resources/v2.0/changes ---------------------------------------------------------------------

@pytest.mark.parametrize("missing", ["start_time_frame", "end_time_frame"])
def test_search_needs_both_ends_of_the_time_frame(sim: Sim, missing: str) -> None:
    params = {"start_time_frame": T0, "end_time_frame": T0 + 1}
    del params[missing]
    r = sim.call("GET", "/resources/v2.0/changes", headers=USER, params=params)
    assert r.status_code == 400 and missing in errors(r)


def test_search_refuses_a_backwards_frame_and_the_org_token(sim: Sim) -> None:
    r = sim.search(start_time_frame=T0, end_time_frame=T0 - 1)
    assert r.status_code == 400 and "end_time_frame" in errors(r)
    r = sim.call("GET", "/resources/v2.0/changes", headers=ORG,
                 params={"start_time_frame": T0, "end_time_frame": T0})
    assert r.status_code == 403


def test_search_keeps_changes_overlapping_the_frame(sim: Sim) -> None:
    sim.put_change(identifier="before", start=T0 - 500, end=T0 - 100)
    sim.put_change(identifier="straddles", start=T0 - 500, end=T0 + 100)
    sim.put_change(identifier="inside", start=T0 + 10, end=T0 + 20)
    sim.put_change(identifier="after", start=T0 + 1000, end=T0 + 2000)
    sim.put_change(identifier="running", start=T0 - 5000)  # no end: still running
    found = sim.search(start_time_frame=T0, end_time_frame=T0 + 100).json()
    assert {c["identifier"] for c in found["changes"]} == {"straddles", "inside", "running"}
    assert found["total"] == 3
    edge = sim.search(start_time_frame=T0 - 100, end_time_frame=T0 - 100).json()  # touching counts
    assert {c["identifier"] for c in edge["changes"]} == {"before", "straddles", "running"}


def test_search_text_matches_summary_identifier_and_tag_values_in_any_case(sim: Sim) -> None:
    sim.put_change(identifier="CHG-DB-1", summary="Upgrade Postgres")
    sim.put_change(identifier="CHG2", summary="Rotate certs", tags={"service": "Billing-API"})
    sim.put_change(identifier="CHG3", summary="Nothing")

    def ids(text: str) -> set[str]:
        return {c["identifier"] for c in sim.search(search=text).json()["changes"]}

    assert ids("postgres") == {"CHG-DB-1"}
    assert ids("chg-db") == {"CHG-DB-1"}
    assert ids("billing") == {"CHG2"}
    assert ids("service") == set()  # tag names do not count
    assert ids("CHG") == {"CHG-DB-1", "CHG2", "CHG3"}


def test_paging_follows_the_link_header_cursor(sim: Sim) -> None:
    for n in range(5):
        sim.put_change(identifier=f"CHG{n}", start=T0 + n)
    seen: list[str] = []
    r = sim.search(limit=2, sort="start")
    pages = 0
    while True:
        pages += 1
        assert r.status_code == 200 and r.json()["total"] == (5 if pages == 1 else 6)  # "late" counts
        seen += [c["identifier"] for c in r.json()["changes"]]
        link = r.headers.get("link")
        if not link:
            break
        assert link.endswith('>; rel="next"') and "cursor=" in link
        sim.put_change(identifier="late", start=T0 - 9999)  # arrives between pages: no repeats, no skips
        r = sim.call("GET", link[1:link.index(">")], headers=USER)
    assert pages == 3
    assert seen == ["CHG0", "CHG1", "CHG2", "CHG3", "CHG4"]


def test_sort_orders_by_start_and_defaults_to_newest_first(sim: Sim) -> None:
    for n in (2, 0, 1):
        sim.put_change(identifier=f"CHG{n}", start=T0 + n)
    assert [c["identifier"] for c in sim.search().json()["changes"]] == ["CHG2", "CHG1", "CHG0"]
    assert [c["identifier"] for c in sim.search(sort="start").json()["changes"]] == ["CHG0", "CHG1", "CHG2"]
    r = sim.search(limit=1)
    nxt = sim.call("GET", r.headers["link"][1:r.headers["link"].index(">")], headers=USER)
    assert [c["identifier"] for c in nxt.json()["changes"]] == ["CHG1"]
    assert sim.search(sort="end").status_code == 400


@pytest.mark.parametrize(("name", "value"), [("limit", 0), ("limit", 1000), ("cursor", "not-a-cursor"),
                                             ("include", "alerts")])
def test_bad_paging_parameters_are_refused(sim: Sim, name: str, value: Any) -> None:
    r = sim.search(**{name: value})
    assert r.status_code == 400 and name in errors(r)


def test_a_cursor_is_bound_to_its_sort(sim: Sim) -> None:
    for n in range(3):
        sim.put_change(identifier=f"CHG{n}", start=T0 + n)
    link = sim.search(limit=1).headers["link"]
    cursor = httpx.URL(link[1:link.index(">")]).params["cursor"]
    assert sim.search(limit=1, cursor=cursor, sort="start").status_code == 400


def test_limit_defaults_to_200_and_allows_999(sim: Sim) -> None:
    for n in range(201):
        sim.org.changes.upsert(sim.org.rng, {"identifier": f"C{n}", "status": "Done", "summary": "s",
                                             "start": T0}, T0)
    r = sim.search()
    assert len(r.json()["changes"]) == 200 and "link" in r.headers
    r = sim.search(limit=999)
    assert len(r.json()["changes"]) == 201 and "link" not in r.headers


def test_get_one_change(sim: Sim) -> None:
    sim.put_change()
    change = sim.search().json()["changes"][0]
    r = sim.call("GET", f"/resources/v2.0/changes/{change['id']}", headers=USER)
    assert r.status_code == 200 and r.json() == change
    missing = sim.call("GET", "/resources/v2.0/changes/nope", headers=USER)
    assert missing.status_code == 404 and "nope" in errors(missing)
    assert sim.call("GET", f"/resources/v2.0/changes/{change['id']}", headers=ORG).status_code == 403


# --- RCC ------------------------------------------------------------------------------------------

def _change_id(sim: Sim, identifier: str = "CHG1") -> str:
    sim.put_change(identifier=identifier)
    return next(c["id"] for c in sim.search().json()["changes"] if c["identifier"] == identifier)


def test_rcc_relates_a_change_to_an_incident(sim: Sim) -> None:
    change_id, incident_id = _change_id(sim), sim.incident()
    r = sim.call("POST", "/resources/v2.0/rcc", headers=USER,
                 json={"change_id": change_id, "incident_id": incident_id, "match_certainty": "SUSPECT",
                       "comment": "deployed just before"})
    assert r.status_code == 201
    rel = r.json()
    assert (rel["change_id"], rel["incident_id"], rel["match_certainty"], rel["comment"]) == (
        change_id, incident_id, "SUSPECT", "deployed just before")
    assert rel["created_by"] == "integration@demo.example.com" and rel["change"] is None
    [activity] = [a for a in sim.org.incidents[incident_id].activities if a.type == "incident_rcc_update"]
    assert activity.params["change_id"] == change_id and activity.params["action"] == "created"

    listed = sim.call("GET", "/resources/v2.0/rcc", headers=USER,
                      params={"incident_id": incident_id, "include": "change"}).json()
    assert listed["totalRelatedCount"] == 1
    [item] = listed["relatedChanges"]
    assert item["id"] == rel["id"] and item["match_certainty"] == "SUSPECT"
    assert item["change"]["identifier"] == "CHG1" and item["change"]["summary"] == "Patch web"
    bare = sim.call("GET", "/resources/v2.0/rcc", headers=USER, params={"incident_id": incident_id}).json()
    assert bare["relatedChanges"][0]["change"] is None

    one = sim.call("GET", f"/resources/v2.0/rcc/{rel['id']}", headers=USER)
    assert one.status_code == 200 and one.json() == rel


def test_rcc_update_changes_certainty_and_comment(sim: Sim) -> None:
    change_id, incident_id = _change_id(sim), sim.incident()
    rel = sim.call("POST", "/resources/v2.0/rcc", headers=USER,
                   json={"change_id": change_id, "incident_id": incident_id, "match_certainty": "SUSPECT"}).json()
    assert rel["comment"] == ""
    sim.clock.advance(30)
    r = sim.call("PUT", f"/resources/v2.0/rcc/{rel['id']}", headers=USER, json={"match_certainty": "MATCH"})
    assert r.status_code == 200
    assert (r.json()["match_certainty"], r.json()["comment"], r.json()["updated_at"]) == ("MATCH", "", T0 + 30)
    r = sim.call("PUT", f"/resources/v2.0/rcc/{rel['id']}", headers=USER, json={"comment": "confirmed"})
    assert (r.json()["match_certainty"], r.json()["comment"]) == ("MATCH", "confirmed")
    kinds = [a.params["action"] for a in sim.org.incidents[incident_id].activities if a.type == "incident_rcc_update"]
    assert kinds == ["created", "updated", "updated"]
    assert sim.call("PUT", f"/resources/v2.0/rcc/{rel['id']}", headers=USER, json={}).status_code == 400
    bad = sim.call("PUT", f"/resources/v2.0/rcc/{rel['id']}", headers=USER, json={"match_certainty": "MAYBE"})
    assert bad.status_code == 400 and "match_certainty" in errors(bad)
    assert sim.call("PUT", "/resources/v2.0/rcc/nope", headers=USER, json={"comment": "x"}).status_code == 404


def test_rcc_errors(sim: Sim) -> None:
    change_id, incident_id = _change_id(sim), sim.incident()
    body = {"change_id": change_id, "incident_id": incident_id, "match_certainty": "MATCH"}
    unknown_change = sim.call("POST", "/resources/v2.0/rcc", headers=USER, json={**body, "change_id": "nope"})
    assert unknown_change.status_code == 404 and "Change nope" in errors(unknown_change)
    unknown_incident = sim.call("POST", "/resources/v2.0/rcc", headers=USER, json={**body, "incident_id": "nope"})
    assert unknown_incident.status_code == 404 and "Incident nope" in errors(unknown_incident)
    assert sim.call("POST", "/resources/v2.0/rcc", headers=USER, json=body).status_code == 201
    duplicate = sim.call("POST", "/resources/v2.0/rcc", headers=USER, json={**body, "match_certainty": "NONE"})
    assert duplicate.status_code == 409 and "already related" in errors(duplicate)
    bad = sim.call("POST", "/resources/v2.0/rcc", headers=USER, json={**body, "match_certainty": "match"})
    assert bad.status_code == 400 and "match_certainty" in errors(bad)
    assert sim.call("POST", "/resources/v2.0/rcc", headers=ORG, json=body).status_code == 403
    assert sim.call("GET", "/resources/v2.0/rcc", headers=USER).status_code == 400  # incident_id required
    assert sim.call("GET", "/resources/v2.0/rcc", headers=USER, params={"incident_id": "x"}).status_code == 404
    assert sim.call("GET", "/resources/v2.0/rcc/nope", headers=USER).status_code == 404
    assert len(sim.org.changes.relations) == 1


def test_search_by_incident_keeps_related_changes(sim: Sim) -> None:
    related, other = _change_id(sim, "CHG-A"), _change_id(sim, "CHG-B")
    incident_id = sim.incident()
    sim.call("POST", "/resources/v2.0/rcc", headers=USER,
             json={"change_id": related, "incident_id": incident_id, "match_certainty": "MATCH"})
    found = sim.search(incident_id=incident_id, include="change").json()
    assert [c["id"] for c in found["changes"]] == [related] and found["total"] == 1
    assert other not in {c["id"] for c in found["changes"]}
    assert sim.search(incident_id="nope").status_code == 404
