"""ServiceNow encoded queries (the Table API's sysparm_query), parsed into data.

    active=true^priority<=2^ORcategory=network^NQcaller_id.email=a@b.com^ORDERBYDESCnumber

`^` separates parts. A part is a condition (ANDed to the group), `OR<condition>` (ORed to
the condition before it), `NQ<condition>` (starts a new group; groups are ORed),
`ORDERBY<field>` / `ORDERBYDESC<field>`, or the end marker `EQ`. So `a=1^ORb=2^c=3` is
(a=1 OR b=2) AND c=3. This module only parses; sql.py turns the result into SQL.

Two parts reach other tables (parsed at the end of this module; sql_related.py compiles them):
`JOIN<table>.<field>=<other>.<other_field>!<condition>` (pysnc's add_join_query) and
`RLQUERY<other>.<field>,<op><count>[,m2m]^<conditions>^ENDRLQUERY` (pysnc's add_rl_query).

Like ServiceNow, a part that is not a condition is ignored rather than refused: it is kept in
EncodedQuery.ignored so a caller can log it. EncodedQueryError is kept for text that cannot
be evaluated at all. A part written with a real ServiceNow operator that the simulator does not
evaluate (ON, DATEPART, GT_FIELD, ...) is listed in `ignored` and also in `unsupported`: the
compiler refuses such a query with a 400, since ignoring it would silently match every row.

Limits (answered 400 "Invalid query" in ServiceNow's envelope; a real instance publishes none,
but times such queries out): at most MAX_QUERY_BYTES of text, MAX_CONDITIONS conditions, and
MAX_DOT_WALK_HOPS dot-walk hops summed over the distinct dot-walked conditions (each hop is a
join run for every row; 129 eight-hop walks held the event loop for a second on 3,000 rows).
Repeating a condition costs nothing (the SQL keeps it once), so it is not counted twice.
Real clients stay far below: pysnow and the ansible collection build a handful of conditions,
and a list of values goes in one `fieldIN...` condition.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

MAX_QUERY_BYTES = 32 * 1024
MAX_CONDITIONS = 4000
MAX_DOT_WALK_HOPS = 100

# Canonical operator for every spelling we evaluate; the short forms map to their long names.
SUPPORTED: dict[str, str] = {
    "=": "=", "!=": "!=", "<": "<", ">": ">", "<=": "<=", ">=": ">=",
    "LIKE": "LIKE", "NOT LIKE": "NOT LIKE", "STARTSWITH": "STARTSWITH", "ENDSWITH": "ENDSWITH",
    "IN": "IN", "NOT IN": "NOT IN", "ISEMPTY": "ISEMPTY", "ISNOTEMPTY": "ISNOTEMPTY",
    "ANYTHING": "ANYTHING", "EMPTYSTRING": "EMPTYSTRING", "BETWEEN": "BETWEEN",
    "SAMEAS": "SAMEAS", "NSAMEAS": "NSAMEAS", "INSTANCEOF": "INSTANCEOF",
    "*": "LIKE", "!*": "NOT LIKE", "%": "ENDSWITH",
    # GlideRecord.addQuery's spellings, which pysnc writes into the encoded query verbatim
    "CONTAINS": "LIKE", "DOES NOT CONTAIN": "NOT LIKE",
}
# Real ServiceNow operators we do not evaluate. They are still recognised, so that the field
# name ends where they begin and the part is reported as ignored with its true field.
UNSUPPORTED = (
    "ON", "NOTON", "DATEPART", "RELATIVEGT", "RELATIVELT", "RELATIVEGE", "RELATIVELE",
    "RELATIVEEE", "MORETHAN", "LESSTHAN", "GT_FIELD", "LT_FIELD", "GT_OR_EQUALS_FIELD",
    "LT_OR_EQUALS_FIELD", "LE_OR_EQUALS_FIELD", "VALCHANGES", "CHANGESFROM", "CHANGESTO",
    "DYNAMIC", "SINCE", "NOTSINCE", "MATCH_PAT", "MATCH_RGX", "NOTLIKE", "HASATTACHMENT",
    "IN_HIERARCHY",
)
# Longest first, so `<=` wins over `<`, `NOT LIKE` over `NOTON`-style prefixes, `INSTANCEOF`
# over `IN`, `ISNOTEMPTY` over nothing shorter.
_KEYWORDS: tuple[str, ...] = tuple(sorted({*SUPPORTED, *UNSUPPORTED}, key=len, reverse=True))
_FIELD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.")
_FIELD_RE = re.compile(r"[A-Za-z0-9_.]+")


class EncodedQueryError(ValueError):
    """A query that cannot be evaluated; the message is fit for a 400 answer."""


@dataclass(frozen=True)
class Condition:
    field: str  # may be dot-walked: caller_id.email
    operator: str  # canonical name, one of SUPPORTED's values
    value: str

    def encode(self) -> str:
        return f"{self.field}{self.operator}{self.value}"


@dataclass(frozen=True)
class OrderBy:
    field: str
    descending: bool = False


@dataclass(frozen=True)
class JoinCondition:
    """JOIN<table>.<field>=<join_table>.<join_field>!<condition>: rows whose `field` equals the
    `join_field` of some `join_table` row matching `condition` (None: any row)."""
    table: str
    field: str
    join_table: str
    join_field: str
    condition: Condition | None = None

    def encode(self) -> str:
        cond = self.condition.encode() if self.condition else ""
        return f"JOIN{self.table}.{self.field}={self.join_table}.{self.join_field}!{cond}"


@dataclass(frozen=True)
class RelatedListCondition:
    """RLQUERY<table>.<field>,<op><count>[,m2m]^...^ENDRLQUERY: rows referenced (through
    `table.field`) by a number of matching `table` rows that satisfies `<op><count>`."""
    table: str
    field: str
    operator: str  # = != < > <= >=
    count: int
    m2m: bool = False  # how the instance reads dot-walks inside; the simulator reads them alike
    query: EncodedQuery | None = None  # conditions on `table`; None: every row

    def encode(self) -> str:
        inner = self.query.encode() if self.query and self.query.groups else ""
        return (f"RLQUERY{self.table}.{self.field},{self.operator}{self.count}"
                f"{',m2m' if self.m2m else ''}{'^' + inner if inner else ''}^ENDRLQUERY")


Term = Condition | JoinCondition | RelatedListCondition


@dataclass(frozen=True)
class EncodedQuery:
    # ^NQ groups (ORed) -> terms (ANDed) -> alternative conditions (ORed by ^OR)
    groups: tuple[tuple[tuple[Term, ...], ...], ...] = ()
    order_by: tuple[OrderBy, ...] = ()
    ignored: tuple[str, ...] = ()  # parts ServiceNow would silently skip
    unsupported: tuple[str, ...] = ()  # real operators the simulator cannot evaluate (also in ignored)

    def encode(self) -> str:
        """Back to canonical text: parse(q.encode()) == q for queries without ignored parts."""
        groups = ["^".join("^OR".join(c.encode() for c in term) for term in group)
                  for group in self.groups]
        parts = ["^NQ".join(groups)] if groups else []
        parts += [("ORDERBYDESC" if o.descending else "ORDERBY") + o.field for o in self.order_by]
        return "^".join(parts)


def _split(part: str) -> tuple[str, str, str] | None:
    """(field, operator keyword as written, value), or None when no field/operator is found.

    The field name runs up to the first position where a known operator begins. Field names
    are `[A-Za-z0-9_.]+`, but uppercase operators are written glued to them
    (`short_descriptionLIKEdisk`, `stateIN1,2`), so the end of the field cannot be found by
    character class alone: we scan, and at every position after the first ask whether an
    operator starts there. ServiceNow field names are lowercase (u_ fields included), so an
    uppercase keyword reliably marks the operator; a field such as `INDEX` still works because
    no keyword begins inside it. Whitespace between field and operator is tolerated
    (`sys_created_on BETWEEN...`); the value is everything after the operator, verbatim.
    """
    if not part or part[0] not in _FIELD_CHARS:
        return None
    i = 1
    while i < len(part):
        keyword = _keyword_at(part, i)
        if keyword is None and part[i] in " \t":
            j = i
            while j < len(part) and part[j] in " \t":
                j += 1
            keyword = _keyword_at(part, j)
            if keyword is None:
                return None
            field, i = part[:i], j
        elif keyword is not None:
            field = part[:i]
        elif part[i] in _FIELD_CHARS:
            i += 1
            continue
        else:
            return None  # a character no field name or operator can contain
        return field, keyword, part[i + len(keyword):]
    return None  # a bare field name, no operator


def parse_condition(part: str) -> Condition | None:
    """One condition, or None when the part is not one ServiceNow could evaluate (see _split)."""
    split = _split(part)
    if split is None or split[1] not in SUPPORTED:
        return None
    return Condition(split[0], SUPPORTED[split[1]], split[2])


def _keyword_at(text: str, i: int) -> str | None:
    for keyword in _KEYWORDS:
        if text.startswith(keyword, i):
            return keyword
    return None


def parse(text: str) -> EncodedQuery:
    if not isinstance(text, str):
        raise EncodedQueryError("the encoded query must be text")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise EncodedQueryError("the encoded query is not valid Unicode text") from None
    if size > MAX_QUERY_BYTES:
        raise EncodedQueryError(f"the encoded query is {size} bytes, more than {MAX_QUERY_BYTES}")
    query = _parse_parts(iter(text.split("^")), nested=False)
    _check_size(query)
    return query


def _parse_parts(parts: Iterator[str], *, nested: bool) -> EncodedQuery:
    """The parts up to the end, or (nested: inside an RLQUERY) up to ENDRLQUERY."""
    groups: list[list[list[Term]]] = [[]]
    order_by: list[OrderBy] = []
    ignored: list[str] = []
    unsupported: list[str] = []
    for part in parts:
        if part in ("", "EQ"):
            continue
        if part == "ENDRLQUERY":
            if nested:
                break
            raise EncodedQueryError("ENDRLQUERY without an RLQUERY before it")
        if part.startswith("ORDERBY"):
            descending = part.startswith("ORDERBYDESC")
            field = part[len("ORDERBYDESC" if descending else "ORDERBY"):].strip()
            if _FIELD_RE.fullmatch(field) and not nested:
                order_by.append(OrderBy(field, descending))
            else:
                ignored.append(part)
            continue
        body, alternative = part, False
        if part.startswith("NQ"):
            body = part[2:]
            # ^NQRLQUERY is read as ^RLQUERY on an instance: it starts no group
            if not body.startswith("RLQUERY"):
                groups.append([])
        elif part.startswith("OR"):
            body, alternative = part[2:], True
        if not body:
            continue
        term: Term | None
        if body.startswith("RLQUERY"):
            if nested:
                raise EncodedQueryError("an RLQUERY cannot be nested in another RLQUERY")
            groups[-1].append([parse_related_list(body, parts)])  # ^ORRLQUERY too is ANDed
            continue
        term = parse_join(body) if body.startswith("JOIN") else parse_condition(body)
        if term is None:
            # Ignored as if absent: a following ^OR binds to the condition before this part.
            ignored.append(part)
            split = _split(body)
            if split is not None and split[1] not in SUPPORTED:
                unsupported.append(part)
            continue
        group = groups[-1]
        if alternative and group:
            group[-1].append(term)
        else:
            group.append([term])
    # A group with no condition at all (`a=1^NQ`) is no group, not a match-everything group.
    return EncodedQuery(
        groups=tuple(tuple(tuple(term) for term in g) for g in groups if g),
        order_by=tuple(order_by), ignored=tuple(ignored), unsupported=tuple(unsupported))


def _leaves(term: Term) -> Iterator[tuple[Term, int]]:
    """Each condition in a term with the hops it walks; a JOIN or an RLQUERY is one hop (one subquery)."""
    if isinstance(term, Condition):
        yield term, term.field.count(".")
    elif isinstance(term, JoinCondition):
        yield term, 1
        if term.condition is not None:
            yield from _leaves(term.condition)
    else:
        yield term, 1
        for group in term.query.groups if term.query else ():
            for alternatives in group:
                for t in alternatives:
                    yield from _leaves(t)


def _check_size(query: EncodedQuery) -> None:
    leaves = [leaf for group in query.groups for term in group for t in term for leaf in _leaves(t)]
    conditions = [t for t, _ in leaves]
    if len(conditions) > MAX_CONDITIONS:
        raise EncodedQueryError(f"the encoded query has {len(conditions)} conditions; at most "
                                f"{MAX_CONDITIONS} are allowed")
    hops = sum(dict(leaves).values())  # distinct conditions only: a repeat costs nothing
    if hops > MAX_DOT_WALK_HOPS:
        raise EncodedQueryError(f"the encoded query dot-walks {hops} hops in all; at most {MAX_DOT_WALK_HOPS} "
                                "are allowed (hops summed over its distinct dot-walked conditions)")


# --- JOIN and RLQUERY, as pysnc writes them -------------------------------------------------
# The two encoded-query parts that reach another table: JOIN and RLQUERY, parsed.
# 
# Their syntax, as pysnc's query builder (pysnc/query.py, JoinQuery and RLQuery) writes it and as
# the instance reads it:
# 
# * `JOIN<table>.<field>=<join_table>.<join_field>!<condition>`: pysnc writes
#   `JOINsys_user.sys_id=sys_user_group.manager!active=true` (its own test suite,
#   test_snc_api_query_advanced.py); the `!` is written even with no condition. The condition is
#   the rest of that `^`-part: a later `^` part belongs to the main table, as the text says.
#   Extra `!` before the condition are tolerated.
# * `RLQUERY<table>.<field>,<op><count>[,m2m]^<conditions>^ENDRLQUERY`: the rows of the queried
#   table that `count` (compared by `op`: = != < > <= >=) rows of `table` reference through
#   `field`, among those matching the conditions. `,m2m` is accepted; ENDRLQUERY may be left out
#   at the end of the text. One RLQUERY may not hold another.
# 
# Malformed headers are a 400 (EncodedQueryError), never ignored: ignoring one would match every row.

_NAME = r"[A-Za-z0-9_]+"
_JOIN = re.compile(rf"JOIN({_NAME})\.({_NAME})=({_NAME})\.({_NAME})!+(.*)", re.DOTALL)
_RLQUERY = re.compile(rf"RLQUERY({_NAME})\.({_NAME}),(<=|>=|!=|=|<|>)(\d{{1,9}})(,m2m)?", re.DOTALL)


def parse_join(body: str) -> JoinCondition:
    m = _JOIN.fullmatch(body)
    if m is None:
        raise EncodedQueryError(f"malformed JOIN {body[:100]!r}: expected "
                                "JOIN<table>.<field>=<join_table>.<join_field>!<condition>")
    table, field, join_table, join_field, rest = m.groups()
    condition = None
    if rest:
        condition = parse_condition(rest)
        if condition is None:  # ignoring it would widen the join to every row of join_table
            raise EncodedQueryError(f"JOIN condition {rest[:100]!r} cannot be evaluated")
    return JoinCondition(table, field, join_table, join_field, condition)


def parse_related_list(body: str, parts: Iterator[str]) -> RelatedListCondition:
    """The RLQUERY header in `body`; its conditions are the next parts, up to ENDRLQUERY."""
    m = _RLQUERY.fullmatch(body)
    if m is None:
        raise EncodedQueryError(f"malformed RLQUERY {body[:100]!r}: expected "
                                "RLQUERY<table>.<field>,<operator><count>[,m2m]")
    table, field, operator, count, m2m = m.groups()
    inner = _parse_parts(parts, nested=True)
    return RelatedListCondition(table, field, operator, int(count), bool(m2m),
                                inner if inner.groups or inner.unsupported else None)
