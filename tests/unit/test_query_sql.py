"""Encoded queries compiled to SQL and run against a real Store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpsn.base.clock import from_glide
from bpsn.simulator.servicenow.query.encoded_query import MAX_QUERY_BYTES, EncodedQueryError, parse
from bpsn.simulator.servicenow.query.sql import (
    MAX_DOT_WALK,
    QueryContext,
    compile_order,
    compile_text,
    compile_where,
    resolve_value,
)
from bpsn.simulator.servicenow.records.dictionary import Dictionary
from bpsn.simulator.servicenow.records.store import Order, Store, Where

NOW = "2026-01-15 12:30:00"
CTX = QueryContext(now=from_glide(NOW))


def sid(n: int) -> str:
    return f"{n:032x}"


ALICE, BOB, CAROL = sid(1), sid(2), sid(3)
G_NET, G_DB = sid(11), sid(12)
I1, I2, I3, I4, C1 = sid(21), sid(22), sid(23), sid(24), sid(31)
CTX_ALICE = QueryContext(now=CTX.now, user_sys_id=ALICE)
ALL = ["INC001", "INC002", "INC003", "INC004"]


def _fill(store: Store) -> None:
    for sys_id, name in [(ALICE, "alice"), (BOB, "bob"), (CAROL, "carol")]:
        store.insert("sys_user", {"sys_id": sys_id, "sys_class_name": "sys_user",
                                  "user_name": name, "name": name.title(),
                                  "email": f"{name}@example.com"})
    store.insert("sys_user_group", {"sys_id": G_NET, "sys_class_name": "sys_user_group",
                                    "name": "Network", "manager": CAROL})
    store.insert("sys_user_group", {"sys_id": G_DB, "sys_class_name": "sys_user_group",
                                    "name": "Database", "manager": BOB})
    incidents = [
        dict(sys_id=I1, number="INC001", short_description="Disk full on web01", state="1",
             priority="1", caller_id=ALICE, assignment_group=G_NET, assigned_to=BOB,
             opened_by=BOB, opened_at="2025-12-31 10:00:00", sys_created_on="2026-01-15 12:00:00",
             reassignment_count="2"),
        dict(sys_id=I2, number="INC002", short_description="Network down 100%_really", state="2",
             priority="2", caller_id=BOB, assignment_group=G_DB, opened_by=ALICE,
             opened_at="2025-12-30 23:59:59", sys_created_on="2026-01-14 08:00:00",
             reassignment_count="9", parent=C1, parent_incident=C1),
        dict(sys_id=I3, number="INC003", short_description="disk latency", state="6",
             priority="3", caller_id=CAROL, assigned_to=ALICE, opened_by=ALICE,
             close_notes="fixed", sys_created_on="2026-01-10 00:00:00", reassignment_count="10"),
        dict(sys_id=I4, number="INC004", state="7", opened_by=CAROL, parent_incident=I1,
             sys_created_on="2025-06-01 00:00:00"),
    ]
    for values in incidents:
        store.insert("incident", {"sys_class_name": "incident", **values})
    store.insert("change_request", {"sys_id": C1, "sys_class_name": "change_request",
                                    "number": "CHG001", "short_description": "Disk upgrade",
                                    "state": "-5", "priority": "3", "assignment_group": G_NET, "type": "normal",
                                    "sys_created_on": NOW})


@pytest.fixture(scope="module")
def store() -> Iterator[Store]:
    s = Store(Dictionary.default())
    _fill(s)
    yield s
    s.close()


def numbers(store: Store, text: str, table: str = "incident",
            ctx: QueryContext = CTX) -> list[str]:
    where, order = compile_text(text, table, store.dictionary, ctx)
    return [r["number"] for r in store.select(table, where, order)]


@pytest.mark.parametrize("text, expected", [
    ("state=6", ["INC003"]),
    ("state!=6", ["INC001", "INC002", "INC004"]),
    (f"caller_id!={ALICE}", ["INC002", "INC003", "INC004"]),  # the empty caller matches
    ("short_descriptionLIKEdisk", ["INC001", "INC003"]),
    ("short_descriptionLIKEDISK", ["INC001", "INC003"]),  # case-insensitive
    ("short_description*disk", ["INC001", "INC003"]),
    ("short_descriptionNOT LIKEdisk", ["INC002", "INC004"]),
    ("short_description!*disk", ["INC002", "INC004"]),
    ("short_descriptionLIKE%", ["INC002"]),  # wildcards in the value are literal
    ("short_descriptionLIKE_", ["INC002"]),
    ("short_descriptionLIKE100%_r", ["INC002"]),
    ("short_descriptionLIKE\\", []),
    ("short_descriptionSTARTSWITHdisk", ["INC001", "INC003"]),
    ("short_descriptionSTARTSWITHfull", []),
    ("short_descriptionENDSWITHweb01", ["INC001"]),
    ("short_description%WEB01", ["INC001"]),
    ("stateIN1,2", ["INC001", "INC002"]),
    ("stateIN6", ["INC003"]),
    ("stateNOT IN1,2", ["INC003", "INC004"]),
    ("assigned_toISEMPTY", ["INC002", "INC004"]),
    ("assigned_toISNOTEMPTY", ["INC001", "INC003"]),
    ("assigned_toANYTHING", ALL),
    ("close_notesEMPTYSTRING", ["INC001", "INC002", "INC004"]),
    ("opened_bySAMEASassigned_to", ["INC001", "INC003"]),
    ("opened_byNSAMEASassigned_to", ["INC002", "INC004"]),
    ("opened_bySAMEASnonexistent", ALL),  # the other field must exist
    ("opened_at<2025-12-31", ["INC002"]),  # a date means its midnight; empty is not before it
    ("opened_at>=2025-12-31", ["INC001"]),
    ("opened_at=2025-12-31 10:00:00", ["INC001"]),
    ("opened_atBETWEEN2025-12-30@2025-12-31", ["INC002"]),
])
def test_operators(store: Store, text: str, expected: list[str]) -> None:
    assert numbers(store, text) == expected


@pytest.mark.parametrize("text, expected", [
    ("priority<2", ["INC001"]),
    ("priority>2", ["INC003"]),
    ("priority<=2", ["INC001", "INC002"]),
    ("priority>=2", ["INC002", "INC003"]),  # the empty priority compares to nothing
    ("priorityBETWEEN1@2", ["INC001", "INC002"]),
    ("reassignment_count>5", ["INC002", "INC003"]),  # as text, only "9" > "5"
    ("reassignment_count<10", ["INC001", "INC002"]),
    ("reassignment_countBETWEEN9@10", ["INC002", "INC003"]),
    ("priority<abc", []),  # a non-numeric bound on a number field matches nothing
    ("priorityBETWEEN1", ALL),  # BETWEEN without two ends is ignored
])
def test_numeric_compare(store: Store, text: str, expected: list[str]) -> None:
    assert numbers(store, text) == expected


def test_numeric_and_text_order(store: Store) -> None:
    assert numbers(store, "ORDERBYreassignment_count") == ["INC004", "INC001", "INC002", "INC003"]
    assert numbers(store, "ORDERBYDESCreassignment_count") == ["INC003", "INC002", "INC001",
                                                               "INC004"]
    assert numbers(store, "ORDERBYDESCpriority") == ["INC003", "INC002", "INC001", "INC004"]
    assert numbers(store, "ORDERBYDESCnumber") == ["INC004", "INC003", "INC002", "INC001"]
    assert numbers(store, "priorityISNOTEMPTY^ORDERBYDESCstate^ORDERBYpriority") == [
        "INC003", "INC002", "INC001"]


def test_compile_order(store: Store) -> None:
    q = parse("ORDERBYpriority^ORDERBYDESCshort_description^ORDERBYnope^ORDERBYcaller_id.name")
    assert compile_order(q, "incident", store.dictionary) == [
        Order("priority", False, True), Order("short_description", True, False)]


def test_and_or_and_groups(store: Store) -> None:
    assert numbers(store, "priority=1^ORpriority=3^state=6") == ["INC003"]
    assert numbers(store, "state=1^NQstate=6") == ["INC001", "INC003"]
    assert numbers(store, "state=1^ORstate=2^NQstate=7^priority=") == ["INC001", "INC002",
                                                                        "INC004"]
    assert numbers(store, "") == ALL
    assert numbers(store, "state=6^garbage^ORstate=1") == ["INC001", "INC003"]


def test_unknown_fields_are_ignored(store: Store) -> None:
    assert numbers(store, "nonexistent=1") == ALL
    assert numbers(store, "nonexistent=1^state=6") == ["INC003"]
    assert numbers(store, "nonexistent=1^ORstate=6") == ["INC003"]
    assert numbers(store, "state=6^NQnonexistent=1") == ALL  # an empty group matches everything
    assert numbers(store, "ORDERBYnonexistent") == ALL
    # A field of another table in the hierarchy is not a field of this one.
    assert numbers(store, "type=normal", "change_request") == ["CHG001"]
    assert numbers(store, "state=6^type=normal") == ["INC003"]


def test_dot_walking(store: Store) -> None:
    assert numbers(store, "caller_id.email=alice@example.com") == ["INC001"]
    assert numbers(store, "caller_id.emailSTARTSWITHbob") == ["INC002"]
    assert numbers(store, "caller_id.nameIN Alice,Carol") == ["INC003"]
    assert numbers(store, "caller_id.nameINAlice,Carol") == ["INC001", "INC003"]
    assert numbers(store, "assignment_group.name=Network") == ["INC001"]
    assert numbers(store, "parent_incident.number=INC001") == ["INC004"]
    assert numbers(store, "caller_id.email=alice@example.com^ORcaller_id.email=bob@example.com"
                   ) == ["INC001", "INC002"]


def test_dot_walking_two_levels(store: Store) -> None:
    text = "assignment_group.manager.email=carol@example.com"
    assert numbers(store, text) == ["INC001"]
    assert numbers(store, text, "task") == ["INC001", "CHG001"]
    assert numbers(store, "assignment_group.manager.nameLIKEbo") == ["INC002"]


def test_dot_walking_respects_the_target_class(store: Store) -> None:
    # INC002 points both `parent` (task) and `parent_incident` (incident) at a change.
    assert numbers(store, "parent.number=CHG001") == ["INC002"]
    assert numbers(store, "parent_incident.number=CHG001") == []


def test_dot_walking_through_a_non_reference_is_ignored(store: Store) -> None:
    assert numbers(store, "short_description.name=x") == ALL
    assert numbers(store, "caller_id.nope=x") == ALL
    assert numbers(store, "nope.email=x") == ALL
    assert numbers(store, "caller_id..email=x") == ALL
    assert numbers(store, "caller_id.=x") == ALL


def test_dot_walking_depth_limit(store: Store) -> None:
    deep = ".".join(["parent"] * MAX_DOT_WALK) + ".number=x"
    assert numbers(store, deep) == []
    with pytest.raises(EncodedQueryError, match="deeper"):
        numbers(store, "parent." + deep)


def test_inheritance(store: Store) -> None:
    assert numbers(store, "short_descriptionLIKEdisk", "task") == ["INC001", "INC003", "CHG001"]
    assert numbers(store, "short_descriptionLIKEdisk", "change_request") == ["CHG001"]
    assert numbers(store, "number=INC001", "change_request") == []
    assert numbers(store, "sys_class_name=change_request", "task") == ["CHG001"]


@pytest.mark.parametrize("function, expected", [
    ("gs.dateGenerate('2024-01-01','00:00:00')", "2024-01-01 00:00:00"),
    ("gs.dateGenerate('2024-02-29','start')", "2024-02-29 00:00:00"),
    ("gs.dateGenerate('2024-02-29','end')", "2024-02-29 23:59:59"),
    ("gs.daysAgo(5)", "2026-01-10 12:30:00"),
    ("gs.daysAgo(-1)", "2026-01-16 12:30:00"),
    ("gs.daysAgoStart(5)", "2026-01-10 00:00:00"),
    ("gs.daysAgoEnd(1)", "2026-01-14 23:59:59"),
    ("gs.daysAgoStart('0')", "2026-01-15 00:00:00"),
    ("gs.beginningOfToday()", "2026-01-15 00:00:00"),
    ("gs.endOfToday()", "2026-01-15 23:59:59"),
    ("gs.beginningOfYesterday()", "2026-01-14 00:00:00"),
    ("gs.endOfYesterday()", "2026-01-14 23:59:59"),
    ("gs.hoursAgo(1)", "2026-01-15 11:30:00"),
    ("gs.minutesAgo(30)", "2026-01-15 12:00:00"),
    ("gs.nowDateTime()", "2026-01-15 12:30:00"),
    ("gs.now()", "2026-01-15"),
    ("gs.getUserID()", ALICE),
    (" gs.hoursAgo( 2 ) ;", "2026-01-15 10:30:00"),
])
def test_value_functions(function: str, expected: str) -> None:
    assert resolve_value("javascript:" + function, CTX_ALICE) == expected
    assert resolve_value("javascript&colon;" + function, CTX_ALICE) == expected


def test_literal_values_are_not_evaluated() -> None:
    assert resolve_value("gs.now()", CTX) == "gs.now()"
    assert resolve_value("JAVASCRIPT:gs.now()", CTX) == "JAVASCRIPT:gs.now()"


@pytest.mark.parametrize("text, expected", [
    ("sys_created_on>=javascript:gs.beginningOfToday()", ["INC001"]),
    ("sys_created_on<=javascript:gs.endOfToday()", ALL),
    ("sys_created_onBETWEENjavascript:gs.beginningOfYesterday()@javascript:gs.endOfYesterday()",
     ["INC002"]),
    ("sys_created_on BETWEENjavascript:gs.dateGenerate('2026-01-10','00:00:00')"
     "@javascript:gs.dateGenerate('2026-01-14','08:00:00')", ["INC002", "INC003"]),
    ("sys_created_on=javascript:gs.daysAgoStart(5)", ["INC003"]),
    ("sys_created_on<=javascript:gs.daysAgoEnd(1)", ["INC002", "INC003", "INC004"]),
    ("sys_created_on<javascript:gs.daysAgo(5)", ["INC003", "INC004"]),
    ("sys_created_on>javascript:gs.hoursAgo(1)", ["INC001"]),
    ("sys_created_on=javascript:gs.minutesAgo(30)", ["INC001"]),
    ("sys_created_on>=javascript:gs.now()", ["INC001"]),  # a date: today's midnight
    ("sys_created_on<javascript&colon;gs.now()", ["INC002", "INC003", "INC004"]),
    ("caller_id=javascript:gs.getUserID()", ["INC001"]),
    ("caller_idINjavascript:gs.getUserID()", ["INC001"]),
    ("caller_id=javascript:gs.getUserID()^ORopened_by=javascript:gs.getUserID()",
     ["INC001", "INC002", "INC003"]),
])
def test_value_functions_in_queries(store: Store, text: str, expected: list[str]) -> None:
    assert numbers(store, text, ctx=CTX_ALICE) == expected


def test_value_functions_follow_the_context_clock(store: Store) -> None:
    later = QueryContext(now=from_glide("2026-01-16 00:00:01"))
    assert numbers(store, "sys_created_on>=javascript:gs.beginningOfYesterday()",
                   ctx=later) == ["INC001"]
    assert numbers(store, "sys_created_on>=javascript:gs.nowDateTime()", "task") == ["CHG001"]


def test_user_id_without_a_user_is_empty(store: Store) -> None:
    assert numbers(store, "caller_id=javascript:gs.getUserID()") == ["INC004"]


@pytest.mark.parametrize("value", [
    "javascript:gs.nope()",
    "javascript:getMyGroups()",
    "javascript:alert(1)",
    "javascript:gs.daysAgo()",
    "javascript:gs.daysAgo('x')",
    "javascript:gs.daysAgo(1, 2)",
    "javascript:gs.daysAgo(99999999999)",
    "javascript:gs.daysAgo(" + "9" * 5000 + ")",
    "javascript:gs.now(1)",
    "javascript:gs.getUserID(1)",
    "javascript:gs.dateGenerate('2024-13-01','00:00:00')",
    "javascript:gs.dateGenerate('2024-01-01')",
    "javascript:gs.dateGenerate('a,b','c')",
    "javascript:gs.beginningOfToday",
    "javascript:",
    "javascript&colon;gs.nope()",
])
def test_bad_value_functions_are_errors(store: Store, value: str) -> None:
    with pytest.raises(EncodedQueryError):
        numbers(store, "sys_created_on>" + value)


def test_bad_function_on_an_unknown_field_is_just_ignored(store: Store) -> None:
    assert numbers(store, "nope=javascript:gs.nope()") == ALL


def test_bad_function_error_names_the_function(store: Store) -> None:
    with pytest.raises(EncodedQueryError, match=r"gs\.nope"):
        numbers(store, "sys_created_on>javascript:gs.nope()")


@pytest.mark.parametrize("text", [
    "short_description=x' OR '1'='1",
    "short_descriptionLIKE%' OR 1=1 --",
    "number=INC001\"; DROP TABLE task; --",
    "stateIN1) OR (1=1",
    "priority<1 OR 1=1",
    "number=INC001'); DELETE FROM task; --",
    "opened_bySAMEASassigned_to OR 1=1",
    "ORDERBYnumber; DROP TABLE task",
    "ORDERBYDESCnumber\" DESC; DROP TABLE task; --",
    "caller_id.email=x' UNION SELECT * FROM sys_user --",
])
def test_injection_looking_values_are_harmless(store: Store, text: str) -> None:
    where, order = compile_text(text, "incident", store.dictionary, CTX)
    assert "DROP" not in where.sql and "1=1" not in where.sql and "'1'" not in where.sql
    rows = store.select("incident", where, order)
    assert len(rows) in (0, 4)
    assert store.count("task") == 5 and store.count("sys_user") == 3


def test_many_alternatives_stay_under_sqlite_depth_limits(store: Store) -> None:
    text = "^OR".join(f"number=INC{n:05d}" for n in range(1700)) + "^ORnumber=INC003"
    assert len(text) < MAX_QUERY_BYTES
    assert numbers(store, text) == ["INC003"]
    text = "^".join(["state!=1"] * 3000)
    assert numbers(store, text) == ["INC002", "INC003", "INC004"]
    text = "^NQ".join(["caller_id.name=Bob"] * 1500)
    assert numbers(store, text) == ["INC002"]


def test_long_like_values(store: Store) -> None:
    assert numbers(store, "short_descriptionLIKE" + "%" * 20_000) == []
    with pytest.raises(EncodedQueryError, match="too long"):
        numbers(store, "short_descriptionLIKE" + "%" * 30_000)


def test_compile_where_of_empty_query_matches_everything(store: Store) -> None:
    assert compile_where(parse(""), "incident", store.dictionary, CTX) == Where()


# --- properties ---------------------------------------------------------------------------------

def _run(store: Store, text: str, table: str) -> None:
    try:
        where, order = compile_text(text, table, store.dictionary, CTX_ALICE)
    except EncodedQueryError:
        return
    store.select(table, where, order)


@settings(max_examples=200, deadline=None)
@given(text=st.text(), table=st.sampled_from(["incident", "task", "sys_user"]))
def test_any_text_compiles_and_runs_or_is_an_encoded_query_error(
        store: Store, text: str, table: str) -> None:
    _run(store, text, table)


_FIELDS = ["number", "state", "priority", "short_description", "caller_id", "opened_at",
           "sys_created_on", "reassignment_count", "active", "caller_id.email",
           "assignment_group.manager.name", "parent.number", "parent_incident.caller_id.name",
           "short_description.name", "nope", "caller_id.nope", "INDEX", "sys_class_name"]
_OPERATORS = ["=", "!=", "<", ">", "<=", ">=", "LIKE", "NOT LIKE", "STARTSWITH", "ENDSWITH",
              "IN", "NOT IN", "ISEMPTY", "ISNOTEMPTY", "ANYTHING", "EMPTYSTRING", "BETWEEN",
              "SAMEAS", "NSAMEAS", "*", "!*", "%", "ON", "DATEPART", " =", ""]
_VALUES = st.one_of(
    st.sampled_from(["", "1", "-2.5", "1e3", "abc", "1,2,3", "1@3", "a@b", "2026-01-01",
                     "2026-01-01 12:00:00", "assigned_to", "caller_id", "%", "_", "\\", "'", '"',
                     "javascript:gs.daysAgo(3)", "javascript:gs.now()@javascript:gs.endOfToday()",
                     "javascript&colon;gs.getUserID()", "javascript:gs.nope()",
                     "javascript:gs.dateGenerate('2026-01-01','end')", "javascript:gs.daysAgo(x",
                     "javascript:gs.hoursAgo(1)@2026-01-01"]),
    st.text(max_size=20),
)
_PARTS = st.one_of(
    st.builds(lambda f, o, v: f + o + v, st.sampled_from(_FIELDS), st.sampled_from(_OPERATORS),
              _VALUES),
    st.builds(lambda d, f: ("ORDERBYDESC" if d else "ORDERBY") + f, st.booleans(),
              st.sampled_from(_FIELDS)),
    st.sampled_from(["", "EQ", "garbage", "NQ", "OR"]),
)


@st.composite
def _plausible_queries(draw: st.DrawFn) -> str:
    parts = draw(st.lists(_PARTS, max_size=8))
    text = parts[0] if parts else ""
    for part in parts[1:]:
        text += draw(st.sampled_from(["^", "^OR", "^NQ", "^^"])) + part
    return text


@settings(max_examples=200, deadline=None)
@given(text=_plausible_queries(), table=st.sampled_from(["incident", "task"]))
def test_plausible_queries_compile_and_run_or_are_encoded_query_errors(
        store: Store, text: str, table: str) -> None:
    _run(store, text, table)
