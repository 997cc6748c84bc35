"""Encoded-query pieces real clients write: CONTAINS / DOES NOT CONTAIN, INSTANCEOF, JOIN,
RLQUERY, and the operators the simulator refuses (400) rather than silently ignoring.

Parser tests on text alone; compiler tests against a seeded instance (ServiceNowBackend), so
JOIN and RLQUERY run on real users, roles and CIs; HTTP tests for the 400 / 403 answers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bpsn.simulator.servicenow.backend import ServiceNowBackend
from bpsn.simulator.servicenow.query.encoded_query import (
    MAX_DOT_WALK_HOPS,
    Condition,
    EncodedQueryError,
    JoinCondition,
    RelatedListCondition,
    parse,
)
from bpsn.simulator.servicenow.query.sql import (
    QueryContext,
    SecretFieldQuery,
    TableNotReadable,
    compile_text,
)
from bpsn.simulator.servicenow.records.store import Where

ADMIN_USER = "6816f79cc0a8016401c5a33be04be441"
ADMIN_ROLE = "2831a114c611228501d4ea6c309d626d"
INTEGRATION = ("bigpanda.integration", "bigpanda")


# --- parser ---------------------------------------------------------------------------------

def one(text: str) -> Any:
    q = parse(text)
    assert len(q.groups) == 1 and len(q.groups[0]) == 1 and len(q.groups[0][0]) == 1, q
    return q.groups[0][0][0]


@pytest.mark.parametrize(("text", "expected"), [
    ("short_descriptionCONTAINSdisk", Condition("short_description", "LIKE", "disk")),
    ("short_descriptionDOES NOT CONTAINdisk", Condition("short_description", "NOT LIKE", "disk")),
    ("nameCONTAINSIN", Condition("name", "LIKE", "IN")),  # the value may look like an operator
    ("sys_class_nameINSTANCEOFcmdb_ci_server", Condition("sys_class_name", "INSTANCEOF", "cmdb_ci_server")),
])
def test_client_operator_spellings(text: str, expected: Condition) -> None:
    assert one(text) == expected


def test_join_as_pysnc_writes_it() -> None:
    assert one("JOINsys_user.sys_id=sys_user_group.manager!active=true") == JoinCondition(
        "sys_user", "sys_id", "sys_user_group", "manager", Condition("active", "=", "true"))
    assert one("JOINsys_user.sys_id=sys_user_has_role.user!") == JoinCondition(
        "sys_user", "sys_id", "sys_user_has_role", "user")
    # extra `!` are tolerated; the join condition may use any operator, `!=` included
    assert one("JOINincident.caller_id=sys_user.sys_id!!active!=false").condition == Condition("active", "!=", "false")


def test_rlquery_as_pysnc_writes_it() -> None:
    q = parse("active=true^RLQUERYsys_group_has_role.group,>0,m2m^role.nameLIKEadmin^ORrole.name=itil"
              "^ENDRLQUERY^name=x")
    active, rl, name = (term[0] for term in q.groups[0])
    assert active == Condition("active", "=", "true") and name == Condition("name", "=", "x")
    assert isinstance(rl, RelatedListCondition)
    assert (rl.table, rl.field, rl.operator, rl.count, rl.m2m) == ("sys_group_has_role", "group", ">", 0, True)
    assert rl.query is not None and rl.query.groups == (
        ((Condition("role.name", "LIKE", "admin"), Condition("role.name", "=", "itil")),),)
    assert parse(q.encode()) == q


def test_rlquery_without_conditions_or_end_marker() -> None:
    rl = one("RLQUERYsys_user.manager,=0")
    assert rl == RelatedListCondition("sys_user", "manager", "=", 0)
    assert rl.encode() == "RLQUERYsys_user.manager,=0^ENDRLQUERY"


@pytest.mark.parametrize("text", [
    "JOINsys_user.sys_id=sys_user_group.manager",  # no `!`
    "JOINsys_user=sys_user_group.manager!",
    "JOINsys_user.sys_id=sys_user_group.manager!garbage",  # a condition that cannot be evaluated
    "RLQUERYsys_user_has_role.user>0^ENDRLQUERY",  # no comma
    "RLQUERYsys_user_has_role.user,~1^ENDRLQUERY",
    "RLQUERYsys_user_has_role.user,>0^RLQUERYsys_user.manager,=0^ENDRLQUERY^ENDRLQUERY",  # nested
    "active=true^ENDRLQUERY",
])
def test_malformed_subqueries_are_errors(text: str) -> None:
    with pytest.raises(EncodedQueryError):
        parse(text)


@pytest.mark.parametrize("part", [
    "opened_atONToday@javascript:gs.beginningOfToday()@javascript:gs.endOfToday()",
    "opened_atNOTONToday@javascript:gs.beginningOfToday()@javascript:gs.endOfToday()",
    "priorityGT_FIELDurgency", "priorityLE_OR_EQUALS_FIELDurgency",  # aiosnow's spelling
    "sys_updated_onRELATIVEGE@hour@ago@1", "opened_atDATEPARTMonday@x", "sys_created_onMORETHANx",
    "stateVALCHANGES", "caller_idDYNAMIC90d1921e5f510100a9ad2572f2b477fe",
])
def test_unsupported_operators_are_flagged_and_refused(backend: ServiceNowBackend, part: str) -> None:
    q = parse(f"active=true^{part}")
    assert q.unsupported == (part,) and part in q.ignored
    with pytest.raises(EncodedQueryError, match="not supported"):
        compile_text(f"active=true^{part}", "incident", backend.dictionary, QueryContext(now=0))


def test_joins_and_rlqueries_count_toward_the_hop_limit() -> None:
    joins = "^".join(f"JOINsys_user.sys_id=sys_user_has_role.user!role={n:032x}"
                     for n in range(MAX_DOT_WALK_HOPS + 1))
    with pytest.raises(EncodedQueryError, match="hops"):
        parse(joins)
    deep = "caller_id.manager.manager.manager.manager.name=x"  # 5 hops, +1 for the RLQUERY
    ok = "^".join(f"RLQUERYincident.caller_id,>0^{deep}{n}^ENDRLQUERY" for n in range(MAX_DOT_WALK_HOPS // 6))
    parse(ok)
    with pytest.raises(EncodedQueryError, match="hops"):
        parse(ok + "^" + "^".join(f"RLQUERYincident.caller_id,>0^{deep}y{n}^ENDRLQUERY" for n in range(2)))


# --- compiler, on the seeded instance -------------------------------------------------------

@pytest.fixture
def sn(backend: ServiceNowBackend) -> ServiceNowBackend:
    """conftest's pooled instance, as new, with two incidents."""
    b = backend
    b.insert_system("incident", {"short_description": "Disk full on web01", "caller_id": ADMIN_USER})
    b.insert_system("incident", {"short_description": "Network down"})
    return b


def names(b: ServiceNowBackend, table: str, query: str, column: str = "name") -> list[str]:
    rows, total = b.query(table, query, limit=1000, offset=0)
    assert total == len(rows)
    return sorted(r[column] for r in rows)


def test_well_known_sys_ids_are_seeded(sn: ServiceNowBackend) -> None:
    assert sn.get("sys_user", ADMIN_USER)["user_name"] == "admin"
    assert sn.get("sys_user_role", ADMIN_ROLE)["name"] == "admin"


def test_contains_and_does_not_contain(sn: ServiceNowBackend) -> None:
    assert names(sn, "incident", "short_descriptionCONTAINSdisk", "short_description") == ["Disk full on web01"]
    assert names(sn, "incident", "short_descriptionDOES NOT CONTAINdisk", "short_description") == ["Network down"]
    assert names(sn, "incident", "short_descriptionCONTAINS%", "short_description") == []  # `%` is literal


def test_instanceof(sn: ServiceNowBackend) -> None:
    servers = names(sn, "cmdb_ci", "sys_class_nameINSTANCEOFcmdb_ci_server")
    assert servers == ["ad-prod-01", "db-prod-01", "web-prod-01", "web-prod-02"]
    assert names(sn, "cmdb_ci", "sys_class_nameINSTANCEOFcmdb_ci_linux_server") == servers[1:]
    assert names(sn, "cmdb_ci", "sys_class_nameINSTANCEOFno_such_table") == []
    assert names(sn, "cmdb_ci", "sys_class_nameINSTANCEOFcmdb_ci_appl^ORsys_class_nameINSTANCEOFcmdb_ci_service") \
        == ["Online Store", "checkout-service"]


def test_join(sn: ServiceNowBackend) -> None:
    assert names(sn, "sys_user", f"JOINsys_user.sys_id=sys_user_has_role.user!role={ADMIN_ROLE}", "user_name") \
        == ["admin"]
    # no condition: every user holding any role; dot-walks work in the join condition
    assert len(names(sn, "sys_user", "JOINsys_user.sys_id=sys_user_has_role.user!", "user_name")) == 6
    assert names(sn, "sys_user", "JOINsys_user.sys_id=sys_user_has_role.user!role.name=itil", "user_name") \
        == ["alice.ops", "bigpanda.integration", "bob.dba"]
    # a reference on the main table joined to the other table's sys_id
    assert names(sn, "incident", "JOINincident.caller_id=sys_user.sys_id!user_name=admin", "short_description") \
        == ["Disk full on web01"]
    assert names(sn, "incident", "JOINincident.caller_id=sys_user.sys_id!", "short_description") \
        == ["Disk full on web01"]  # an empty caller_id joins nothing


def test_rlquery(sn: ServiceNowBackend) -> None:
    admins = "RLQUERYsys_user_has_role.user,>0,m2m^role.name=admin^ENDRLQUERY"
    assert names(sn, "sys_user", admins, "user_name") == ["admin"]
    assert names(sn, "sys_user", "RLQUERYsys_user_has_role.user,>=2^ENDRLQUERY", "user_name") \
        == ["bigpanda.admin", "bigpanda.integration"]
    # a count 0 satisfies: users nothing references match too
    assert names(sn, "sys_user", "RLQUERYsys_user_has_role.user,<2^ENDRLQUERY^active=true", "user_name") \
        == ["admin", "alice.ops", "bob.dba", "noc.analyst"]
    assert names(sn, "sys_user", "RLQUERYincident.caller_id,=0^ENDRLQUERY^user_name=admin") == []
    assert names(sn, "sys_user", "RLQUERYincident.caller_id,=1^ENDRLQUERY", "user_name") == ["admin"]


@pytest.mark.parametrize(("table", "query", "error"), [
    ("sys_user", "JOINsys_user.sys_id=no_such_table.user!", EncodedQueryError),
    ("sys_user", "JOINincident.sys_id=sys_user_has_role.user!", EncodedQueryError),  # not the queried table
    ("sys_user", "JOINsys_user.nope=sys_user_has_role.user!", EncodedQueryError),
    ("sys_user", "JOINsys_user.sys_id=sys_user_has_role.nope!", EncodedQueryError),
    ("sys_user", "RLQUERYno_such_table.user,>0^ENDRLQUERY", EncodedQueryError),
    ("sys_user", "RLQUERYsys_user_has_role.nope,>0^ENDRLQUERY", EncodedQueryError),
    ("sys_user", "JOINsys_user.user_password=sys_user.user_password!", SecretFieldQuery),
    ("incident", "JOINincident.caller_id=sys_user.sys_id!user_passwordSTARTSWITHa", SecretFieldQuery),
    ("sys_user", "RLQUERYincident.caller_id,>0^caller_id.user_passwordSTARTSWITHa^ENDRLQUERY", SecretFieldQuery),
])
def test_subqueries_that_cannot_run_are_refused(sn: ServiceNowBackend, table: str, query: str, error: type) -> None:
    with pytest.raises(error):
        compile_text(query, table, sn.dictionary, QueryContext(now=0))


def test_can_read_guards_the_other_table(sn: ServiceNowBackend) -> None:
    ctx = QueryContext(now=0, can_read=lambda table: table != "sys_audit")
    where, _ = compile_text("JOINsys_user.sys_id=sys_user_has_role.user!", "sys_user", sn.dictionary, ctx)
    assert isinstance(where, Where) and where.sql
    with pytest.raises(TableNotReadable):
        compile_text("JOINsys_user.user_name=sys_audit.user!", "sys_user", sn.dictionary, ctx)
    with pytest.raises(TableNotReadable):
        compile_text("RLQUERYsys_audit.documentkey,>0^ENDRLQUERY", "sys_user", sn.dictionary, ctx)
    assert issubclass(TableNotReadable, SecretFieldQuery)  # the backend answers both 403


# --- over HTTP ------------------------------------------------------------------------------

@pytest.mark.anyio
async def test_http_answers(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/now/table/incident", params={"sysparm_query": "opened_atONToday@a@b"})
    assert r.status_code == 400 and r.json()["error"]["message"] == "Invalid query", r.text
    assert "not supported" in r.json()["error"]["detail"]
    r = await client.get("/api/now/table/sys_user", params={
        "sysparm_query": "JOINsys_user.sys_id=sys_user_has_role.user!role=" + ADMIN_ROLE, "sysparm_fields": "sys_id"})
    assert r.status_code == 200 and r.json()["result"] == [{"sys_id": ADMIN_USER}]
    r = await client.get("/api/now/table/sys_user", auth=INTEGRATION, params={
        "sysparm_query": "JOINsys_user.sys_id=sys_user.sys_id!user_passwordSTARTSWITHa"})
    assert r.status_code == 403, r.text
