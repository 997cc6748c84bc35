"""The Aggregate API's statistics, computed in SQL on the store (GlideAggregate's job).

One query: the table's records (class filter + sysparm_query / name=value filters, compiled by
the backend) grouped by the group-by columns, with COUNT(*), AVG / SUM over the values CAST to
REAL, MIN / MAX (numeric fields CAST to REAL, others compared as text, which orders dates).
Empty values are NULL to the aggregates, as on the instance's database. HAVING and ORDER BY are
applied by an outer query on the inner one's aliases. Every number goes back as a string.

Only dictionary fields of the table are used; unknown, dot-walked, journal and password fields
in the *_fields, group-by, having and order-by parameters are ignored (our choice, like the Table
API ignoring invalid fields). A malformed having clause is a 400. A query on a password field
is refused (403) by the backend's compile, as in the Table API.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bpsn.simulator.servicenow.backend import ServiceNowBackend
from bpsn.simulator.servicenow.errors import bad_request, query_denied
from bpsn.simulator.servicenow.records.business_rules import Actor
from bpsn.simulator.servicenow.records.dictionary import FieldDef
from bpsn.simulator.servicenow.records.store import Where, quote

AGGREGATES = ("avg", "min", "max", "sum")
HAVING_OPS = ("=", "!=", ">", ">=", "<", "<=")
_NUMBER = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*")


@dataclass
class StatsRequest:
    count: bool = False
    fields: dict[str, list[str]] = field(default_factory=dict)  # "avg" -> [field, ...]
    group_by: list[str] = field(default_factory=list)
    having: str = ""
    order_by: str = ""
    display_value: str = "false"  # true | false | all


def split_list(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


class _Query:
    """Builds the SELECT: every expression gets an alias a0, a1, ... in the inner query."""

    def __init__(self) -> None:
        self.exprs: list[str] = []

    def alias(self, expr: str) -> str:
        if expr not in self.exprs:
            self.exprs.append(expr)
        return f"a{self.exprs.index(expr)}"


def _expr(agg: str, fdef: FieldDef | None) -> str:
    if agg == "count" or fdef is None:
        return "COUNT(*)"
    col = quote(fdef.name)
    number = f"CAST(NULLIF({col}, '') AS REAL)"
    if agg == "avg":
        return f"AVG({number})"
    if agg == "sum":
        return f"TOTAL({number})"
    text = f"NULLIF({col}, '')"  # min / max of dates and strings compare as text
    return f"{agg.upper()}({number if fdef.numeric else text})"


def _number(value: Any, places: int | None = None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if places is not None:
        return f"{float(value):.{places}f}"
    f = float(value)
    return str(int(f)) if f.is_integer() and abs(f) < 1e15 else repr(f)


class Aggregator:
    def __init__(self, backend: ServiceNowBackend) -> None:
        self.b = backend

    def usable(self, table: str, name: str) -> FieldDef | None:
        fdef = self.b.dictionary.field(table, name)
        return fdef if fdef is not None and fdef.type != "journal" and not fdef.secret else None

    def stats(self, table: str, req: StatsRequest, actor: Actor, encoded: str,
              filters: dict[str, str]) -> dict[str, Any]:
        self.b.check_table(table)
        self.b.require(table, "read", actor)  # 403 Insufficient rights to query records
        where, _ = self.b.compile(table, encoded, actor, filters)
        self._check_fields(table, req, actor)
        q = _Query()
        groups = [f for f in dict.fromkeys(req.group_by) if self.usable(table, f)]
        group_aliases = [q.alias(quote(f)) for f in groups]
        wanted: list[tuple[str, str, str]] = []  # (aggregate, field, alias) shown in stats
        if req.count:
            wanted.append(("count", "", q.alias("COUNT(*)")))
        for agg in AGGREGATES:
            for name in dict.fromkeys(req.fields.get(agg, [])):
                fdef = self.usable(table, name)
                if fdef is not None:
                    wanted.append((agg, name, q.alias(_expr(agg, fdef))))
        having_sql, having_params = self._having(table, req.having, q, wanted)
        order_sql = self._order(table, req.order_by, groups, group_aliases, q)
        rows = self._run(table, where, q, group_aliases, having_sql, having_params, order_sql)
        if not groups:
            return {"result": {"stats": self._stats(rows[0], wanted) if rows else {}}}
        return {"result": [{"stats": self._stats(row, wanted),
                            "groupby_fields": self._groupby(table, groups, group_aliases, row, req.display_value,
                                                            actor)}
                           for row in rows]}

    def _check_fields(self, table: str, req: StatsRequest, actor: Actor) -> None:
        """Every field a group-by, aggregate, having or order-by names must pass its read ACL (a
        group lists values; MIN, MAX and AVG tell where they lie): else 403, as for a query on
        such a field (KB0744425), never a silent answer without it. Tokens of
        having / order-by items that are not fields (COUNT, operators, numbers) are skipped."""
        fields = self.b.dictionary.fields(table)
        named = [*req.group_by, *(f for names in req.fields.values() for f in names),
                 *(t for item in split_list(req.having) + split_list(req.order_by) for t in item.split("^"))]
        for name in dict.fromkeys(named):
            if name in fields and not self.b.acls.may_query(table, name, "ORDERBY", actor.roles):
                raise query_denied()

    # --- SQL --------------------------------------------------------------------------------------
    def _run(self, table: str, where: Where, q: _Query, group_aliases: list[str], having_sql: str,
             having_params: list[object], order_sql: str) -> list[dict[str, Any]]:
        store = self.b.store
        parts, params = [], []
        for w in (store.class_filter(table), where):
            if w.sql:
                parts.append(f"({w.sql})")
                params.extend(w.params)
        select = ", ".join(f"{e} AS a{i}" for i, e in enumerate(q.exprs or ["COUNT(*)"]))
        inner = f"SELECT {select} FROM {quote(self.b.dictionary.root(table))}"
        if parts:
            inner += " WHERE " + " AND ".join(parts)
        if group_aliases:
            inner += " GROUP BY " + ", ".join(group_aliases)
        sql = f"SELECT * FROM ({inner})"
        if having_sql:
            sql += f" WHERE {having_sql}"
        if order_sql:
            sql += f" ORDER BY {order_sql}"
        return [dict(r) for r in store.execute(sql, params + having_params)]

    def _having(self, table: str, text: str, q: _Query,
                wanted: list[tuple[str, str, str]]) -> tuple[str, list[object]]:
        """`aggregate^field^operator^value[,...]`; the aggregate also joins the stats, since the
        API lets a having clause name the aggregate to perform."""
        terms, params = [], []
        for clause in split_list(text):
            parts = clause.split("^")
            if len(parts) != 4 or parts[0].lower() not in ("count", *AGGREGATES) \
                    or parts[2] not in HAVING_OPS or not _NUMBER.fullmatch(parts[3]):
                raise bad_request("Invalid sysparm_having", f"{clause!r}: expected aggregate^field^operator^number, "
                                  f"aggregate one of count, {', '.join(AGGREGATES)}; operator one of "
                                  f"{' '.join(HAVING_OPS)}")
            agg, name, op, value = parts[0].lower(), parts[1], parts[2], float(parts[3])
            fdef = self.usable(table, name)
            if fdef is None and agg != "count":
                continue  # an unknown field: ignored
            alias = q.alias(_expr(agg, fdef))
            shown = ("count", "") if agg == "count" else (agg, name)
            if all((a, f) != shown for a, f, _ in wanted):
                wanted.append((*shown, alias))
            terms.append(f"CAST({alias} AS REAL) {op} ?")
            params.append(value)
        return " AND ".join(terms), params

    def _order(self, table: str, text: str, groups: list[str], group_aliases: list[str], q: _Query) -> str:
        """`COUNT`, `AVG^field`, `field` (a group-by field), each optionally `^DESC`; groups
        ascending by their values otherwise, and as the tie-break."""
        terms: list[str] = []
        by_value = [f"CAST(NULLIF({alias}, '') AS REAL)" if (fdef := self.usable(table, name)) and fdef.numeric
                    else alias for name, alias in zip(groups, group_aliases, strict=True)]
        for item in split_list(text):
            parts = item.split("^")
            direction = "ASC"
            if len(parts) > 1 and parts[-1].upper() in ("ASC", "DESC"):
                direction = parts.pop().upper()
            head = parts[0].lower()
            if head == "count":
                expr = q.alias("COUNT(*)")
            elif head in AGGREGATES and len(parts) > 1 and (fdef := self.usable(table, parts[1])):
                expr = q.alias(_expr(head, fdef))
            elif parts[0] in groups:
                expr = by_value[groups.index(parts[0])]
            else:
                continue
            terms.append(f"{expr} {direction}")
        return ", ".join(terms + by_value)

    # --- rendering ----------------------------------------------------------------------------------
    @staticmethod
    def _stats(row: dict[str, Any], wanted: list[tuple[str, str, str]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for agg, name, alias in wanted:
            if agg == "count":
                out["count"] = str(int(row[alias] or 0))
            else:
                out.setdefault(agg, {})[name] = _number(row[alias], 4 if agg == "avg" else None)
        return out

    def _groupby(self, table: str, groups: list[str], aliases: list[str], row: dict[str, Any],
                 display_value: str, actor: Actor) -> list[dict[str, str]]:
        out = []
        for name, alias in zip(groups, aliases, strict=True):
            raw = "" if row[alias] is None else str(row[alias])
            entry = {"value": raw, "field": name}
            if display_value in ("true", "all"):
                shown = self._display(table, name, raw, actor)
                if display_value == "true":
                    entry["value"] = shown
                else:
                    entry["display_value"] = shown
            out.append(entry)
        return out

    def _display(self, table: str, name: str, raw: str, actor: Actor) -> str:
        fdef = self.b.dictionary.field(table, name)
        if fdef is None or not raw:
            return raw
        if fdef.type == "reference" and fdef.reference:
            shown = self.b.dictionary.display_field(fdef.reference)
            if not self.b.acls.allowed(fdef.reference, "read", actor.roles) \
                    or self.b.acls.read_access(fdef.reference, shown, actor.roles) != "read":
                return ""  # as the Table API shows a reference into a table or field the caller may not read
            target = self.b.lookup(fdef.reference, raw)
            return target.get(shown, "") if target else ""
        return fdef.choice_label(raw)
