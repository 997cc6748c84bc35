"""ServiceNow encoded queries (the Table API's sysparm_query), parsed into data.

    active=true^priority<=2^ORcategory=network^NQcaller_id.email=a@b.com^ORDERBYDESCnumber

`^` separates parts. A part is a condition (ANDed to the group), `OR<condition>` (ORed to
the condition before it), `NQ<condition>` (starts a new group; groups are ORed),
`ORDERBY<field>` / `ORDERBYDESC<field>`, or the end marker `EQ`. So `a=1^ORb=2^c=3` is
(a=1 OR b=2) AND c=3. This module only parses; query_sql.py turns the result into SQL.

Like ServiceNow, a part that is not a condition is ignored rather than refused: it is kept in
EncodedQuery.ignored so a caller can log it. EncodedQueryError is kept for text that cannot
be evaluated at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_QUERY_BYTES = 32 * 1024

# Canonical operator for every spelling we evaluate; the short forms map to their long names.
SUPPORTED: dict[str, str] = {
    "=": "=", "!=": "!=", "<": "<", ">": ">", "<=": "<=", ">=": ">=",
    "LIKE": "LIKE", "NOT LIKE": "NOT LIKE", "STARTSWITH": "STARTSWITH", "ENDSWITH": "ENDSWITH",
    "IN": "IN", "NOT IN": "NOT IN", "ISEMPTY": "ISEMPTY", "ISNOTEMPTY": "ISNOTEMPTY",
    "ANYTHING": "ANYTHING", "EMPTYSTRING": "EMPTYSTRING", "BETWEEN": "BETWEEN",
    "SAMEAS": "SAMEAS", "NSAMEAS": "NSAMEAS",
    "*": "LIKE", "!*": "NOT LIKE", "%": "ENDSWITH",
}
# Real ServiceNow operators we do not evaluate. They are still recognised, so that the field
# name ends where they begin and the part is reported as ignored with its true field.
UNSUPPORTED = (
    "ON", "NOTON", "DATEPART", "RELATIVEGT", "RELATIVELT", "RELATIVEGE", "RELATIVELE",
    "RELATIVEEE", "MORETHAN", "LESSTHAN", "GT_FIELD", "LT_FIELD", "GT_OR_EQUALS_FIELD",
    "LT_OR_EQUALS_FIELD", "VALCHANGES", "CHANGESFROM", "CHANGESTO", "DYNAMIC", "INSTANCEOF",
    "SINCE", "NOTSINCE", "MATCH_PAT", "MATCH_RGX", "NOTLIKE", "HASATTACHMENT",
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
class EncodedQuery:
    # ^NQ groups (ORed) -> terms (ANDed) -> alternative conditions (ORed by ^OR)
    groups: tuple[tuple[tuple[Condition, ...], ...], ...] = ()
    order_by: tuple[OrderBy, ...] = ()
    ignored: tuple[str, ...] = ()  # parts ServiceNow would silently skip

    def encode(self) -> str:
        """Back to canonical text: parse(q.encode()) == q for queries without ignored parts."""
        groups = ["^".join("^OR".join(c.encode() for c in term) for term in group)
                  for group in self.groups]
        parts = ["^NQ".join(groups)] if groups else []
        parts += [("ORDERBYDESC" if o.descending else "ORDERBY") + o.field for o in self.order_by]
        return "^".join(parts)


def parse_condition(part: str) -> Condition | None:
    """One condition, or None when the part is not one ServiceNow could evaluate.

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
        operator = SUPPORTED.get(keyword)
        if operator is None:
            return None
        return Condition(field, operator, part[i + len(keyword):])
    return None  # a bare field name, no operator


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

    groups: list[list[list[Condition]]] = [[]]
    order_by: list[OrderBy] = []
    ignored: list[str] = []
    for part in text.split("^"):
        if part in ("", "EQ"):
            continue
        if part.startswith("ORDERBY"):
            descending = part.startswith("ORDERBYDESC")
            field = part[len("ORDERBYDESC" if descending else "ORDERBY"):].strip()
            if _FIELD_RE.fullmatch(field):
                order_by.append(OrderBy(field, descending))
            else:
                ignored.append(part)
            continue
        body, alternative = part, False
        if part.startswith("NQ"):
            groups.append([])
            body = part[2:]
        elif part.startswith("OR"):
            body, alternative = part[2:], True
        if not body:
            continue
        condition = parse_condition(body)
        if condition is None:
            # Ignored as if absent: a following ^OR binds to the condition before this part.
            ignored.append(part)
            continue
        group = groups[-1]
        if alternative and group:
            group[-1].append(condition)
        else:
            group.append([condition])
    # A group with no condition at all (`a=1^NQ`) is no group, not a match-everything group.
    return EncodedQuery(
        groups=tuple(tuple(tuple(term) for term in g) for g in groups if g),
        order_by=tuple(order_by), ignored=tuple(ignored))
