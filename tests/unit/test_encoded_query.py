"""The encoded-query parser: operators, precedence of ^OR / ^NQ, ordering, ignored parts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpsn.simulator.servicenow.query.encoded_query import (
    MAX_QUERY_BYTES,
    SUPPORTED,
    Condition,
    EncodedQuery,
    EncodedQueryError,
    OrderBy,
    parse,
    parse_condition,
)


def only(text: str) -> Condition:
    """The single condition of a one-condition query."""
    q = parse(text)
    assert q.ignored == ()
    assert len(q.groups) == 1 and len(q.groups[0]) == 1 and len(q.groups[0][0]) == 1, q
    return q.groups[0][0][0]


@pytest.mark.parametrize("text, field, operator, value", [
    ("active=true", "active", "=", "true"),
    ("state!=6", "state", "!=", "6"),
    ("short_descriptionLIKEdisk full", "short_description", "LIKE", "disk full"),
    ("short_descriptionNOT LIKEdisk", "short_description", "NOT LIKE", "disk"),
    ("nameSTARTSWITHweb", "name", "STARTSWITH", "web"),
    ("nameENDSWITH01", "name", "ENDSWITH", "01"),
    ("stateIN1,2,3", "state", "IN", "1,2,3"),
    ("stateNOT IN6,7", "state", "NOT IN", "6,7"),
    ("assigned_toISEMPTY", "assigned_to", "ISEMPTY", ""),
    ("assigned_toISNOTEMPTY", "assigned_to", "ISNOTEMPTY", ""),
    ("assigned_toANYTHING", "assigned_to", "ANYTHING", ""),
    ("close_notesEMPTYSTRING", "close_notes", "EMPTYSTRING", ""),
    ("priority<3", "priority", "<", "3"),
    ("priority>3", "priority", ">", "3"),
    ("priority<=3", "priority", "<=", "3"),
    ("priority>=3", "priority", ">=", "3"),
    ("priorityBETWEEN1@3", "priority", "BETWEEN", "1@3"),
    ("opened_bySAMEASassigned_to", "opened_by", "SAMEAS", "assigned_to"),
    ("opened_byNSAMEASassigned_to", "opened_by", "NSAMEAS", "assigned_to"),
    # ServiceNow's short forms, normalised to the long operator
    ("short_description*disk", "short_description", "LIKE", "disk"),
    ("short_description!*disk", "short_description", "NOT LIKE", "disk"),
    ("name%01", "name", "ENDSWITH", "01"),
])
def test_each_operator(text: str, field: str, operator: str, value: str) -> None:
    assert only(text) == Condition(field, operator, value)


def test_every_supported_spelling_is_covered() -> None:
    for spelling, canonical in SUPPORTED.items():
        assert only(f"number{spelling}x") == Condition("number", canonical, "x")


def test_value_is_verbatim_after_the_first_operator() -> None:
    assert only("a=b=c") == Condition("a", "=", "b=c")
    assert only("a==b") == Condition("a", "=", "=b")
    assert only("descriptionLIKEx IN y") == Condition("description", "LIKE", "x IN y")
    assert only("email=a@b.com") == Condition("email", "=", "a@b.com")
    assert only("a= 1 ") == Condition("a", "=", " 1 ")
    assert only("a=") == Condition("a", "=", "")


def test_longest_operator_wins() -> None:
    assert only("a<=1").operator == "<="
    assert only("a>=1").operator == ">="
    assert only("a!=1").operator == "!="
    assert only("a!*1").operator == "NOT LIKE"
    assert only("aNOT IN1").operator == "NOT IN"
    assert only("aISNOTEMPTY").operator == "ISNOTEMPTY"
    assert only("aNSAMEASb") == Condition("a", "NSAMEAS", "b")


def test_uppercase_field_names_do_not_hide_operators() -> None:
    # The field ends where the first operator begins, not at the first uppercase letter.
    assert only("INDEX=1") == Condition("INDEX", "=", "1")
    assert only("u_index_noLIKEx") == Condition("u_index_no", "LIKE", "x")
    assert only("stateINDEX") == Condition("state", "IN", "DEX")


def test_dot_walked_fields() -> None:
    assert only("caller_id.email=a@b.com") == Condition("caller_id.email", "=", "a@b.com")
    assert only("assignment_group.manager.emailLIKEx").field == "assignment_group.manager.email"


def test_whitespace_between_field_and_operator_is_tolerated() -> None:
    c = only("sys_created_on BETWEENjavascript:gs.now()@javascript:gs.now()")
    assert c == Condition("sys_created_on", "BETWEEN", "javascript:gs.now()@javascript:gs.now()")


def test_and_or_precedence() -> None:
    q = parse("a=1^ORb=2^c=3")
    assert q.groups == (((Condition("a", "=", "1"), Condition("b", "=", "2")),
                         (Condition("c", "=", "3"),)),)
    q = parse("a=1^b=2^ORc=3^ORd=4")
    assert [len(t) for t in q.groups[0]] == [1, 3]


def test_new_query_groups() -> None:
    q = parse("a=1^ORb=2^NQc=3^d=4^NQe=5")
    assert len(q.groups) == 3
    assert q.groups[1] == ((Condition("c", "=", "3"),), (Condition("d", "=", "4"),))
    assert q.groups[2] == ((Condition("e", "=", "5"),),)


def test_or_at_the_start_of_a_group_is_a_plain_term() -> None:
    assert parse("^ORa=1").groups == (((Condition("a", "=", "1"),),),)
    q = parse("a=1^NQ^ORb=2")
    assert q.groups[1] == ((Condition("b", "=", "2"),),)


def test_empty_groups_vanish() -> None:
    assert parse("a=1^NQ").groups == (((Condition("a", "=", "1"),),),)
    assert parse("^NQ^NQa=1^NQ^NQ").groups == (((Condition("a", "=", "1"),),),)
    assert parse("a=1^NQbogus").groups == (((Condition("a", "=", "1"),),),)


def test_order_by() -> None:
    q = parse("ORDERBYpriority^active=true^ORDERBYDESCnumber^ORDERBYcaller_id.name")
    assert q.order_by == (OrderBy("priority", False), OrderBy("number", True),
                          OrderBy("caller_id.name", False))
    assert q.groups == (((Condition("active", "=", "true"),),),)


def test_order_by_does_not_break_an_or_chain() -> None:
    q = parse("a=1^ORDERBYx^ORb=2")
    assert q.groups == (((Condition("a", "=", "1"), Condition("b", "=", "2")),),)
    assert q.order_by == (OrderBy("x"),)


def test_bad_order_by_is_ignored() -> None:
    q = parse("ORDERBY^ORDERBYDESC^ORDERBYna me")
    assert q.order_by == () and q.ignored == ("ORDERBY", "ORDERBYDESC", "ORDERBYna me")


def test_empty_parts_and_end_marker() -> None:
    expected = (((Condition("a", "=", "1"),), (Condition("b", "=", "2"),)),)
    assert parse("a=1^^b=2^").groups == expected
    assert parse("^a=1^b=2^EQ").groups == expected
    assert parse("a=1^EQ^b=2").groups == expected
    assert parse("") == EncodedQuery()
    assert parse("^^^EQ^") == EncodedQuery()


@pytest.mark.parametrize("part", [
    "active",  # no operator
    "=1",  # no field
    "LIKEx",  # an operator at the start is not a field
    "na me=1",  # a space inside the field
    "a-b=1",  # a character no field has
    "opened_atONToday@javascript:gs.beginningOfToday()@javascript:gs.endOfToday()",
    "opened_atDATEPARTMonday@javascript:gs.datePart('dayofweek','monday','EE')",
    "priorityGT_FIELDurgency",
    "sys_updated_onRELATIVEGT@hour@ago@1",
    "stateVALCHANGES",
    "GROUPBYcategory",
    " ",
    "ü=1",
])
def test_invalid_parts_are_ignored_not_refused(part: str) -> None:
    q = parse(f"a=1^{part}^ORb=2")
    assert q.ignored == (part,)
    # An ignored part is as if absent: the ^OR still binds to a=1.
    assert q.groups == (((Condition("a", "=", "1"), Condition("b", "=", "2")),),)


def test_unsupported_operator_is_found_before_a_later_supported_one() -> None:
    assert parse_condition("opened_atONToday=x") is None


def test_too_long_query_is_an_error() -> None:
    parse("a=" + "x" * (MAX_QUERY_BYTES - 2))
    with pytest.raises(EncodedQueryError, match="bytes"):
        parse("a=" + "x" * (MAX_QUERY_BYTES - 1))
    with pytest.raises(EncodedQueryError):
        parse("a=" + "€" * (MAX_QUERY_BYTES // 3 + 1))  # 3 bytes each in UTF-8


def test_non_text_is_an_error() -> None:
    with pytest.raises(EncodedQueryError):
        parse("a=\ud800")  # a lone surrogate cannot reach SQLite
    with pytest.raises(EncodedQueryError):
        parse(None)  # type: ignore[arg-type]


def test_error_is_a_value_error() -> None:
    assert issubclass(EncodedQueryError, ValueError)


def test_weird_input() -> None:
    for text in ["^", "^OR", "^NQ", "OR", "NQ", "EQ", "^^^^", "\x00", "a=\x00^OR\n=", "🙂=🙂",
                 "a=1^OR^ORb=2", "ORDERBYDESCORDERBY", "a\tLIKEb", "a\t=1"]:
        assert isinstance(parse(text), EncodedQuery)
    assert only("a\t=1") == Condition("a", "=", "1")


# --- properties -------------------------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(st.text())
def test_any_text_parses_or_raises_encoded_query_error(text: str) -> None:
    try:
        q = parse(text)
    except EncodedQueryError:
        return
    assert all(g and all(t for t in g) for g in q.groups)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ab=^ORNQDEBYSCLIK<>!*%.@ ", max_size=60))
def test_operator_soup_parses(text: str) -> None:
    q = parse(text)
    for group in q.groups:
        for term in group:
            for c in term:
                assert c.field and c.operator in SUPPORTED.values()


# Lowercase field names, as on a real instance: no operator keyword can hide inside them.
_fields = st.lists(st.text("abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=8),
                   min_size=1, max_size=3).map(".".join)
_values = st.text(st.characters(exclude_characters="^", exclude_categories=("Cs",)), max_size=12)
# The syntax itself cannot tell `a<` + `=b` from `a<=` + `b` (nor on a real instance), so
# values that start with '=' after < or > have no round trip.
_conditions = st.builds(Condition, _fields, st.sampled_from(sorted(set(SUPPORTED.values()))),
                        _values).filter(lambda c: not (c.operator in ("<", ">") and c.value.startswith("=")))
_queries = st.builds(
    EncodedQuery,
    st.lists(st.lists(st.lists(_conditions, min_size=1, max_size=3).map(tuple),
                      min_size=1, max_size=3).map(tuple), max_size=3).map(tuple),
    st.lists(st.builds(OrderBy, _fields, st.booleans()), max_size=2).map(tuple),
)


@settings(max_examples=200, deadline=None)
@given(_queries)
def test_encode_parse_round_trip(q: EncodedQuery) -> None:
    assert parse(q.encode()) == q
