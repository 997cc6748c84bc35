"""OIM through HTTP: configuration rules and their messages, alerts through a configuration into
incidents, and the 6 MB body limit (refused before the body is held in memory)."""

from __future__ import annotations

import asyncio
import copy
import socket
import threading
import time
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from bpsn.simulator.bigpanda.backend import BigPandaBackend
from bpsn.testing import call_asgi

ORG = {"Authorization": "Bearer demo-org-token"}
USER = {"Authorization": "Bearer BPUdemo-user-key"}
KEY = "demo-oim-app-key"
CONFIG_URL = f"/configurations/alerts/oim/{KEY}"
MB = 1024 * 1024
START = 1_767_225_600  # 2026-01-01T00:00:00Z, the samples' startsAt


class Api:
    def __init__(self, backend: BigPandaBackend, app: FastAPI) -> None:
        self.backend, self.app = backend, app
        backend.reset()  # one app per worker (building it takes a second), fresh state per test
        self.org = backend.orgs["demo"]
        self.org.rate_limits.enabled = False  # these tests send bursts on a frozen clock

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://bp.test")

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return call_asgi(self.app, method, url, base_url="http://bp.test", **kwargs)

    def configure(self, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
        return self.request("POST", CONFIG_URL, headers=kwargs.pop("headers", ORG), json=body, **kwargs)

    def send(self, body: Any, headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        return self.request("POST", "/oim/api/alerts", headers=headers or ORG, json=body, **kwargs)

    def incident(self, incident_id: str) -> dict[str, Any]:
        r = self.request("GET", f"/resources/v2.0/environments/production/incidents/{incident_id}",
                         params={"expand": "alerts"}, headers=USER)
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture
def api(shared_bigpanda: tuple[BigPandaBackend, FastAPI]) -> Api:
    return Api(*shared_bigpanda)  # the worker's simulator, as a new one for this module (conftest.py)


SAMPLE = {"status": "firing", "startsAt": "2026-01-01T00:00:00Z", "endsAt": "",
          "labels": {"hostname": "", "instance": "web-01", "alertname": "HighCPU", "severity": "page", "env": "prod",
                     "service": ""},
          "annotations": {"summary": "CPU above 95%", "service": None}, "team": "sre", "zones": ["a", "b"]}
CONFIG = {
    "primary_property": [{"name": "host"}], "secondary_property": [{"name": "check"}],
    "additional_attributes": [
        {"name": "host", "source": ["@labels.hostname", "@labels.instance"]},
        {"name": "check", "source": ["@labels.alertname"]},
        {"name": "env", "source": ["@labels.env"], "default": "production"},
        {"name": "component", "source": ["@labels.service", "@annotations.service"], "default": "none"},
        {"name": "description", "source": ["@annotations.summary"]}],
    "status": {"source": ["@labels.severity", "@status"], "default_to": "warning",
               "status_map": {"critical": ["page", "critical"], "warning": ["warn"], "acknowledged": ["ack"],
                              "ok": ["resolved"], "unknown": []}},
    "timestamp": {"source": ["@startsAt", "@endsAt"]}, "bp_timestamp": {"is_selected": False},
    "force_lowercase": True, "event_filter": 'env = "dev" OR check = "watchdog"',
    "incident_identifier": ["host", "check"], "version": "2.0",
}


def body(config: dict[str, Any] | None = None, sample: Any = SAMPLE, **changes: Any) -> dict[str, Any]:
    cfg = copy.deepcopy(config or CONFIG)
    cfg.update(changes)
    return {"config": cfg, "sample_payload": sample}


def event(**labels: Any) -> dict[str, Any]:
    e = copy.deepcopy(SAMPLE)
    for k, v in labels.items():
        if k in ("status", "startsAt", "endsAt", "team", "zones"):
            e[k] = v
        elif v is None:
            e["labels"].pop(k, None)
        else:
            e["labels"][k] = v
    return e


def errors(r: httpx.Response, status: int = 400) -> str:
    assert r.status_code == status, r.text
    data = r.json()
    assert data["status"] == status and data["errors"]
    return " | ".join(data["errors"])


# --- configuration -----------------------------------------------------------------------------

def test_get_before_and_after_create_echoes_the_stored_config(api: Api) -> None:
    assert "is not found" in errors(api.request("GET", CONFIG_URL, headers=ORG), 404)
    r = api.configure(body())
    assert r.status_code == 200, r.text
    assert r.json() == {"config": CONFIG, "sample_payload": SAMPLE}
    got = api.request("GET", CONFIG_URL, headers=ORG)
    assert got.status_code == 200 and got.json() == r.json()


@pytest.mark.parametrize(("name", "rule"), [
    ("Host", "must start with a letter from a to z"),
    ("1host", "must start with a letter from a to z"),
    ("_host", "must start with a letter from a to z"),
    ("h" * 65, "must be at most 64 characters (it has 65)"),
    ("host name", "cannot include spaces"),
    ("host.name", "may contain only lowercase letters (a-z), numbers (0-9), underscores (_) and hyphens (-); "
                  "it contains '.'"),
    ("hOst", "it contains 'O'"),
])
def test_tag_name_rules_name_the_tag_and_the_rule(api: Api, name: str, rule: str) -> None:
    cfg = copy.deepcopy(CONFIG)
    cfg["additional_attributes"].append({"name": name, "source": ["@team"]})
    message = errors(api.configure(body(cfg)))
    assert f"config.additional_attributes[5].name: tag name {name!r}" in message
    assert rule in message


def test_tag_names_in_properties_and_identifier_are_checked_and_64_characters_pass(api: Api) -> None:
    long_ok = "a" + "b" * 63
    cfg = copy.deepcopy(CONFIG)
    cfg["additional_attributes"].append({"name": long_ok, "source": ["@team"]})
    assert api.configure(body(cfg)).status_code == 200
    message = errors(api.configure(body(primary_property=[{"name": "Bad Tag"}], incident_identifier=["9x"])))
    assert "config.primary_property[0].name: tag name 'Bad Tag' must start with a letter" in message
    assert "cannot include spaces" in message
    assert "config.incident_identifier[0]: tag name '9x' must start with a letter" in message


def test_reserved_tag_names_are_refused(api: Api) -> None:
    cfg = copy.deepcopy(CONFIG)
    cfg["additional_attributes"].append({"name": "status", "source": ["@status"]})
    assert "tag name 'status' is reserved" in errors(api.configure(body(cfg)))


def test_primary_property_is_required(api: Api) -> None:
    cfg = copy.deepcopy(CONFIG)
    del cfg["primary_property"]
    assert "config.primary_property is required" in errors(api.configure(body(cfg)))
    assert "config.primary_property is required" in errors(api.configure(body(primary_property=[])))


def test_sample_payload_is_required_on_create(api: Api) -> None:
    assert "sample_payload is required when creating" in errors(api.configure({"config": CONFIG}))
    for blank in ({}, "", None):
        assert "sample_payload is required when creating" in errors(api.configure(body(sample=blank)))
    assert api.request("GET", CONFIG_URL, headers=ORG).status_code == 404


def test_update_must_include_the_sample_but_it_may_be_blank(api: Api) -> None:
    assert api.configure(body()).status_code == 200
    assert "sample_payload must be included when updating" in errors(api.configure({"config": CONFIG}))
    for blank in ({}, "", None):
        r = api.configure(body(sample=blank, force_lowercase=False))
        assert r.status_code == 200, r.text
        assert r.json()["sample_payload"] == SAMPLE  # the stored sample is kept
    assert "must be a JSON object" in errors(api.configure(body(sample="not json")))


def test_blank_sample_on_update_validates_against_the_stored_sample(api: Api) -> None:
    assert api.configure(body()).status_code == 200
    cfg = copy.deepcopy(CONFIG)
    cfg["additional_attributes"].append({"name": "region", "source": ["@labels.region"]})
    message = errors(api.configure(body(cfg, sample={})))
    assert "missing from the sample payload: @labels.region (config.additional_attributes[5].source[0])" in message
    assert api.request("GET", CONFIG_URL, headers=ORG).json()["config"] == CONFIG  # refused: nothing changed
    new_sample = copy.deepcopy(SAMPLE)
    new_sample["labels"]["region"] = "eu"
    assert api.configure(body(cfg, sample=new_sample)).status_code == 200


def test_every_referenced_field_must_be_in_the_sample(api: Api) -> None:
    cfg = copy.deepcopy(CONFIG)
    cfg["status"]["source"] = ["@labels.sev", "@status"]
    cfg["timestamp"]["source"] = ["@startsAt", "@event.time"]
    message = errors(api.configure(body(cfg)))
    assert "fields referenced by the configuration are missing from the sample payload" in message
    assert "@labels.sev (config.status.source[0])" in message
    assert "@event.time (config.timestamp.source[1])" in message
    assert "@startsAt (" not in message


def test_v2_property_must_name_a_defined_or_mapped_tag(api: Api) -> None:
    message = errors(api.configure(body(primary_property=[{"name": "team"}])))
    assert "config.primary_property names tag 'team'" in message and "map_remaining is off" in message
    assert api.configure(body(primary_property=[{"name": "team"}], map_remaining=True)).status_code == 200
    message = errors(api.configure(body(primary_property=[{"name": "nothere"}], map_remaining=True)))
    assert "no top-level field of the sample payload maps to it" in message


def test_v1_property_form_with_sources(api: Api) -> None:
    cfg = {"primary_property": {"source": ["@labels.hostname", "@labels.instance"]},
           "secondary_property": {"source": ["@labels.alertname"], "name": "alert"},
           "status": CONFIG["status"]}
    assert api.configure(body(cfg)).status_code == 200
    r = api.send({"app_key": KEY, **event()})
    assert r.status_code == 201, r.text
    alert = api.incident(r.json()["alerts"][0]["incident_id"])["alerts"][0]
    assert (alert["primary_property"], alert["host"]) == ("host", "web-01")
    assert (alert["secondary_property"], alert["alert"]) == ("alert", "HighCPU")
    bad = errors(api.configure(body({**cfg, "primary_property": {"source": ["@labels..x"]}})))
    assert "config.primary_property.source[0]: '@labels..x' is not a valid source path" in bad


def test_other_config_problems(api: Api) -> None:
    assert "config.event_filter is not valid BPQL: expected '=' or '!=' after 'env' at position 4" in errors(
        api.configure(body(event_filter="env dev")))
    assert "unexpected character '~'" in errors(api.configure(body(event_filter="env ~ dev")))
    assert "config.array_source is required when is_array is true" in errors(api.configure(body(is_array=True)))
    assert "config.array_source 'items' is not an array in the sample payload" in errors(
        api.configure(body(is_array=True, array_source="items")))
    assert "is not a valid source path" in errors(api.configure(body(timestamp={"source": ["@a..b"]})))
    assert "config.status.default_to" in errors(api.configure(body(status={"default_to": "bad"})))
    cfg = copy.deepcopy(CONFIG)
    cfg["additional_attributes"].append({"name": "host", "source": ["@team"]})
    assert "tag 'host' is defined twice" in errors(api.configure(body(cfg)))
    assert "not valid JSON" in errors(api.request("POST", CONFIG_URL, headers=ORG, content=b"{nope"))


def test_configuration_auth_and_app_keys(api: Api) -> None:
    assert errors(api.configure(body(), headers={}), 401)
    assert "needs an org token" in errors(api.configure(body(), headers=USER), 403)
    r = api.request("POST", "/configurations/alerts/oim/demo-alerts-app-key", headers=ORG, json=body())
    assert "is not an OIM integration" in errors(r, 403)
    assert "is not an OIM integration" in errors(
        api.request("GET", "/configurations/alerts/oim/nope", headers=ORG), 403)
    assert api.configure(body(), headers={}, params={"access_token": "demo-org-token"}).status_code == 200
    assert api.configure(body(sample={}), headers={"x-auth-token": "demo-org-token"}).status_code == 200
    api.org.integrations["second-oim-key"] = "oim.grafana"
    r = api.request("POST", "/configurations/alerts/oim/second-oim-key", headers=ORG, json=body())
    assert r.status_code == 200


# --- alerts ----------------------------------------------------------------------------------------

def test_round_trip_into_incidents(api: Api) -> None:
    assert api.configure(body()).status_code == 200
    batch = {"app_key": KEY, "alerts": [
        event(hostname="", instance="WEB-01"),                              # second source wins; lowercased
        event(hostname="db-01", severity="bogus", alertname="DiskFull"),    # no status match -> default_to
        event(hostname="dev-01", env="dev"),                                # dropped by event_filter
        event(hostname="wd-01", alertname="Watchdog"),                      # dropped (lowercased check)
        event(hostname="app-01", alertname="Latency", severity=None, status="resolved",
              startsAt="1767225000"),                                       # second status source
    ]}
    r = api.send(batch)
    assert r.status_code == 201, r.text
    accepted = r.json()["alerts"]
    assert r.json()["status"] == "created" and len(accepted) == 3 and all(a["created"] for a in accepted)
    by_host, incident_of = {}, {}
    for a in accepted:
        for alert in api.incident(a["incident_id"])["alerts"]:
            by_host[alert["host"]], incident_of[alert["host"]] = alert, a["incident_id"]
    web, web_incident = by_host["web-01"], incident_of["web-01"]
    assert web["status"] == "critical" and web["check"] == "highcpu" and web["env"] == "prod"
    assert web["component"] == "none"  # every source empty: the default
    assert web["description"] == "CPU above 95%"  # description is not lowercased: it is not a tag
    assert web["primary_property"] == "host" and web["secondary_property"] == "check"
    assert web["incident_key"] == "web-01__highcpu" and web["source_system"] == "oim.demo_oim"
    assert web["start"] == START
    assert by_host["db-01"]["status"] == "warning"
    assert by_host["app-01"]["status"] == "ok" and by_host["app-01"]["start"] == 1767225000
    assert set(by_host) == {"web-01", "db-01", "app-01"}
    # an exact duplicate changes nothing
    assert api.send({"app_key": KEY, **event(instance="WEB-01")}).status_code == 204
    # same dedup tags, new status: the same alert, and its incident resolves
    r = api.send({"app_key": KEY, **event(instance="web-01", severity="resolved", startsAt="2026-01-01T00:05:00Z")})
    assert r.status_code == 201 and r.json()["alerts"][0] == {"id": web["id"], "incident_id": web_incident,
                                                               "created": False}
    incident = api.incident(web_incident)
    assert incident["status"] == "ok" and incident["active"] is False
    # every event filtered out: nothing changed
    assert api.send({"app_key": KEY, "alerts": [event(env="dev")]}).status_code == 204


def test_incident_identifier_groups_alerts_by_its_tags(api: Api) -> None:
    cfg = copy.deepcopy(CONFIG)
    cfg["incident_identifier"] = ["check"]
    assert api.configure(body(cfg)).status_code == 200
    first = api.send({"app_key": KEY, **event(instance="a-1")}).json()["alerts"][0]
    second = api.send({"app_key": KEY, **event(instance="a-2", severity="warn")}).json()["alerts"][0]
    assert second == {**first, "created": False}
    alert = api.incident(first["incident_id"])["alerts"][0]
    assert alert["incident_key"] == "highcpu" and alert["host"] == "a-2" and alert["status"] == "warning"


def test_missing_primary_refuses_the_whole_batch(api: Api) -> None:
    assert api.configure(body()).status_code == 200
    r = api.send({"app_key": KEY, "alerts": [event(), event(hostname="", instance="")]})
    message = errors(r)
    assert "alerts[1]: no primary property: tag host has no value" in message
    assert api.org.alerts == {}


def test_array_source_and_app_key_places(api: Api) -> None:
    sample = {"data": {"items": [SAMPLE]}, "receiver": "bp"}
    assert api.configure(body(sample=sample, is_array=True, array_source="data.items")).status_code == 200
    payload = {"data": {"items": [event(instance="h1"), event(instance="h2")]}}
    r = api.send(payload, headers={**ORG, "x-app-key": KEY})
    assert r.status_code == 201 and len(r.json()["alerts"]) == 2
    payload = {"data": {"items": [event(instance="h3")]}}
    assert api.send(payload, headers={**ORG, "app_key": KEY}).status_code == 201
    payload = {"data": {"items": [event(instance="h4")]}}
    assert api.send(payload, params={"app_key": KEY}).status_code == 201
    assert "does not name an array" in errors(api.send({"app_key": KEY, "data": {}}))
    assert "an event must be a JSON object" in errors(api.send({"app_key": KEY, "data": {"items": [1]}}))


def test_timestamps_and_ingest_time(api: Api) -> None:
    assert api.configure(body()).status_code == 200
    now = api.backend.clock.advance(100)
    cases = {"t-iso": "2025-12-31T23:00:00+00:00", "t-epoch": 1767222000, "t-ms": 1767222000000,
             "t-naive": "2025-12-31T23:00:00", "t-bad": "yesterday"}
    for host, ts in cases.items():
        r = api.send({"app_key": KEY, **event(instance=host, startsAt=ts)})
        assert r.status_code == 201, r.text
        start = api.incident(r.json()["alerts"][0]["incident_id"])["alerts"][0]["start"]
        assert start == (int(now) if host == "t-bad" else 1767222000), host
    assert api.configure(body(sample={}, bp_timestamp={"is_selected": True})).status_code == 200
    r = api.send({"app_key": KEY, **event(instance="t-ingest")})
    assert r.status_code == 201, r.text
    assert api.incident(r.json()["alerts"][0]["incident_id"])["alerts"][0]["start"] == int(now)


def test_map_remaining_and_flatten(api: Api) -> None:
    cfg = {"primary_property": [{"name": "host"}], "map_remaining": True, "map_remaining_flatten_array": True,
           "additional_attributes": [{"name": "host", "source": ["@labels.instance"]},
                                     {"name": "meta", "source": ["@annotations"], "flatten": True}]}
    assert api.configure(body(cfg)).status_code == 200
    r = api.send({"app_key": KEY, **event(), "Build Id": 42, "nested": {"x": 1}})
    alert = api.incident(r.json()["alerts"][0]["incident_id"])["alerts"][0]
    assert alert["team"] == "sre" and alert["zones"] == "a|b" and alert["build_id"] == "42"
    assert alert["meta_summary"] == "CPU above 95%" and "nested" not in alert and "labels" not in alert
    assert alert["startsat"] == "2026-01-01T00:00:00Z"  # the field's name, lowercased
    assert alert["status"] == "critical"  # no status config: the event's status if valid, else critical


def test_alert_route_errors(api: Api) -> None:
    assert "no OIM configuration for app key" in errors(api.send({"app_key": KEY, **event()}), 404)
    assert "OIM integration with app key 'nope' is not found" in errors(api.send({"app_key": "nope"}), 404)
    assert "app_key is required" in errors(api.send(event()))
    assert "needs an org token" in errors(api.send({"app_key": KEY}, headers=USER), 403)
    assert errors(api.send({"app_key": KEY}, headers={"Authorization": "Bearer wrong"}), 401)
    assert api.configure(body()).status_code == 200
    assert "the payload holds no events" in errors(api.send({"app_key": KEY, "alerts": []}))
    assert "the body is empty" in errors(api.request("POST", "/oim/api/alerts", headers=ORG, content=b""))


# --- the 6 MB limit ----------------------------------------------------------------------------------

def chunks(total: int, counter: list[int], size: int = 64 * 1024) -> AsyncIterator[bytes]:
    async def gen() -> AsyncIterator[bytes]:
        sent = 0
        while sent < total:
            piece = min(size, total - sent)
            counter[0] += 1
            sent += piece
            yield b" " * piece
    return gen()


@pytest.mark.parametrize("url", ["/oim/api/alerts", CONFIG_URL])
def test_declared_7mb_is_refused_without_reading_the_body(api: Api, url: str) -> None:
    pulled = [0]

    async def go() -> httpx.Response:
        async with api.client() as c:
            return await c.post(url, headers={**ORG, "content-length": str(7 * MB)}, content=chunks(7 * MB, pulled))
    r = asyncio.run(go())
    assert r.headers["content-type"] == "application/json"
    assert "larger than 6 MB (Content-Length 7340032)" in errors(r, 413)
    assert pulled[0] == 0  # not one chunk was received


@pytest.mark.parametrize("url", ["/oim/api/alerts", CONFIG_URL])
def test_streamed_7mb_is_refused_in_little_memory(api: Api, url: str) -> None:
    pulled = [0]

    async def go() -> tuple[httpx.Response, int]:
        async with api.client() as c:
            # the same refusal once, unmeasured: what the first request imports or caches is not the body's
            await c.post(url, headers=ORG, content=chunks(7 * MB, [0]))
            tracemalloc.start()
            try:
                tracemalloc.reset_peak()
                base = tracemalloc.get_traced_memory()[0]
                r = await c.post(url, headers=ORG, content=chunks(7 * MB, pulled))
                return r, tracemalloc.get_traced_memory()[1] - base
            finally:
                tracemalloc.stop()
    r, peak = asyncio.run(go())
    assert "larger than 6 MB (at least" in errors(r, 413)
    assert pulled[0] <= 6 * 16 + 1  # reading stopped at the limit
    assert peak < 2 * MB, f"peak {peak / MB:.2f} MB"


def test_exactly_6mb_is_accepted_for_reading(api: Api) -> None:
    content = b" " * (6 * MB - 2) + b"{}"
    assert "app_key is required" in errors(api.request("POST", "/oim/api/alerts", headers=ORG, content=content))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_streamed_7mb_against_a_real_server(api: Api) -> None:
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(api.app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        def gen() -> Any:
            for _ in range(7 * 16):
                yield b" " * (64 * 1024)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:  # its TLS setup is not ours
            assert c.post("/oim/api/alerts", headers=ORG, content=b"{}").status_code == 400  # warm up
            tracemalloc.start()
            try:
                base = tracemalloc.get_traced_memory()[0]
                r = c.post("/oim/api/alerts", headers=ORG, content=gen())
                peak = tracemalloc.get_traced_memory()[1] - base
            finally:
                tracemalloc.stop()
            declared = c.post("/oim/api/alerts", headers=ORG, content=b" " * (7 * MB))
        assert r.headers["content-type"] == "application/json"
        assert "larger than 6 MB" in errors(r, 413)
        assert "Content-Length 7340032" in errors(declared, 413)
        assert peak < 2 * MB, f"peak {peak / MB:.2f} MB"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
