"""Maintenance plans v2 of the BigPanda simulator: conditions, the HTTP API on a virtual clock, and
alerts and incidents in maintenance."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from bpsn.base.rng import SeededRandom
from bpsn.simulator.bigpanda.backend import BigPandaBackend
from bpsn.simulator.bigpanda.errors import BpError
from bpsn.simulator.bigpanda.maintenance.plans import MAX_PLANS, ConditionError, MaintenanceStore, compile_condition
from bpsn.testing import call_asgi

USER = {"Authorization": "Bearer BPUdemo-user-key"}
ORG = {"Authorization": "Bearer demo-org-token"}
T0 = 1_767_225_600  # SimClock.virtual()'s start
PLANS = "/resources/v2.0/maintenance-plans"
EMAIL = "integration@demo.example.com"


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

    def create(self, **fields: Any) -> httpx.Response:
        body = {"name": "Web patching", "condition": {"=": ["host", "web-1"]}, "start": T0 + 100,
                "end": T0 + 200, **fields}
        return self.call("POST", PLANS, headers=USER, json=body)

    def alert(self, **fields: Any) -> dict[str, Any]:
        body = {"app_key": "demo-alerts-app-key", "status": "critical", "host": "web-1", "check": "cpu", **fields}
        r = self.call("POST", "/data/v2/alerts", headers=ORG, json=body)
        assert r.status_code == 201, r.text
        return r.json()["alerts"][0]

    def incident(self, incident_id: str) -> dict[str, Any]:
        r = self.call("GET", f"/resources/v2.0/environments/production/incidents/{incident_id}",
                      headers=USER, params={"expand": "alerts"})
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture
def sim(shared_bigpanda: tuple[BigPandaBackend, FastAPI]) -> Sim:
    return Sim(*shared_bigpanda)


def errors(r: httpx.Response) -> str:
    body = r.json()
    assert body["status"] == r.status_code
    return " ".join(body["errors"])


# --- conditions, without HTTP -------------------------------------------------------------------------

TAGS = {"host": "web-1", "check": "CPU load", "env": "prod", "roles": "db|cache", "port": "443"}


@pytest.mark.parametrize(("condition", "expected"), [
    ({"=": ["host", "web-1"]}, True),
    ({"=": ["host", "web-2"]}, False),
    ({"=": ["host", "WEB-1"]}, False),  # plain values are case-sensitive
    ({"=": ["missing", "x"]}, False),
    ({"!=": ["host", "web-2"]}, True),
    ({"!=": ["host", "web-1"]}, False),
    ({"!=": ["missing", "x"]}, True),  # a missing tag equals nothing
    ({"IN": ["env", ["stage", "prod"]]}, True),
    ({"IN": ["env", ["stage", "dev"]]}, False),
    ({"IN": ["env", ["stage", {"type": "regex", "value": "PR.*"}]]}, True),
    ({"AND": [{"=": ["host", "web-1"]}, {"=": ["env", "prod"]}]}, True),
    ({"AND": [{"=": ["host", "web-1"]}, {"=": ["env", "dev"]}]}, False),
    ({"OR": [{"=": ["host", "web-2"]}, {"=": ["env", "prod"]}]}, True),
    ({"OR": [{"=": ["host", "web-2"]}, {"=": ["env", "dev"]}]}, False),
    ({"NOT": {"=": ["host", "web-2"]}}, True),
    ({"NOT": {"=": ["host", "web-1"]}}, False),
    ({"NOT": [{"=": ["host", "web-1"]}]}, False),
    ({"and": [{"=": ["host", "web-1"]}]}, True),  # operator names in any case
    ({"=": ["host", {"type": "regex", "value": "WEB-\\d"}]}, True),  # regex: any case, whole value
    ({"=": ["host", {"type": "regex", "value": "web"}]}, False),
    ({"=": ["host", {"type": "formal-regex", "value": "web-\\d"}]}, True),
    ({"=": ["host", {"type": "formal-regex", "value": "WEB-\\d"}]}, False),  # as given: case counts
    ({"=": ["host", "web-*"]}, True),  # glob
    ({"=": ["check", "*load"]}, True),
    ({"=": ["check", "*lo*ad*"]}, True),
    ({"=": ["host", "web-?"]}, False),  # only * is a wildcard
    ({"=": ["host", "db-*"]}, False),
    ({"=": ["port", 443]}, True),  # numbers compare as text
    ({"=": ["roles", "cache"]}, True),  # one of several values
    ({"=": ["roles", "db|cache"]}, True),
    ({"OR": [{"AND": [{"=": ["env", "prod"]}, {"NOT": {"IN": ["host", ["web-2", "web-3"]]}}]}]}, True),
])
def test_condition_operators(condition: dict[str, Any], expected: bool) -> None:
    assert compile_condition(condition)(TAGS) is expected


@pytest.mark.parametrize(("condition", "named"), [
    ({"LIKE": ["host", "x"]}, "operator 'LIKE' is not known"),
    ({"=": ["host", {"type": "regex", "value": "web-("}]}, "bad regex"),
    ({"=": ["host", {"type": "formal-regex", "value": "[a"}]}, "bad formal-regex"),
    ({"=": ["host", {"type": "glob", "value": "x"}]}, "value type 'glob' is not known"),
    ({"=": ["host", {"value": "x"}]}, "exactly 'type' and 'value'"),
    ({"=": ["host"]}, "exactly 2 items"),
    ({"=": ["host", "a", "b"]}, "exactly 2 items"),
    ({"!=": "host"}, "exactly 2 items"),
    ({"=": ["", "x"]}, "tag name"),
    ({"=": [1, "x"]}, "tag name"),
    ({"=": ["host", ["a"]]}, "a value must be"),
    ({"IN": ["host", []]}, "non-empty list"),
    ({"IN": ["host", "web-1"]}, "non-empty list"),
    ({"AND": []}, "non-empty list of conditions"),
    ({"OR": {"=": ["host", "x"]}}, "non-empty list of conditions"),
    ({"NOT": [{"=": ["a", "b"]}, {"=": ["c", "d"]}]}, "NOT takes one condition"),
    ({"=": ["a", "b"], "!=": ["c", "d"]}, "exactly one operator"),
    ({}, "exactly one operator"),
    ({"AND": [{"=": ["a", "b"]}, "host = a"]}, "condition.AND[1]"),
])
def test_invalid_conditions_say_what_is_wrong(condition: Any, named: str) -> None:
    with pytest.raises(ConditionError) as caught:
        compile_condition(condition)
    assert named in str(caught.value)


def test_deep_nesting_is_refused() -> None:
    condition: dict[str, Any] = {"=": ["host", "x"]}
    for _ in range(40):
        condition = {"NOT": condition}
    with pytest.raises(ConditionError, match="nested more than"):
        compile_condition(condition)


def test_only_active_plans_match() -> None:
    store, rng = MaintenanceStore(), SeededRandom(1)
    cond = {"=": ["host", "web-1"]}
    early = store.create({"name": "a", "condition": cond, "start": 100, "end": 200}, rng=rng, by="u", now=0)
    late = store.create({"name": "b", "condition": cond, "start": 150, "end": 300}, rng=rng, by="u", now=0)
    other = store.create({"name": "c", "condition": {"=": ["host", "db"]}, "start": 0, "end": 999},
                         rng=rng, by="u", now=0)
    assert store.matching_plans({"host": "web-1"}, 99) == []
    assert store.matching_plans({"host": "web-1"}, 100) == [early.id]
    assert store.matching_plans({"host": "web-1"}, 160) == [early.id, late.id]
    assert store.matching_plans({"host": "web-1"}, 200) == [late.id]  # end is exclusive
    assert store.matching_plans({"host": "web-1"}, 300) == []
    assert store.matching_plans({"host": "db"}, 160) == [other.id]


# --- the HTTP API ---------------------------------------------------------------------------------

def test_create_returns_the_plan_with_defaults(sim: Sim) -> None:
    r = sim.create(description="monthly", custom_tags=[{"name": "team", "value": "web"}],
                   frequency="Daily", frequency_data={"relativity": "First", "duration": 10800})
    assert r.status_code == 201, r.text
    plan = r.json()
    assert plan["name"] == "Web patching" and plan["condition"] == {"=": ["host", "web-1"]}
    assert (plan["start"], plan["end"], plan["status"]) == (T0 + 100, T0 + 200, "planned")
    assert plan["time_zone"] == "UTC" and plan["post_maintenance_action"] == "None"
    assert plan["maintenance_key"]  # generated
    assert plan["custom_tags"] == [{"name": "team", "value": "web"}] and plan["frequency"] == "Daily"
    assert plan["frequency_data"] == {"relativity": "First", "duration": 10800}
    assert (plan["created_at"], plan["created_by"], plan["updated_at"], plan["updated_by"]) == (T0, EMAIL, T0, EMAIL)
    assert sim.create(maintenance_key="CNG-17810").json()["maintenance_key"] == "CNG-17810"
    assert sim.create(time_zone="Europe/Paris").json()["time_zone"] == "Europe/Paris"


@pytest.mark.parametrize("missing", ["name", "condition", "start", "end"])
def test_required_fields_are_named(sim: Sim, missing: str) -> None:
    body = {"name": "n", "condition": {"=": ["host", "x"]}, "start": T0, "end": T0 + 1}
    del body[missing]
    r = sim.call("POST", PLANS, headers=USER, json=body)
    assert r.status_code == 400 and missing in errors(r)
    assert sim.org.maintenance.plans == {}


@pytest.mark.parametrize(("fields", "named"), [
    ({"end": T0 + 100}, "end"),  # end == start
    ({"end": T0}, "end"),
    ({"start": T0 * 1000, "end": T0 * 1000 + 1}, "milliseconds"),
    ({"condition": [{"=": ["host", "x"]}]}, "condition"),
    ({"condition": "host = x"}, "condition"),
    ({"condition": {"LIKE": ["host", "x"]}}, "LIKE"),
    ({"condition": {"=": ["host", {"type": "regex", "value": "("}]}}, "bad regex"),
    ({"condition": {"=": ["host"]}}, "exactly 2"),
    ({"time_zone": "Mars/Olympus"}, "time_zone"),
    ({"name": ""}, "name"),
    ({"custom_tags": [{"name": "team"}]}, "custom_tags"),
])
def test_invalid_plans_are_refused(sim: Sim, fields: dict[str, Any], named: str) -> None:
    r = sim.create(**fields)
    assert r.status_code == 400 and named in errors(r), r.text
    assert sim.org.maintenance.plans == {}


def test_a_condition_longer_than_25000_characters_is_refused(sim: Sim) -> None:
    values = [f"host-{n:05d}" for n in range(2100)]
    r = sim.create(condition={"IN": ["host", values]})
    assert r.status_code == 400 and "25000" in errors(r)
    assert sim.create(condition={"IN": ["host", values[:1500]]}).status_code == 201


def test_plans_take_the_user_key(sim: Sim) -> None:
    body = {"name": "n", "condition": {"=": ["host", "x"]}, "start": T0, "end": T0 + 1}
    r = sim.call("POST", PLANS, headers=ORG, json=body)
    assert r.status_code == 403 and "user API key" in errors(r)
    assert sim.call("GET", PLANS, headers=ORG).status_code == 403
    assert sim.call("GET", PLANS).status_code == 401


def test_status_follows_the_clock(sim: Sim) -> None:
    plan_id = sim.create().json()["id"]

    def status() -> str:
        return sim.call("GET", f"{PLANS}/{plan_id}", headers=USER).json()["status"]

    assert status() == "planned"
    sim.clock.advance(99)
    assert status() == "planned"
    sim.clock.advance(1)
    assert status() == "active"
    sim.clock.advance(99)
    assert status() == "active"
    sim.clock.advance(1)
    assert status() == "expired"


def test_list_pages(sim: Sim) -> None:
    ids = [sim.create(name=f"plan {n}").json()["id"] for n in range(25)]
    first = sim.call("GET", PLANS, headers=USER).json()
    assert (first["total"], first["page"], first["per_page"]) == (25, 1, 20)
    assert [p["id"] for p in first["items"]] == ids[:20]
    second = sim.call("GET", PLANS, headers=USER, params={"page": 2}).json()
    assert [p["id"] for p in second["items"]] == ids[20:]
    small = sim.call("GET", PLANS, headers=USER, params={"page": 3, "per_page": 10}).json()
    assert [p["id"] for p in small["items"]] == ids[20:]
    assert sim.call("GET", PLANS, headers=USER, params={"page": 0}).status_code == 400
    assert sim.call("GET", PLANS, headers=USER, params={"per_page": 101}).status_code == 400


def test_get_unknown_plan_is_404(sim: Sim) -> None:
    r = sim.call("GET", f"{PLANS}/nope", headers=USER)
    assert r.status_code == 404 and "nope" in errors(r)


def test_patch_updates_part_of_a_plan(sim: Sim) -> None:
    plan = sim.create(description="d", maintenance_key="K-1").json()
    sim.clock.advance(10)
    r = sim.call("PATCH", f"{PLANS}/{plan['id']}", headers=USER,
                 json={"name": "Renamed", "end": T0 + 500, "condition": {"IN": ["host", ["web-1", "web-2"]]}})
    assert r.status_code == 200, r.text
    new = r.json()
    assert (new["name"], new["end"], new["condition"]) == ("Renamed", T0 + 500, {"IN": ["host", ["web-1", "web-2"]]})
    assert (new["start"], new["description"], new["maintenance_key"]) == (T0 + 100, "d", "K-1")
    assert (new["created_at"], new["updated_at"], new["updated_by"]) == (T0, T0 + 10, EMAIL)
    assert sim.org.maintenance.matching_plans({"host": "web-2"}, T0 + 150) == [plan["id"]]


@pytest.mark.parametrize(("fields", "named"), [
    ({"end": T0 + 50}, "end"),  # before the kept start
    ({"start": T0 + 300}, "end"),
    ({"name": None}, "name"),
    ({"condition": None}, "condition"),
    ({"condition": {"XOR": []}}, "XOR"),
    ({"time_zone": "Nowhere/City"}, "time_zone"),
    ({"maintenance_key": None}, "maintenance_key"),
])
def test_patch_is_validated_whole_and_changes_nothing_when_refused(sim: Sim, fields: dict[str, Any],
                                                                   named: str) -> None:
    plan = sim.create().json()
    r = sim.call("PATCH", f"{PLANS}/{plan['id']}", headers=USER, json=fields)
    assert r.status_code == 400 and named in errors(r), r.text
    assert sim.call("GET", f"{PLANS}/{plan['id']}", headers=USER).json() == plan
    assert sim.org.maintenance.matching_plans({"host": "web-1"}, T0 + 150) == [plan["id"]]


def test_patch_unknown_plan_is_404(sim: Sim) -> None:
    assert sim.call("PATCH", f"{PLANS}/nope", headers=USER, json={"name": "x"}).status_code == 404


def test_delete(sim: Sim) -> None:
    plan_id = sim.create().json()["id"]
    r = sim.call("DELETE", f"{PLANS}/{plan_id}", headers=USER)
    assert r.status_code == 204 and r.content == b""
    assert sim.call("GET", f"{PLANS}/{plan_id}", headers=USER).status_code == 404
    assert sim.call("DELETE", f"{PLANS}/{plan_id}", headers=USER).status_code == 404


def test_stop_ends_a_running_plan_now(sim: Sim) -> None:
    plan_id = sim.create().json()["id"]
    early = sim.call("POST", f"{PLANS}/{plan_id}/stop", headers=USER)
    assert early.status_code == 409 and "not started" in errors(early)
    sim.clock.advance(150.5)
    r = sim.call("POST", f"{PLANS}/{plan_id}/stop", headers=USER)
    assert r.status_code == 200, r.text
    assert (r.json()["end"], r.json()["status"], r.json()["updated_at"]) == (T0 + 150, "expired", T0 + 150)
    assert sim.org.maintenance.matching_plans({"host": "web-1"}, sim.clock.now()) == []
    again = sim.call("POST", f"{PLANS}/{plan_id}/stop", headers=USER)
    assert again.status_code == 409 and "already ended" in errors(again)
    assert sim.call("POST", f"{PLANS}/nope/stop", headers=USER).status_code == 404


def test_at_most_3500_plans(sim: Sim) -> None:
    store = sim.org.maintenance
    for n in range(MAX_PLANS):
        store.create({"name": f"p{n}", "condition": {"=": ["host", "x"]}, "start": T0, "end": T0 + 1},
                     rng=sim.org.rng, by=EMAIL, now=T0)
    r = sim.create()
    assert r.status_code == 400 and "at most 3500 maintenance plans" in errors(r)
    assert len(store.plans) == MAX_PLANS
    with pytest.raises(BpError):
        store.create({"name": "again", "condition": {"=": ["host", "x"]}, "start": T0, "end": T0 + 1},
                     rng=sim.org.rng, by=EMAIL, now=T0)
    sim.call("DELETE", f"{PLANS}/{next(iter(store.plans))}", headers=USER)
    assert sim.create().status_code == 201


# --- alerts and incidents in maintenance ----------------------------------------------------------

def test_an_alert_during_an_active_plan_puts_its_incident_in_maintenance(sim: Sim) -> None:
    plan_id = sim.create(start=T0, end=T0 + 3600).json()["id"]
    sent = sim.alert()
    incident = sim.incident(sent["incident_id"])
    assert incident["maintenance"] == "active"
    assert "maintenance" in incident["folders"] and "active" in incident["folders"]
    [alert] = incident["alerts"]
    assert alert["maintenance_plans"] == [plan_id]
    shares = sim.call("GET", "/integrations/v3/servicenow/shares",
                      headers={**USER, "x-bp-app-key": "demo-incidents-app-key"}).json()["shares"]
    assert shares and all(s["incident"]["maintenance"] == "active" for s in shares)


def test_some_alerts_in_maintenance_make_it_partial(sim: Sim) -> None:
    sim.create(start=T0, end=T0 + 3600, condition={"AND": [{"=": ["host", "web-1"]}, {"=": ["check", "cpu"]}]})
    first = sim.alert()
    second = sim.alert(check="disk")  # same host: the same incident, not in the plan
    assert second["incident_id"] == first["incident_id"]
    incident = sim.incident(first["incident_id"])
    assert incident["maintenance"] == "partial" and "maintenance" in incident["folders"]
    assert sorted(bool(a["maintenance_plans"]) for a in incident["alerts"]) == [False, True]
    sim.alert(check="disk", status="ok")  # the alert outside maintenance resolves: all active ones are in
    assert sim.incident(first["incident_id"])["maintenance"] == "active"


def test_alerts_outside_the_window_or_condition_are_not_in_maintenance(sim: Sim) -> None:
    sim.create()  # web-1, from T0+100 to T0+200
    before = sim.alert()
    incident = sim.incident(before["incident_id"])
    assert incident["maintenance"] is None and "maintenance" not in incident["folders"]
    assert incident["alerts"][0]["maintenance_plans"] == []
    sim.clock.advance(150)
    other = sim.alert(host="db-1")
    assert sim.incident(other["incident_id"])["maintenance"] is None


def test_maintenance_is_matched_again_when_an_alert_updates(sim: Sim) -> None:
    plan_id = sim.create().json()["id"]
    sent = sim.alert()
    assert sim.incident(sent["incident_id"])["maintenance"] is None
    sim.clock.advance(120)  # the plan is active now, but nothing happened to the alert yet
    assert sim.incident(sent["incident_id"])["maintenance"] is None
    sim.alert(status="warning")
    incident = sim.incident(sent["incident_id"])
    assert incident["maintenance"] == "active" and incident["alerts"][0]["maintenance_plans"] == [plan_id]
    sim.clock.advance(100)  # expired: still shown until the next alert event (matched at events only)
    assert sim.incident(sent["incident_id"])["maintenance"] == "active"
    sim.alert(status="critical")
    assert sim.incident(sent["incident_id"])["maintenance"] is None
