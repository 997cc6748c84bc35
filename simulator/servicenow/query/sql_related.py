"""SQL for the encoded-query parts that reach another table: JOIN and RLQUERY (parsed in encoded_query.py).

Both compile to an uncorrelated subquery on the other table's root, restricted to that table's
classes, so they run once per query rather than once per row:

    JOIN:     caller_id != '' AND caller_id IN (SELECT sys_id FROM sys_user WHERE <class> AND <condition>)
    RLQUERY:  sys_id IN (SELECT user FROM sys_user_has_role WHERE ... GROUP BY user HAVING COUNT(*) >= ?)

An RLQUERY whose comparison holds for a count of 0 (`=0`, `<2`) must also match rows nothing
references, so it is written the other way round: sys_id NOT IN (... HAVING NOT (COUNT(*) < ?)).
Columns inside a subquery are unqualified: SQLite resolves them to the subquery's own table first.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bpsn.simulator.servicenow.records.dictionary import Dictionary
from bpsn.simulator.servicenow.records.store import Where, quote

from .encoded_query import (
    Condition,
    EncodedQuery,
    EncodedQueryError,
    JoinCondition,
    RelatedListCondition,
)

_COMPARE: dict[str, Callable[[int, int], bool]] = {
    "=": operator.eq, "!=": operator.ne, "<": operator.lt, ">": operator.gt, "<=": operator.le, ">=": operator.ge}


@dataclass(frozen=True)
class QueryContext:
    now: float  # epoch seconds, from the injected clock, so gs.daysAgo() follows virtual time
    user_sys_id: str = ""  # what gs.getUserID() answers
    # may the caller read this table? Asked for the tables JOIN, RLQUERY and dot-walks reach; None: not asked
    can_read: Callable[[str], bool] | None = None
    # may the caller use this field of this table with this operator (field and query ACLs)? The
    # operator is an encoded-query operator, "ORDERBY", or "" for a field only read (a dot-walk's
    # hop, a JOIN's key). Asked for every field a query names; None: not asked
    can_query: Callable[[str, str, str], bool] | None = None


class SecretFieldQuery(EncodedQueryError):
    """A condition names a password field; nobody may query one."""


class TableNotReadable(SecretFieldQuery):
    """A JOIN, RLQUERY or dot-walk reaches a table the caller may not read: answered 403 like a secret field."""


class FieldNotQueryable(TableNotReadable):
    """A condition or ORDERBY names a field the caller may not read, or uses an operator its query
    ACLs (query_match / query_range) refuse: answered 403 like a secret field."""


def check_field(ctx: QueryContext, table: str, field: str, operator: str, part: str) -> None:
    if ctx.can_query is not None and not ctx.can_query(table, field, operator):
        raise FieldNotQueryable(f"{part[:200]}: the caller may not query {table}.{field}"
                                + (f" with {operator}" if operator else ""))


def _other_table(name: str, dictionary: Dictionary, ctx: QueryContext, part: str) -> None:
    if not dictionary.exists(name):
        raise EncodedQueryError(f"{part}: Invalid table {name}")
    if ctx.can_read is not None and not ctx.can_read(name):
        raise TableNotReadable(f"{part}: the caller may not read {name}")


def _class_filter(dictionary: Dictionary, table: str) -> Where:
    root = dictionary.root(table)
    classes = dictionary.descendants(table)
    if table == root and len(classes) == len(dictionary.descendants(root)):
        return Where()
    return Where(f"sys_class_name IN ({','.join('?' * len(classes))})", list(classes))


def _subquery(column: str, table: str, dictionary: Dictionary, wheres: list[Where], tail: str = "") -> Where:
    parts = [w for w in (_class_filter(dictionary, table), *wheres) if w.sql]
    where = " AND ".join(f"({w.sql})" for w in parts) or "1"
    params: list[Any] = [p for w in parts for p in w.params]
    return Where(f"SELECT {quote(column)} FROM {quote(dictionary.root(table))} WHERE {where}{tail}", params)


def join_where(j: JoinCondition, table: str, dictionary: Dictionary, ctx: QueryContext,
               condition: Callable[[Condition, str, Dictionary, QueryContext], Where | None]) -> Where:
    part = f"JOIN{j.table}.{j.field}={j.join_table}.{j.join_field}"
    # pysnc names the queried table; a table of the same hierarchy names the same rows' columns
    if not dictionary.exists(j.table) or dictionary.root(j.table) != dictionary.root(table):
        raise EncodedQueryError(f"{part}: {j.table} is not the queried table {table}")
    fdef = dictionary.fields(table).get(j.field)
    if fdef is None:
        raise EncodedQueryError(f"{part}: {table} has no field {j.field}")
    _other_table(j.join_table, dictionary, ctx, part)
    other = dictionary.fields(j.join_table).get(j.join_field)
    if other is None:
        raise EncodedQueryError(f"{part}: {j.join_table} has no field {j.join_field}")
    if fdef.secret or other.secret:
        raise SecretFieldQuery(f"{part}: password fields cannot be queried")
    check_field(ctx, table, fdef.name, "=", part)  # a join matches its keys for equality
    check_field(ctx, j.join_table, other.name, "=", part)
    inner = condition(j.condition, j.join_table, dictionary, ctx) if j.condition else None
    sub = _subquery(other.name, j.join_table, dictionary, [inner] if inner is not None else [])
    col = quote(fdef.name)
    return Where(f"{col} != '' AND {col} IN ({sub.sql})", sub.params)


def related_list_where(rl: RelatedListCondition, table: str, dictionary: Dictionary, ctx: QueryContext,
                       compile_where: Callable[[EncodedQuery, str, Dictionary, QueryContext], Where]) -> Where:
    part = f"RLQUERY{rl.table}.{rl.field}"
    _other_table(rl.table, dictionary, ctx, part)
    fdef = dictionary.fields(rl.table).get(rl.field)
    if fdef is None:
        raise EncodedQueryError(f"{part}: {rl.table} has no field {rl.field}")
    if fdef.secret:
        raise SecretFieldQuery(f"{part}: password fields cannot be queried")
    check_field(ctx, rl.table, fdef.name, "=", part)
    inner = compile_where(rl.query, rl.table, dictionary, ctx) if rl.query else Where()
    col = quote(fdef.name)
    wheres = [Where(f"{col} != ''"), inner]
    if _COMPARE[rl.operator](0, rl.count):  # rows nothing references match too
        sub = _subquery(fdef.name, rl.table, dictionary, wheres,
                        f" GROUP BY {col} HAVING NOT (COUNT(*) {rl.operator} ?)")
        return Where(f"sys_id NOT IN ({sub.sql})", [*sub.params, rl.count])
    sub = _subquery(fdef.name, rl.table, dictionary, wheres, f" GROUP BY {col} HAVING COUNT(*) {rl.operator} ?")
    return Where(f"sys_id IN ({sub.sql})", [*sub.params, rl.count])
