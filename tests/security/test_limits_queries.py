"""Attacks on sizes and depths: encoded queries (conditions, dot-walks), deep OIM bodies, and
over-long field values. Each bad input is a 400 in the API's own error body naming what is wrong
and changes nothing; none is a 500."""

from __future__ import annotations

import base64
import json
import sqlite3
from typing import Any

import pytest
from pooled_simulators import bigpanda_pool, servicenow_pool

from bpsn.simulator.bigpanda.backend import BigPandaBackend
from bpsn.simulator.common.bodies import json_nesting_over
from bpsn.simulator.servicenow.query.encoded_query import (
    MAX_CONDITIONS,
    MAX_DOT_WALK_HOPS,
    parse,
)
from bpsn.simulator.servicenow.query.sql import MAX_DOT_WALK, QueryContext, compile_text
from bpsn.simulator.servicenow.records.dictionary import Dictionary
from bpsn.simulator.servicenow.records.store import Store
from bpsn.testing import call_asgi

ADMIN = {"Authorization": "Basic " + base64.b64encode(b"admin:admin").decode()}
ORG = {"Authorization": "Bearer demo-org-token"}
WALK8 = "parent_incident." * 8


@pytest.fixture
def sn() -> Any:
    """The process's pooled ServiceNow simulator's app, the instance as new."""
    pool = servicenow_pool()
    pool.as_new()
    return pool.app


@pytest.fixture
def bp() -> tuple[BigPandaBackend, Any]:
    """The process's pooled BigPanda simulator and its app, as new, rate limits off."""
    pool = bigpanda_pool()
    return pool.as_new(rate_limits=False), pool.app


def sn_error(r: Any) -> str:
    body = r.json()
    assert body["status"] == "failure", body
    return f"{body['error']['message']} {body['error']['detail']}"


# --- encoded queries --------------------------------------------------------------------------------

def test_129_eight_hop_dot_walks_are_a_400_not_a_500(sn: Any) -> None:
    query = "^OR".join(f"{WALK8}number=INC{i}" for i in range(129))
    r = call_asgi(sn, "GET", "/api/now/table/incident", params={"sysparm_query": query}, headers=ADMIN)
    assert r.status_code == 400, r.text
    assert "Invalid query" in sn_error(r) and "hops" in sn_error(r)


def test_too_many_conditions_are_a_400(sn: Any) -> None:
    query = "^".join(f"a={i % 10}" for i in range(MAX_CONDITIONS + 1))
    r = call_asgi(sn, "GET", "/api/now/table/incident", params={"sysparm_query": query}, headers=ADMIN)
    assert r.status_code == 400 and f"at most {MAX_CONDITIONS}" in sn_error(r)


def test_repeated_conditions_cost_nothing() -> None:
    parse("^NQ".join(["caller_id.name=Bob"] * 1500))  # one distinct walk of one hop
    with pytest.raises(ValueError, match="hops"):
        parse("^NQ".join(f"caller_id.name=Bob{i}" for i in range(MAX_DOT_WALK_HOPS + 1)))


@pytest.mark.parametrize("shape", ["or", "and", "groups", "mixed"])
def test_worst_queries_within_the_limits_run(shape: str) -> None:
    """Every structure SQLite has to parse stays under its parser stack (100) and expression
    depth (1000): deep dot-walks nested in ^OR / ^ / ^NQ, with thousands of plain conditions."""
    store = Store(Dictionary.default())
    walks = [f"{WALK8}priority>{i}" for i in range(MAX_DOT_WALK_HOPS // MAX_DOT_WALK)]
    plain = [f"state={i}" for i in range(2000)]
    parts = {"or": ["^OR".join(walks + plain)],
             "and": ["^".join(walks + plain)],
             "groups": ["^NQ".join(walks + plain)],
             "mixed": ["^NQ".join("^".join(f"{w}^OR{p}" for w, p in zip(walks, plain[i::7], strict=False))
                                  for i in range(7))]}[shape]
    text = parts[0]
    where, order = compile_text(text, "incident", store.dictionary, QueryContext(now=0))
    try:
        assert store.select("incident", where, order) == []
    except sqlite3.OperationalError as exc:  # pragma: no cover - the failure this test guards
        pytest.fail(f"SQLite refused a query within the limits: {exc}")
    finally:
        store.close()


def test_dot_walks_through_child_tables_still_match(sn: Any) -> None:
    post = call_asgi(sn, "POST", "/api/now/table/incident", json={"short_description": "parent"}, headers=ADMIN)
    parent = post.json()["result"]
    child = call_asgi(sn, "POST", "/api/now/table/incident", headers=ADMIN,
                      json={"short_description": "child", "parent_incident": parent["sys_id"]}).json()["result"]
    grandchild = call_asgi(sn, "POST", "/api/now/table/incident", headers=ADMIN,
                           json={"short_description": "g", "parent_incident": child["sys_id"]}).json()["result"]
    query = f"parent_incident.parent_incident.number={parent['number']}"
    r = call_asgi(sn, "GET", "/api/now/table/incident", params={"sysparm_query": query}, headers=ADMIN)
    assert [row["sys_id"] for row in r.json()["result"]] == [grandchild["sys_id"]]


# --- BigPanda OIM bodies ----------------------------------------------------------------------------

@pytest.mark.parametrize("depth", [65, 900, 10_000])
@pytest.mark.parametrize("url", ["/oim/api/alerts", "/configurations/alerts/oim/demo-oim-app-key"])
def test_deep_oim_bodies_are_a_400(bp: tuple[BigPandaBackend, Any], url: str, depth: int) -> None:
    backend, app = bp
    body = '{"app_key": "demo-oim-app-key", "sample_payload": ' + '{"a":' * depth + "1" + "}" * depth + "}"
    r = call_asgi(app, "POST", url, content=body.encode(), headers={**ORG, "content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json() == {"status": 400, "errors": ["the body nests arrays and objects more than 64 levels deep"]}
    assert not backend.orgs["demo"].alerts


@pytest.mark.parametrize(("text", "limit", "over"), [
    ("[" * 64 + "]" * 64, 64, False), ("[" * 65 + "]" * 65, 64, True),
    ('{"a": "[[[[[[[[[["}', 3, False),  # brackets inside strings do not count
    ('["\\"[[[[", "\\\\", [[1]]]', 3, False), ('["\\\\", [[[1]]]]', 3, True),
    (json.dumps([{"a": [1, {"b": [2]}]}] * 1000), 5, False), (json.dumps([{"a": [1, {"b": [2]}]}]), 4, True),
])
def test_json_nesting_is_measured_before_parsing(text: str, limit: int, over: bool) -> None:
    assert json_nesting_over(text.encode(), limit) is over


# --- field lengths ----------------------------------------------------------------------------------

def test_over_long_values_are_cut_to_what_their_column_holds(sn: Any) -> None:
    """As on an instance (KB0685779): max_length up to 255 is a varchar of that size, cut there;
    a longer max_length is mediumtext, which keeps 5,000 characters of a 4,000 description."""
    r = call_asgi(sn, "POST", "/api/now/table/incident", headers=ADMIN,
                  json={"short_description": "x" * 1000, "description": "d" * 5000})
    assert r.status_code == 201
    row = r.json()["result"]
    assert row["short_description"] == "x" * 160 and row["description"] == "d" * 5000
    r = call_asgi(sn, "PATCH", f"/api/now/table/incident/{row['sys_id']}", headers=ADMIN,
                  json={"short_description": "y" * 161})
    assert r.json()["result"]["short_description"] == "y" * 160
    r = call_asgi(sn, "GET", f"/api/now/table/incident/{row['sys_id']}", headers=ADMIN)
    assert r.json()["result"]["short_description"] == "y" * 160
