"""Read ACLs on every path: a user who may not read `incident` learns nothing about incidents
through a table that references one (x_bip_panda_incident_metadata.u_incident), whichever way
they ask: a direct read, a dot-walked field (sysparm_fields, any display value), a dot-walked
condition or SAMEAS operand, an ORDERBY on a dot-walk, the Aggregate API, a Batch API item, or
the record a write answers with. A user who may read incident gets the same answers as before.

The matrix: admin and bigpanda.integration (itil) read incident; noc.analyst and bigpanda.admin
(x_bip_panda_user only) read the metadata table but not incident. Where the reference is silent,
a query through an unreadable table is answered 403 "Insufficient rights to query records"
(query/sql.py), and a dot-walked field through one is left out of the record (records/render.py).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from pooled_simulators import servicenow_pool

from bpsn.base.clock import SimClock
from bpsn.simulator.servicenow.app import create_app
from bpsn.simulator.servicenow.backend import ServiceNowBackend
from bpsn.simulator.servicenow.query.sql import (
    QueryContext,
    TableNotReadable,
    compile_text,
)
from bpsn.testing import call_asgi

ADMIN = ("admin", "admin")
INTEGRATION = ("bigpanda.integration", "bigpanda")
ANALYST = ("noc.analyst", "analyst")
BP_ADMIN = ("bigpanda.admin", "bigpanda-admin")
USERS = {ADMIN: True, INTEGRATION: True, ANALYST: False, BP_ADMIN: False}  # may read incident?
USER_IDS = [u[0] for u in USERS]
META = "/api/now/table/x_bip_panda_incident_metadata"
STATS = "/api/now/stats/x_bip_panda_incident_metadata"
SECRET = "xsecret outage at the vault"
BP_ID = "BP-ACL-PATHS-1"
WALKED = ("u_incident.short_description", "u_incident.number", "u_incident.caller_id.user_name",
          "u_incident.caller_id.user_password")


def _call(app: Any, method: str, url: str, who: tuple[str, str], **kwargs: Any) -> httpx.Response:
    return call_asgi(app, method, url, base_url="http://sn", auth=who, **kwargs)


def _seed(app: Any) -> dict[str, str]:
    inc = _call(app, "POST", "/api/now/table/incident", ADMIN,
                json={"short_description": SECRET, "caller_id": "6816f79cc0a8016401c5a33be04be441"})
    assert inc.status_code == 201, inc.text
    meta = _call(app, "POST", META, ADMIN, json={"u_bp_incident_id": BP_ID, "u_incident": inc.json()["result"]["sys_id"]})
    assert meta.status_code == 201, meta.text
    return {"incident": inc.json()["result"]["sys_id"], "number": inc.json()["result"]["number"],
            "meta": meta.json()["result"]["sys_id"]}


@pytest.fixture(scope="module")
def world() -> tuple[Any, dict[str, str]]:
    # an instance of its own: seeded once for the file; the pool's resets would drop its records
    app = create_app(ServiceNowBackend(clock=SimClock.virtual()))
    return app, _seed(app)


@pytest.fixture
def backend() -> ServiceNowBackend:
    """The process's pooled ServiceNow simulator (pooled_simulators.py) as a new one is; for the
    tests that need one as new. `world` stays apart, seeded once for the file."""
    return servicenow_pool().as_new()


@pytest.fixture
def app(backend: ServiceNowBackend) -> Any:
    return servicenow_pool().app


@pytest.fixture(params=list(USERS), ids=USER_IDS)
def user(request: pytest.FixtureRequest) -> tuple[str, str]:
    return request.param


def _meta_rows(app: Any, who: tuple[str, str], query: str) -> httpx.Response:
    return _call(app, "GET", META, who, params={"sysparm_query": f"u_bp_incident_id={BP_ID}^{query}",
                                                "sysparm_fields": "sys_id"})


# --- direct read ----------------------------------------------------------------------------------

def test_direct_read(world: tuple[Any, dict[str, str]], user: tuple[str, str]) -> None:
    app, ids = world
    listed = _call(app, "GET", "/api/now/table/incident", user, params={"sysparm_query": f"sys_id={ids['incident']}"})
    one = _call(app, "GET", f"/api/now/table/incident/{ids['incident']}", user)
    if USERS[user]:
        assert listed.status_code == 200 and listed.json()["result"][0]["short_description"] == SECRET
        assert one.status_code == 200 and one.json()["result"]["short_description"] == SECRET
    else:
        assert listed.status_code == 403 and one.status_code == 404
        assert SECRET not in listed.text + one.text


# --- dot-walked fields --------------------------------------------------------------------------

@pytest.mark.parametrize("display", ["false", "true", "all"])
@pytest.mark.parametrize("single", [False, True], ids=["list", "one"])
def test_dot_walked_fields(world: tuple[Any, dict[str, str]], user: tuple[str, str], display: str,
                           single: bool) -> None:
    app, ids = world
    params = {"sysparm_fields": ",".join(("u_bp_incident_id", "u_incident", *WALKED)),
              "sysparm_display_value": display}
    if single:
        r = _call(app, "GET", f"{META}/{ids['meta']}", user, params=params)
        assert r.status_code == 200, r.text
        record = r.json()["result"]
    else:
        r = _call(app, "GET", META, user, params={**params, "sysparm_query": f"u_bp_incident_id={BP_ID}"})
        assert r.status_code == 200, r.text
        [record] = r.json()["result"]

    def shown(value: Any) -> Any:
        return value["display_value"] if display == "all" else value

    assert shown(record["u_bp_incident_id"]) == BP_ID  # the metadata's own fields stay readable
    reference = record["u_incident"]
    assert (reference["value"] if isinstance(reference, dict) and "value" in reference
            else reference if isinstance(reference, str) else None) in (ids["incident"], None)
    if USERS[user]:
        assert shown(record["u_incident.short_description"]) == SECRET
        assert shown(record["u_incident.number"]) == ids["number"]
        assert shown(record["u_incident.caller_id.user_name"]) == "admin"
        assert shown(record["u_incident.caller_id.user_password"]) == ""  # never shown, whoever asks
        if display != "false":
            assert reference["display_value"] == ids["number"]
    else:
        assert not any(name in record for name in WALKED), record
        assert SECRET not in r.text and ids["number"] not in r.text
        if display != "false":  # the reference's value is the record's own; its display is the incident's
            assert reference["display_value"] == ""


# --- dot-walked conditions, SAMEAS, ORDERBY --------------------------------------------------------

@pytest.mark.parametrize("query", [
    "u_incident.short_descriptionSTARTSWITHxsec",  # true for the seeded incident
    "u_incident.short_descriptionSTARTSWITHnope",  # false
    "u_incident.caller_id.user_name=admin",
    "u_incident.short_descriptionANYTHING",
    "u_incident.numberISNOTEMPTY^ORu_bp_incident_id=x",
    "u_bp_incident_idSAMEASu_incident.short_description",
    "u_bp_incident_idNSAMEASu_incident.number",
    "ORDERBYu_incident.number",
    "ORDERBYDESCu_incident.short_description",
])
def test_dot_walked_query_parts(world: tuple[Any, dict[str, str]], user: tuple[str, str], query: str) -> None:
    app, ids = world
    r = _meta_rows(app, user, query)
    if not USERS[user]:
        assert r.status_code == 403, r.text  # the same answer whatever the incident holds
        assert r.json()["error"]["message"] == "Insufficient rights to query records"
        return
    assert r.status_code == 200, r.text
    found = [row["sys_id"] for row in r.json()["result"]]
    assert found == ([] if query.endswith("nope") else [ids["meta"]])


def test_a_condition_through_an_unreadable_table_does_not_depend_on_the_data(
        world: tuple[Any, dict[str, str]]) -> None:
    app, _ = world
    for who in (ANALYST, BP_ADMIN):
        yes = _meta_rows(app, who, "u_incident.short_descriptionSTARTSWITHxsec")
        no = _meta_rows(app, who, "u_incident.short_descriptionSTARTSWITHnope")
        assert (yes.status_code, yes.json()) == (no.status_code, no.json())


def test_a_dot_walked_name_value_filter_is_ignored_for_everyone(world: tuple[Any, dict[str, str]],
                                                                 user: tuple[str, str]) -> None:
    app, ids = world  # name=value pairs name columns only: a dot-walk there is ignored, as before
    for value in ("nope", SECRET):
        r = _call(app, "GET", META, user, params={"u_bp_incident_id": BP_ID, "u_incident.short_description": value,
                                                  "sysparm_fields": "sys_id"})
        assert (r.status_code, r.json()) == (200, {"result": [{"sys_id": ids["meta"]}]})


def test_a_password_operand_is_still_refused_for_everyone(world: tuple[Any, dict[str, str]],
                                                         user: tuple[str, str]) -> None:
    app, _ = world
    r = _call(app, "GET", "/api/now/table/sys_user", user,
              params={"sysparm_query": "user_nameSAMEASuser_password"})
    assert r.status_code == 403, r.text


def test_walks_through_readable_tables_only_are_untouched(world: tuple[Any, dict[str, str]],
                                                          user: tuple[str, str]) -> None:
    app, _ = world  # sys_user is readable by everyone: a walk through it still works
    r = _call(app, "GET", "/api/now/table/sys_user_has_role", user,
              params={"sysparm_query": "user.user_name=noc.analyst", "sysparm_fields": "user.user_name,role.name"})
    assert r.status_code == 200, r.text
    assert {row["user.user_name"] for row in r.json()["result"]} == {"noc.analyst"}


# --- Aggregate API -------------------------------------------------------------------------------------

@pytest.mark.parametrize("group_by", ["u_incident.priority", "u_incident.short_description"])
def test_aggregate_group_by_a_dot_walk_is_ignored_for_everyone(world: tuple[Any, dict[str, str]],
                                                               user: tuple[str, str], group_by: str) -> None:
    app, _ = world
    r = _call(app, "GET", STATS, user, params={"sysparm_count": "true", "sysparm_group_by": group_by,
                                               "sysparm_having": f"count^{group_by}^>^0",
                                               "sysparm_max_fields": group_by, "sysparm_display_value": "all",
                                               "sysparm_query": f"u_bp_incident_id={BP_ID}"})
    assert r.status_code == 200, r.text
    assert r.json() == {"result": {"stats": {"count": "1"}}}


@pytest.mark.parametrize("query", ["u_incident.short_descriptionSTARTSWITHxsec",
                                   "u_incident.short_descriptionSTARTSWITHnope", "ORDERBYu_incident.number"])
def test_aggregate_query_through_a_dot_walk(world: tuple[Any, dict[str, str]], user: tuple[str, str],
                                            query: str) -> None:
    app, _ = world
    r = _call(app, "GET", STATS, user, params={"sysparm_count": "true",
                                               "sysparm_query": f"u_bp_incident_id={BP_ID}^{query}"})
    if not USERS[user]:
        assert r.status_code == 403, r.text
        return
    assert r.status_code == 200, r.text
    assert r.json()["result"]["stats"]["count"] == ("0" if query.endswith("nope") else "1")


def test_aggregate_group_by_reference_display_hides_unreadable_targets(world: tuple[Any, dict[str, str]]) -> None:
    app, ids = world
    r = _call(app, "GET", STATS, ANALYST, params={"sysparm_count": "true", "sysparm_group_by": "u_incident",
                                                  "sysparm_display_value": "true",
                                                  "sysparm_query": f"u_bp_incident_id={BP_ID}"})
    assert r.status_code == 200 and ids["number"] not in r.text


# --- Batch API ------------------------------------------------------------------------------------------

def test_batch_items(world: tuple[Any, dict[str, str]], user: tuple[str, str]) -> None:
    app, ids = world
    items = [
        {"id": "field", "method": "GET", "url": f"{META}/{ids['meta']}?sysparm_fields=u_bp_incident_id,"
                                                  "u_incident.short_description&sysparm_display_value=all"},
        {"id": "query", "method": "GET",
         "url": f"{META}?sysparm_query=u_incident.short_descriptionSTARTSWITHxsec&sysparm_fields=sys_id"},
        {"id": "direct", "method": "GET", "url": f"/api/now/table/incident/{ids['incident']}"},
    ]
    r = _call(app, "POST", "/api/now/v1/batch", user, json={"batch_request_id": "acl", "rest_requests": items})
    assert r.status_code == 200, r.text
    answers = {s["id"]: (s["status_code"], json.loads(base64.b64decode(s["body"])))
               for s in r.json()["serviced_requests"]}
    field_status, field_body = answers["field"]
    assert field_status == 200 and field_body["result"]["u_bp_incident_id"]["value"] == BP_ID
    if USERS[user]:
        assert field_body["result"]["u_incident.short_description"]["value"] == SECRET
        assert answers["query"][0] == 200 and {"sys_id": ids["meta"]} in answers["query"][1]["result"]
        assert answers["direct"][0] == 200
    else:
        assert "u_incident.short_description" not in field_body["result"]
        assert answers["query"][0] == 403 and answers["direct"][0] == 404
        assert SECRET not in json.dumps(answers)


# --- the record a write answers with -------------------------------------------------------------------

def test_a_write_answers_without_the_unreadable_walk(app: Any) -> None:
    """bigpanda.admin may create and update metadata but not read incident: the record it gets
    back leaves the walk out, on insert and on update alike."""
    ids = _seed(app)
    params = {"sysparm_fields": "u_bp_incident_id,u_incident.short_description"}
    created = _call(app, "POST", META, BP_ADMIN, params=params,
                    json={"u_bp_incident_id": "BP-2", "u_incident": ids["incident"]})
    assert created.status_code == 201, created.text
    assert created.json()["result"] == {"u_bp_incident_id": "BP-2"}
    updated = _call(app, "PATCH", f"{META}/{ids['meta']}", BP_ADMIN, params=params, json={"u_bp_status": "active"})
    assert updated.status_code == 200, updated.text
    assert updated.json()["result"] == {"u_bp_incident_id": BP_ID}
    as_admin = _call(app, "PATCH", f"{META}/{ids['meta']}", ADMIN, params=params, json={"u_bp_status": "x"})
    assert as_admin.json()["result"]["u_incident.short_description"] == SECRET


# --- the compiler itself ------------------------------------------------------------------------------

@pytest.mark.parametrize("query", [
    "u_incident.short_descriptionSTARTSWITHx",
    "u_incident.caller_id.nameISEMPTY",
    "u_bp_incident_idSAMEASu_incident.number",
    "u_incident.numberSAMEASu_bp_incident_id",
    "ORDERBYu_incident.number",
    "ORDERBYDESCu_previous_incident.short_description",
    "u_bp_incident_id=x^NQu_incident.active=true",
])
def test_compile_refuses_a_walk_through_an_unreadable_table(backend: ServiceNowBackend, query: str) -> None:
    dictionary = backend.dictionary
    table = "x_bip_panda_incident_metadata"
    with pytest.raises(TableNotReadable):
        compile_text(query, table, dictionary, QueryContext(now=0, can_read=lambda t: t != "incident"))
    compile_text(query, table, dictionary, QueryContext(now=0, can_read=lambda t: True))  # readable: compiles
    compile_text(query, table, dictionary, QueryContext(now=0))  # not asked: compiles, as before


def test_an_unknown_hop_is_still_ignored_before_any_acl_question(backend: ServiceNowBackend) -> None:
    dictionary = backend.dictionary
    asked: list[str] = []
    ctx = QueryContext(now=0, can_read=lambda t: asked.append(t) or False)
    where, order = compile_text("u_nosuch.numberSTARTSWITHx^ORDERBYu_nosuch.number", "x_bip_panda_incident_metadata",
                                dictionary, ctx)
    assert (where.sql, order, asked) == ("", [], [])
