"""Compile a parsed encoded query into a SQLite condition for the Store.

Every value is a bound parameter; identifiers come only from the dictionary and are quoted.
Storage facts this relies on: every column is TEXT NOT NULL DEFAULT '' ('' is the empty
value), dates are UTC 'YYYY-MM-DD HH:MM:SS' (text order is time order), integers are decimal
strings (compared through CAST), references hold the target's sys_id.

Password fields (one-way and password2) cannot be queried at all, dot-walked or not, nor
compared with SAMEAS: a condition on one is refused (SecretFieldQuery, answered 403 like a query
on a field the caller may not read), since LIKE or STARTSWITH on a stored hash or ciphertext
would read it back one character at a time. ORDERBY on one is ignored.

JOIN and RLQUERY parts (sql_related.py) read another table: their conditions go through the
same _condition as the main table's (so the password rule and the dot-walk limits hold there
too), and when QueryContext.can_read is given, a table it refuses is answered like a password
field (403), as a query on a field the caller may not read is.

Dot-walks honour the read ACL of every table they pass through (QueryContext.can_read, asked
for each hop's target): a condition such as `u_incident.short_descriptionSTARTSWITHx`, a SAMEAS /
NSAMEAS operand, or an ORDERBY / ORDERBYDESC field that walks through a table the caller may not
read is refused with TableNotReadable (403 "Insufficient rights to query records", the answer
ServiceNow documents for "Field(s) present in the query do not have permission to be read"),
never matched nor silently dropped, so the answer says nothing about rows behind that table.
This holds even where the part would otherwise be ignored (ANYTHING, a SAMEAS across a
dot-walk, an ORDERBY on a dot-walk, which the simulator does not sort by): the refusal depends
only on the query text and the caller's roles, not on any row. A hop through an unknown or
non-reference field stops the walk first (the condition is ignored, as before).

Field and query ACLs (QueryContext.can_query, asked for every field a query names, with its
operator): a condition on a field the caller may not read (or reads masked), or with an operator
its query_match / query_range ACLs refuse, a hop column it may not read, a JOIN or RLQUERY key, a
SAMEAS operand or an ORDERBY field it may not read, is refused with FieldNotQueryable (403, as
above). Which operator needs which ACL is security/acl.py's business.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bpsn.simulator.servicenow.records.dictionary import Dictionary, FieldDef
from bpsn.simulator.servicenow.records.store import Order, Where, quote

from .encoded_query import (
    Condition,
    EncodedQuery,
    EncodedQueryError,
    JoinCondition,
    Term,
    parse,
)
from .sql_related import (
    FieldNotQueryable,
    QueryContext,
    SecretFieldQuery,
    TableNotReadable,
    check_field,
    join_where,
    related_list_where,
)

__all__ = ["FieldNotQueryable", "QueryContext", "SecretFieldQuery", "TableNotReadable", "compile_order",
           "compile_text", "compile_where", "resolve_value"]

MAX_DOT_WALK = 8  # hops; each is a nested subquery, and `parent.parent...` never ends
LIKE_PATTERN_LIMIT = 50_000  # SQLite's SQLITE_MAX_LIKE_PATTERN_LENGTH, in bytes
_NUMBER = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*")
_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
_CALL = re.compile(r"\s*gs\.(\w+)\s*\((.*)\)\s*;?\s*", re.DOTALL)
_ARG = re.compile(r"\s*(?:'([^']*)'|\"([^\"]*)\"|([+-]?\d+))\s*")
_JS_PREFIXES = ("javascript:", "javascript&colon;")


def compile_text(text: str, table: str, dictionary: Dictionary,
                 ctx: QueryContext) -> tuple[Where, list[Order]]:
    query = parse(text)
    return compile_where(query, table, dictionary, ctx), compile_order(query, table, dictionary, ctx)


def compile_where(query: EncodedQuery, table: str, dictionary: Dictionary,
                  ctx: QueryContext) -> Where:
    if query.unsupported:  # ignoring it would match every row: refused instead
        raise EncodedQueryError(f"{query.unsupported[0][:100]!r}: this operator is not supported "
                                "by the simulator")
    group_wheres: list[Where] = []
    for group in query.groups:
        terms = []
        for term in group:
            alternatives = [w for c in term
                            if (w := _condition(c, table, dictionary, ctx)) is not None]
            if alternatives:  # a term whose conditions were all ignored is dropped
                terms.append(_join(alternatives, "OR"))
        if not terms:
            return Where()  # a group of ignored conditions matches everything, so the OR does
        group_wheres.append(_join(terms, "AND"))
    return _join(group_wheres, "OR") if group_wheres else Where()


def compile_order(query: EncodedQuery, table: str, dictionary: Dictionary,
                  ctx: QueryContext | None = None) -> list[Order]:
    fields = dictionary.fields(table)
    orders = []
    for o in query.order_by:
        if "." in o.field and ctx is not None:  # not sorted by, but refused through an unreadable table
            _resolve_order(o.field.split("."), table, dictionary, ctx)
        fdef = fields.get(o.field)  # a dot-walked or unknown field is not a column: skipped
        if fdef is not None and ctx is not None:  # a sort says where an unseen value lies
            check_field(ctx, table, fdef.name, "ORDERBY", "ORDERBY" + o.field)
        if fdef is not None and not fdef.secret:
            orders.append(Order(o.field, o.descending, fdef.numeric))
    return orders


def _join(parts: list[Where], op: str) -> Where:
    """Balanced, so a thousand ^OR parts nest log2(n) deep, under SQLite's depth limit of 1000.
    A repeated part is kept once (x OR x is x; x AND x is x): repeats cost no subqueries."""
    unique = {(p.sql, tuple(p.params)): p for p in parts}
    if len(unique) < len(parts):
        parts = list(unique.values())
    if len(parts) == 1:
        return parts[0]
    mid = len(parts) // 2
    left, right = _join(parts[:mid], op), _join(parts[mid:], op)
    return Where(f"({left.sql}) {op} ({right.sql})", left.params + right.params)


def _class_filter(dictionary: Dictionary, table: str, alias: str = "") -> Where:
    # Same rule as Store.class_filter, which needs a Store; compiling needs only the dictionary.
    root = dictionary.root(table)
    classes = dictionary.descendants(table)
    if table == root and len(classes) == len(dictionary.descendants(root)):
        return Where()
    column = f"{alias}.sys_class_name" if alias else "sys_class_name"
    return Where(f"{column} IN ({','.join('?' * len(classes))})", list(classes))


def _condition(c: Term, table: str, dictionary: Dictionary,
               ctx: QueryContext) -> Where | None:
    """SQL for one condition on `table`, or None when ServiceNow would ignore it."""
    if isinstance(c, JoinCondition):
        return join_where(c, table, dictionary, ctx, _condition)
    if not isinstance(c, Condition):
        return related_list_where(c, table, dictionary, ctx, compile_where)
    path = c.field.split(".")
    if len(path) - 1 > MAX_DOT_WALK:
        raise EncodedQueryError(f"{c.field}: dot-walking deeper than {MAX_DOT_WALK} levels")
    resolved = _resolve(path, table, dictionary, ctx, c.operator)
    if resolved is None:
        return None
    hops, fdef = resolved
    if c.operator == "ANYTHING":
        return Where("1")  # even through an empty reference
    if c.operator == "INSTANCEOF":  # the class itself or any class extending it
        classes = dictionary.descendants(c.value) if dictionary.exists(c.value) else []
        where = (Where(f"{quote(fdef.name)} IN ({','.join('?' * len(classes))})", list(classes))
                 if classes else Where("0"))
        return _walk(hops, where, dictionary) if hops else where
    if c.operator in ("SAMEAS", "NSAMEAS"):
        value_path = c.value.split(".")
        operand = (_resolve(value_path, table, dictionary, ctx, c.operator)
                   if len(value_path) - 1 <= MAX_DOT_WALK else None)
        other = operand[1] if operand is not None and not operand[0] else None
        if hops or other is None:  # both sides must be plain columns of the same row
            return None
        return Where(f"{quote(fdef.name)} {'=' if c.operator == 'SAMEAS' else '!='} "
                     f"{quote(other.name)}")
    where = _leaf(fdef, c.operator, c.value, ctx)
    if where is None:
        return None
    return _walk(hops, where, dictionary) if hops else where


def _resolve(path: list[str], table: str, dictionary: Dictionary,
             ctx: QueryContext, operator: str) -> tuple[list[tuple[str, str]], FieldDef] | None:
    """The hops (reference column, table it points to) and the field a path names, or None when
    a hop or the field is unknown (ignored). Raises TableNotReadable for a hop into a table the
    caller may not read, SecretFieldQuery when the field is a password, FieldNotQueryable when
    the caller may not read the field or use `operator` on it (field and query ACLs)."""
    hops = _readable_path(path, table, dictionary, ctx)
    if hops is None:
        return None
    current = hops[-1][1] if hops else table
    fdef = dictionary.fields(current).get(path[-1])
    if fdef is None:
        return None
    if fdef.secret:
        raise SecretFieldQuery(f"{'.'.join(path)}: password fields cannot be queried")
    check_field(ctx, current, fdef.name, operator, ".".join(path))
    return hops, fdef


def _resolve_order(path: list[str], table: str, dictionary: Dictionary, ctx: QueryContext) -> None:
    """An ORDERBY on a dot-walk is not sorted by, but still refused where the caller may not
    read a hop's table or the field, so that its acceptance tells nothing."""
    hops = _readable_path(path, table, dictionary, ctx)
    current = hops[-1][1] if hops else table
    if hops is not None and dictionary.fields(current).get(path[-1]) is not None:
        check_field(ctx, current, path[-1], "ORDERBY", "ORDERBY" + ".".join(path))


def _readable_path(path: list[str], table: str, dictionary: Dictionary,
                   ctx: QueryContext) -> list[tuple[str, str]] | None:
    """The hops of a dot-walk, each target checked with ctx.can_read; None at an unknown hop."""
    hops: list[tuple[str, str]] = []
    current = table
    for name in path[:-1]:
        fdef = dictionary.fields(current).get(name)
        if fdef is None or fdef.type != "reference" or not fdef.reference:
            return None
        if ctx.can_read is not None and not ctx.can_read(fdef.reference):
            raise TableNotReadable(f"{'.'.join(path)[:200]}: the caller may not read {fdef.reference}")
        check_field(ctx, current, name, "", ".".join(path))  # the hop's own column is read too
        hops.append((name, fdef.reference))
        current = fdef.reference
    return hops


def _walk(hops: list[tuple[str, str]], leaf: Where, dictionary: Dictionary) -> Where:
    """caller_id.manager.email=x as one subquery whose hops are a chain of joins:

        caller_id IN (SELECT t0.sys_id FROM sys_user t0 JOIN sys_user t1 ON t1.sys_id = t0.manager
                      WHERE <t0, t1 class filters> AND t1.sys_id IN (SELECT sys_id FROM sys_user WHERE email = ?))

    Why joins, not one nested IN per hop: SQLite's parser stack (100 entries) overflowed at
    about seven nested hops inside a few levels of ^OR/^NQ; a join chain is flat, so the depth
    is the same for one hop or eight, and no query within the limits can reach a 500."""
    last = hops[-1][1]
    tables, filters, params = [], [], []
    for i, (column, target) in enumerate(hops):
        alias = f"t{i}"
        table = f"{quote(dictionary.root(target))} AS {alias}"
        tables.append(table if i == 0 else f"{table} ON {alias}.sys_id = t{i - 1}.{quote(column)}")
        cf = _class_filter(dictionary, target, alias)
        if cf.sql:
            filters.append(cf.sql)
            params += cf.params
    filters.append(f"t{len(hops) - 1}.sys_id IN (SELECT sys_id FROM {quote(dictionary.root(last))} "
                   f"WHERE {leaf.sql})")
    return Where(f"{quote(hops[0][0])} IN (SELECT t0.sys_id FROM {' JOIN '.join(tables)} "
                 f"WHERE {' AND '.join(f'({f})' for f in filters)})", params + leaf.params)


def _leaf(fdef: FieldDef, op: str, raw: str, ctx: QueryContext) -> Where | None:
    col = quote(fdef.name)
    if op in ("ISEMPTY", "EMPTYSTRING"):
        return Where(f"{col} = ''")
    if op == "ISNOTEMPTY":
        return Where(f"{col} != ''")
    if op in ("IN", "NOT IN"):
        if raw.startswith(_JS_PREFIXES):
            items = [resolve_value(raw, ctx)]
        else:
            items = list(dict.fromkeys(raw.split(",")))  # duplicates only cost parameters
        return Where(f"{col} {op} ({','.join('?' * len(items))})", items)
    if op == "BETWEEN":
        ends = raw.split("@")
        if len(ends) != 2:
            return None
        low, high = (_typed(fdef, resolve_value(e, ctx)) for e in ends)
        return _compare(fdef, "BETWEEN", [low, high])
    value = _typed(fdef, resolve_value(raw, ctx))
    if op in ("=", "!="):
        return Where(f"{col} {op} ?", [value])
    if op in ("<", ">", "<=", ">="):
        return _compare(fdef, op, [value])
    patterns = {"LIKE": "%{}%", "NOT LIKE": "%{}%", "STARTSWITH": "{}%", "ENDSWITH": "%{}"}
    if op in patterns:
        pattern = patterns[op].format(re.sub(r"([\\%_])", r"\\\1", value))
        if len(pattern.encode("utf-8")) > LIKE_PATTERN_LIMIT:
            raise EncodedQueryError(f"{fdef.name}{op}: value too long to match")
        # SQLite's LIKE is case-insensitive (ASCII), like ServiceNow's contains.
        like = "NOT LIKE" if op == "NOT LIKE" else "LIKE"
        return Where(f"{col} {like} ? ESCAPE '\\'", [pattern])
    return None  # an operator the parser knows but nothing here evaluates


def _typed(fdef: FieldDef, value: str) -> str:
    # A bare date against a date-time column means its midnight.
    if fdef.type == "glide_date_time" and _DATE_ONLY.fullmatch(value):
        return value + " 00:00:00"
    return value


def _compare(fdef: FieldDef, op: str, values: list[str]) -> Where:
    col = quote(fdef.name)
    rhs = "? AND ?" if op == "BETWEEN" else "?"
    if fdef.numeric:
        if not all(_NUMBER.fullmatch(v) for v in values):
            return Where("0")  # a non-numeric bound on a number field matches nothing
        return Where(f"CAST(NULLIF({col}, '') AS REAL) {op} {rhs}", [float(v) for v in values])
    # An empty value is NULL on a real instance: it is neither before nor after anything.
    return Where(f"{col} != '' AND {col} {op} {rhs}", list(values))


# --- javascript:gs.* value functions ----------------------------------------------------------

def resolve_value(value: str, ctx: QueryContext) -> str:
    """A literal value as is; `javascript:gs.fn(args)` evaluated against ctx (UTC)."""
    for prefix in _JS_PREFIXES:
        if value.startswith(prefix):
            return _call(value[len(prefix):], ctx)
    return value


def _call(script: str, ctx: QueryContext) -> str:
    m = _CALL.fullmatch(script)
    if m is None:
        raise EncodedQueryError(f"unsupported javascript value: {script[:100]!r}")
    name, arg_text = m.group(1), m.group(2)
    fn = _FUNCTIONS.get(name)
    if fn is None:
        raise EncodedQueryError(f"unsupported javascript function gs.{name}()")
    args = _args(arg_text, name)
    try:
        now = datetime.fromtimestamp(ctx.now, UTC).replace(microsecond=0)
        return fn(now, args, ctx)
    except (OverflowError, ValueError, OSError, IndexError) as e:
        raise EncodedQueryError(f"gs.{name}({arg_text[:100]}): {str(e) or 'bad arguments'}") from None


def _args(text: str, name: str) -> list[str]:
    if not text.strip():
        return []
    args = []
    for piece in text.split(","):
        m = _ARG.fullmatch(piece)
        if m is None:
            raise EncodedQueryError(f"gs.{name}(): unsupported argument {piece.strip()[:50]!r}")
        args.append(next(g for g in m.groups() if g is not None))
    return args


def _fmt(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S")


def _day_start(t: datetime) -> datetime:
    return t.replace(hour=0, minute=0, second=0)


def _int(args: list[str]) -> int:
    if len(args) != 1:
        raise ValueError("expected one whole number")
    return int(args[0])


def _date_generate(now: datetime, args: list[str], ctx: QueryContext) -> str:
    if len(args) != 2:
        raise ValueError("expected a date and a time")
    time = {"start": "00:00:00", "end": "23:59:59"}.get(args[1], args[1])
    return _fmt(datetime.strptime(f"{args[0]} {time}", "%Y-%m-%d %H:%M:%S"))


def _no_args(fn: Callable[[datetime], str]) -> Callable[[datetime, list[str], QueryContext], str]:
    def call(now: datetime, args: list[str], ctx: QueryContext) -> str:
        if args:
            raise ValueError("takes no arguments")
        return fn(now)
    return call


def _user_id(now: datetime, args: list[str], ctx: QueryContext) -> str:
    if args:
        raise ValueError("takes no arguments")
    return ctx.user_sys_id


_DAY = timedelta(days=1)
_END = timedelta(hours=23, minutes=59, seconds=59)
_FUNCTIONS: dict[str, Callable[[datetime, list[str], QueryContext], str]] = {
    "dateGenerate": _date_generate,
    "daysAgo": lambda now, a, c: _fmt(now - _int(a) * _DAY),
    "daysAgoStart": lambda now, a, c: _fmt(_day_start(now - _int(a) * _DAY)),
    "daysAgoEnd": lambda now, a, c: _fmt(_day_start(now - _int(a) * _DAY) + _END),
    "hoursAgo": lambda now, a, c: _fmt(now - timedelta(hours=_int(a))),
    "minutesAgo": lambda now, a, c: _fmt(now - timedelta(minutes=_int(a))),
    "beginningOfToday": _no_args(lambda now: _fmt(_day_start(now))),
    "endOfToday": _no_args(lambda now: _fmt(_day_start(now) + _END)),
    "beginningOfYesterday": _no_args(lambda now: _fmt(_day_start(now) - _DAY)),
    "endOfYesterday": _no_args(lambda now: _fmt(_day_start(now) - _DAY + _END)),
    "nowDateTime": _no_args(_fmt),
    "now": _no_args(lambda now: now.strftime("%Y-%m-%d")),
    "getUserID": _user_id,
}
