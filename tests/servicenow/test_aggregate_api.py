"""Aggregate API through HTTP: count, avg/min/max/sum, group by, having, order by, ACLs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bpsn.simulator.servicenow.backend import ServiceNowBackend

pytestmark = pytest.mark.anyio

ADMIN = ("admin", "admin")
INTEGRATION = ("bigpanda.integration", "bigpanda")
ANALYST = ("noc.analyst", "analyst")
STATS = "/api/now/stats/incident"

# (impact, urgency, reassignment_count, group) -> priority from the lookup table
INCIDENTS = [("1", "1", "0", "Network Operations"),  # priority 1
             ("2", "2", "1", "Network Operations"),  # 3
             ("2", "2", "2", "Service Desk"),        # 3
             ("2", "3", "4", "Service Desk"),        # 4
             ("3", "3", "3", "")]                    # 5


@pytest.fixture
def backend(backend: ServiceNowBackend) -> ServiceNowBackend:
    """conftest's pooled instance, as new, with INCIDENTS added."""
    b = backend
    groups = {row["name"]: row["sys_id"] for row in b.store.select("sys_user_group")}
    for n, (impact, urgency, count, group) in enumerate(INCIDENTS):
        b.insert_system("incident", {"short_description": f"agg {n}", "impact": impact, "urgency": urgency,
                                     "reassignment_count": count, "assignment_group": groups.get(group, "")})
    return b


async def stats(client: httpx.AsyncClient, **params: Any) -> Any:
    r = await client.get(STATS, params=params)
    assert r.status_code == 200, r.text
    return r.json()["result"]


async def test_count_is_a_string(client: httpx.AsyncClient) -> None:
    assert await stats(client, sysparm_count="true") == {"stats": {"count": "5"}}
    assert await stats(client) == {"stats": {}}  # nothing asked, nothing computed


async def test_avg_min_max_sum_as_strings(client: httpx.AsyncClient) -> None:
    result = await stats(client, sysparm_count="true", sysparm_avg_fields="reassignment_count,priority",
                         sysparm_min_fields="reassignment_count,sys_created_on",
                         sysparm_max_fields="priority", sysparm_sum_fields="reassignment_count,no_such_field")
    assert result == {"stats": {
        "count": "5",
        "avg": {"reassignment_count": "2.0000", "priority": "3.2000"},
        "min": {"reassignment_count": "0", "sys_created_on": "2026-01-01 00:00:00"},
        "max": {"priority": "5"},
        "sum": {"reassignment_count": "10"}}}


async def test_group_by_with_having_and_order_by(client: httpx.AsyncClient) -> None:
    result = await stats(client, sysparm_count="true", sysparm_group_by="priority",
                         sysparm_avg_fields="reassignment_count")
    assert [g["groupby_fields"] for g in result] == [[{"value": v, "field": "priority"}] for v in "1345"]
    assert result[1]["stats"] == {"count": "2", "avg": {"reassignment_count": "1.5000"}}

    having = await stats(client, sysparm_group_by="priority", sysparm_having="count^priority^>^1")
    assert [(g["stats"], g["groupby_fields"][0]["value"]) for g in having] == [({"count": "2"}, "3")]

    ordered = await stats(client, sysparm_count="true", sysparm_group_by="priority",
                          sysparm_order_by="AVG^reassignment_count^DESC")
    assert [g["groupby_fields"][0]["value"] for g in ordered] == ["4", "5", "3", "1"]
    assert "avg" not in ordered[0]["stats"]  # ordering by an aggregate does not report it
    by_count = await stats(client, sysparm_count="true", sysparm_group_by="priority",
                           sysparm_order_by="COUNT^DESC,priority^DESC")
    assert [g["groupby_fields"][0]["value"] for g in by_count] == ["3", "5", "4", "1"]

    two = await stats(client, sysparm_group_by="impact", sysparm_having="count^impact^>=^1,avg^reassignment_count^>^2")
    assert [(g["groupby_fields"][0]["value"], g["stats"]) for g in two] == [
        ("2", {"count": "3", "avg": {"reassignment_count": "2.3333"}}),
        ("3", {"count": "1", "avg": {"reassignment_count": "3.0000"}})]


async def test_query_and_name_value_filters(client: httpx.AsyncClient) -> None:
    assert (await stats(client, sysparm_count="true", sysparm_query="impact=2^reassignment_count>1")) == \
        {"stats": {"count": "2"}}
    assert (await stats(client, sysparm_count="true", impact="2")) == {"stats": {"count": "3"}}
    assert (await stats(client, sysparm_count="true", impact="1 - High")) == {"stats": {"count": "1"}}  # labels too
    assert (await stats(client, sysparm_count="true", sysparm_query="impact=3", impact="2")) == \
        {"stats": {"count": "1"}}  # name=value pairs do not combine with sysparm_query


async def test_display_values_of_groups(client: httpx.AsyncClient, backend: ServiceNowBackend) -> None:
    raw = await stats(client, sysparm_count="true", sysparm_group_by="assignment_group")
    names = await stats(client, sysparm_count="true", sysparm_group_by="assignment_group",
                        sysparm_display_value="true")
    assert sorted((g["groupby_fields"][0]["value"], g["stats"]["count"]) for g in names) == [
        ("", "1"), ("Network Operations", "2"), ("Service Desk", "2")]
    both = await stats(client, sysparm_count="true", sysparm_group_by="assignment_group,priority",
                       sysparm_display_value="all")
    entry = next(g for g in both if g["groupby_fields"][1]["value"] == "1")
    netops = next(g["sys_id"] for g in backend.store.select("sys_user_group") if g["name"] == "Network Operations")
    assert entry["groupby_fields"][0] == {"value": netops, "field": "assignment_group",
                                          "display_value": "Network Operations"}
    assert netops in {g["groupby_fields"][0]["value"] for g in raw}
    assert entry["groupby_fields"][1] == {"value": "1", "field": "priority", "display_value": "1 - Critical"}


async def test_acl_denial_is_403_like_a_query(client: httpx.AsyncClient) -> None:
    r = await client.get(STATS, params={"sysparm_count": "true"}, auth=ANALYST)
    assert r.status_code == 403
    assert r.json() == {"error": {"message": "Insufficient rights to query records",
                                  "detail": "Field(s) present in the query do not have permission to be read"},
                        "status": "failure"}
    ok = await client.get(STATS, params={"sysparm_count": "true"}, auth=INTEGRATION)
    assert ok.status_code == 200 and ok.json()["result"]["stats"]["count"] == "5"


async def test_bad_requests(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/now/stats/no_such_table", params={"sysparm_count": "true"})
    assert r.status_code == 400 and r.json()["error"]["message"] == "Invalid table no_such_table"
    r = await client.get(STATS, params={"sysparm_group_by": "priority", "sysparm_having": "count^priority^>"})
    assert r.status_code == 400 and r.json()["error"]["message"] == "Invalid sysparm_having"
    r = await client.get(STATS, params={"sysparm_having": "count^priority^~^1"})
    assert r.status_code == 400
    # no grouping and a having clause that removes the single result
    assert await stats(client, sysparm_count="true", sysparm_having="count^priority^>^100") == {"stats": {}}
    # unknown fields are ignored wherever they are named
    assert await stats(client, sysparm_count="true", sysparm_group_by="nope", sysparm_order_by="AVG^nope") == \
        {"stats": {"count": "5"}}
