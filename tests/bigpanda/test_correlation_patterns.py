"""Correlation patterns as data: GET / PUT /_sim/organizations/{name}/correlation-patterns, a BPQL
filter over the alert's tags, the window, and named validation errors."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from bpsn.simulator.bigpanda.backend import BigPandaBackend
from bpsn.simulator.bigpanda.models import CorrelationPattern
from bpsn.testing import call_asgi

ORG = {"Authorization": "Bearer demo-org-token"}
PATTERNS = "/_sim/organizations/demo/correlation-patterns"
ADMIN = {"X-Bpsn-Admin-Token": "bpsn-admin-token"}
EU_CLUSTER = {"id": "by_cluster_eu", "tags": ["cluster"], "window": 600, "filter": 'region = "eu-*"',
              "active": True}


class Api:
    def __init__(self, backend: BigPandaBackend, app: FastAPI) -> None:
        self.backend, self.app = backend, app
        backend.reset()
        self.org = backend.orgs["demo"]
        self.org.rate_limits.enabled = False

    def call(self, method: str, url: str, **kw: Any) -> httpx.Response:
        if url.startswith("/_sim/"):  # the admin API takes the admin token
            kw["headers"] = {**ADMIN, **kw.get("headers", {})}
        return call_asgi(self.app, method, url, **kw)

    def alert(self, host: str, **tags: Any) -> str:
        r = self.call("POST", "/data/v2/alerts", headers=ORG,
                      json={"app_key": "demo-alerts-app-key", "status": "critical", "host": host, "check": "cpu",
                            **tags})
        assert r.status_code == 201, r.text
        return str(r.json()["alerts"][0]["incident_id"])


@pytest.fixture
def api(shared_bigpanda: tuple[BigPandaBackend, FastAPI]) -> Api:
    return Api(*shared_bigpanda)  # the worker's simulator, as a new one for this module (conftest.py)


def test_the_built_in_patterns_are_listed(api: Api) -> None:
    r = api.call("GET", PATTERNS)
    assert r.status_code == 200
    assert [(p["id"], p["tags"], p["filter"]) for p in r.json()] == [
        ("by_host", ["host"], ""), ("by_service", ["service"], ""), ("by_application", ["application"], ""),
        ("by_device", ["device"], "")]


def test_an_eu_cluster_pattern_groups_eu_alerts_of_one_cluster_within_its_window(api: Api) -> None:
    r = api.call("PUT", PATTERNS, json=[EU_CLUSTER])
    assert r.status_code == 200 and r.json() == [EU_CLUSTER]
    assert api.call("GET", PATTERNS).json() == [EU_CLUSTER]
    first = api.alert("web-1", cluster="c1", region="eu-west")
    assert api.alert("web-2", cluster="c1", region="eu-central") == first
    assert api.alert("web-3", cluster="c2", region="eu-west") != first  # another cluster
    us = [api.alert(f"us-{n}", cluster="c1", region="us-east") for n in range(2)]
    assert len({first, *us}) == 3  # the filter leaves US alerts out: each its own incident
    api.backend.clock.advance(600)
    assert api.alert("web-4", cluster="c1", region="eu-west") == first  # at the window's edge
    api.backend.clock.advance(1)
    assert api.alert("web-5", cluster="c1", region="eu-west") != first  # outside it
    incident = api.call("GET", f"/resources/v2.0/environments/production/incidents/{first}",
                        headers={"Authorization": "Bearer BPUdemo-user-key"}).json()
    [[matcher]] = incident["correlation_matchers_log"]
    assert matcher == {"correlation_id": "by_cluster_eu", "time_window": 600,
                       "tags": [{"name": "cluster", "value": "c1"}]}


def test_an_inactive_pattern_groups_nothing(api: Api) -> None:
    api.call("PUT", PATTERNS, json=[{**EU_CLUSTER, "active": False}])
    assert api.alert("web-1", cluster="c1", region="eu-west") != api.alert("web-2", cluster="c1", region="eu-west")


def test_a_pattern_that_now_groups_by_other_tags_forgets_its_old_keys(api: Api) -> None:
    first = api.alert("web-1", cluster="c1")  # by_host: key (by_host, web-1)
    api.call("PUT", PATTERNS, json=[{"id": "by_host", "tags": ["cluster"], "window": 600}])
    assert ("by_host", "web-1") not in api.org.correlation_index
    assert api.alert("web-1x", cluster="web-1") != first  # (by_host, web-1) again, but by cluster now
    assert api.alert("web-2", cluster="web-1") != first


@pytest.mark.parametrize(("patterns", "message"), [
    ([{"id": "p", "tags": [], "window": 60}], "patterns[0] (p): tags must name at least one tag"),
    ([{"id": "p", "tags": ["host"], "window": 0}], "patterns[0] (p): window must be more than 0 seconds"),
    ([EU_CLUSTER, {"id": "q", "tags": ["host"], "window": 60, "filter": "region = "}], "patterns[1] (q): filter: BPQL"),
    ([EU_CLUSTER, EU_CLUSTER], "patterns[1] (by_cluster_eu): id 'by_cluster_eu' is used by an earlier pattern"),
])
def test_a_bad_pattern_is_a_400_naming_it_and_changes_nothing(api: Api, patterns: list[Any], message: str) -> None:
    before = api.call("GET", PATTERNS).json()
    r = api.call("PUT", PATTERNS, json=patterns)
    assert r.status_code == 400
    assert r.json()["errors"][0].startswith(message), r.json()
    assert api.call("GET", PATTERNS).json() == before


def test_patterns_of_an_unknown_organization_are_a_404(api: Api) -> None:
    assert api.call("GET", "/_sim/organizations/nope/correlation-patterns").status_code == 404
    assert api.call("PUT", "/_sim/organizations/nope/correlation-patterns", json=[EU_CLUSTER]).status_code == 404


def test_the_filter_is_bpql_over_the_alert_tags() -> None:
    p = CorrelationPattern("p", ["cluster"], 60, 'region IN ["eu-*", "uk"] AND NOT tier = "test"')
    assert p.key({"cluster": "c1", "region": "EU-west"}) == ("p", "c1")  # case-insensitive, wildcard
    assert p.key({"cluster": "c1", "region": "uk"}) == ("p", "c1")
    assert p.key({"cluster": "c1", "region": "eu-west", "tier": "test"}) is None
    assert p.key({"cluster": "c1"}) is None  # no region: the filter does not match
    assert p.key({"region": "eu-west"}) is None  # no cluster: nothing to group by
    assert CorrelationPattern("q", ["host"], 60).key({"host": "h"}) == ("q", "h")  # no filter: every alert
