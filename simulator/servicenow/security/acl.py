"""ACLs as data (acls.yaml, x_bip_panda_acls.yaml): may this caller read, create, write, delete or
query a table, a record's field, or a field with a given operator?

ServiceNow's model, as far as the simulator needs it:
- A table ACL (`incident`) governs the table's records; a table without its own rule inherits its
  nearest ancestor's, then the longest matching '*' pattern (`x_bip_panda_*`).
- A field ACL (`incident.short_description`, or `incident.*` for every field) governs one field of a
  record the table ACL already allows: the field itself, then `*`, each looked up through the
  ancestry. No field rule means the table ACL decides alone.
- Query ACLs (`query_match`, `query_range`; Washington DC and later) govern which operators may
  filter on a field: `query_match` the "safe" ones that fetch named records (QUERY_MATCH_OPERATORS),
  `query_range` the rest (ranges, STARTSWITH, CONTAINS ...). No query rule for a field means the
  default star.star rule: allowed. Querying a field always needs reading it too. Sorting on a
  field (ORDERBY), grouping or aggregating it, or walking through it needs reading it only (our
  choice: with role-only ACLs a readable field is readable on every row the caller gets, so its
  order tells nothing new; an unreadable one is refused).
- Several rules on the same object: passing any one of them is enough. A rule lists role sets;
  the caller needs every role of one set (`itil+x_bip_panda_user`, what an instance writes as an
  ACL script `gs.hasRole('itil') && gs.hasRole('x_bip_panda_user')`); no roles: any signed-in user.
- `admin` passes every rule. x_bip_panda.admin does NOT imply x_bip_panda_user (the seed warns).

A field read rule may be `masked`: a caller it refuses sees a set value as "********" (and "" when
empty) instead of the field being left out: the seed's "credentials masked" for x_bip_panda_user.
"""

from __future__ import annotations

import fnmatch
import functools
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

from bpsn.simulator.common.yaml_text import load_yaml
from bpsn.simulator.servicenow.records.dictionary import Dictionary
from bpsn.simulator.servicenow.records.render import RenderOptions

Operation = Literal["read", "create", "write", "delete", "query_match", "query_range"]
OPERATIONS: tuple[Operation, ...] = ("read", "create", "write", "delete", "query_match", "query_range")
ReadAccess = Literal["read", "masked", "denied"]
# ServiceNow's query_match operators (Query ACLs, Washington DC): they fetch named records only
QUERY_MATCH_OPERATORS = frozenset({"=", "!=", "IN", "NOT IN", "SAMEAS", "NSAMEAS", "ANYTHING",
                                   "EMPTYSTRING", "ISEMPTY", "ISNOTEMPTY"})
ACL_FILES = ("acls.yaml", "x_bip_panda_acls.yaml")


def query_operation(operator: str) -> Operation:
    """The query ACL operation an encoded-query operator (or "ORDERBY") needs."""
    return "query_match" if operator in QUERY_MATCH_OPERATORS else "query_range"


@dataclass(frozen=True)
class AclRule:
    table: str  # a table name or a '*' pattern
    operation: Operation
    roles: tuple[frozenset[str], ...] = ()  # any one set, each role of it; (): any signed-in user
    field: str | None = None  # None: the table's records; "*": every field; else one field
    masked: bool = False  # a refused read shows the mask instead of leaving the field out
    scope: str = "global"  # "x_bip_panda": one of the app's dedicated ACLs (the seed's 41)

    @property
    def name(self) -> str:
        """The ACL's name as an instance writes it: `table` or `table.field`."""
        return self.table if self.field is None else f"{self.table}.{self.field}"

    def allows(self, roles: frozenset[str]) -> bool:
        return not self.roles or any(needed <= roles for needed in self.roles)

    def roles_text(self) -> str:
        return ", ".join(sorted("+".join(sorted(s)) for s in self.roles))


def rules_from_spec(spec: dict[str, Any], scope: str) -> list[AclRule]:
    """One rule per operation of a YAML entry: {table, field?, operations, roles, masked?}."""
    table = str(spec["table"])
    roles = tuple(frozenset(str(r).split("+")) for r in spec.get("roles") or [])
    field = spec.get("field")
    rules = []
    for op in spec["operations"]:
        if op not in OPERATIONS:
            raise ValueError(f"ACL on {table}: unknown operation {op!r} (one of {', '.join(OPERATIONS)})")
        if field is None and op in ("query_match", "query_range"):
            raise ValueError(f"ACL on {table}: a {op} rule names a field (or '*')")
        rules.append(AclRule(table, op, roles, None if field is None else str(field),
                             bool(spec.get("masked", False)), scope))
    return rules


def rules_from_yaml_text(*texts: str) -> list[AclRule]:
    """The rules of ACL files: `scope` (default global) and `rules`, a list of specs."""
    rules = []
    for text in texts:
        data = load_yaml(text) or {}
        scope = str(data.get("scope", "global"))
        for spec in data.get("rules", []):
            rules.extend(rules_from_spec(spec, scope))
    return rules


def shipped_rules() -> list[AclRule]:
    """The rules the package ships (ACL_FILES), in file order: a new list each call (Acls.add
    appends to its own), of rules read once per process (frozen; a backend asks twice per start)."""
    return list(_shipped_rules())


@functools.cache
def _shipped_rules() -> tuple[AclRule, ...]:
    return tuple(rules_from_yaml_text(*(resources.files(__package__).joinpath(name).read_text()
                                        for name in ACL_FILES)))


class Acls:
    def __init__(self, dictionary: Dictionary, rules: list[AclRule]) -> None:
        self.dictionary = dictionary
        self.rules = rules
        self._cache: dict[tuple[str, str, str | None], list[AclRule] | None] = {}
        # read_access is asked for every field of every record rendered: answered once per role set
        self._read: dict[tuple[str, str, frozenset[str]], ReadAccess] = {}
        self._full_options: dict[tuple[Any, ...], RenderOptions] = {}  # an admin's, by base URL and options

    @classmethod
    def from_yaml_text(cls, dictionary: Dictionary, *texts: str) -> Acls:
        return cls(dictionary, rules_from_yaml_text(*texts))

    @classmethod
    def default(cls, dictionary: Dictionary) -> Acls:
        return cls(dictionary, shipped_rules())

    def add(self, rule: AclRule) -> None:
        self.rules.append(rule)
        self._cache.clear()
        self._read.clear()

    # --- lookup ------------------------------------------------------------------------------
    def _applicable(self, table: str, operation: str, field: str | None = None) -> list[AclRule] | None:
        """The rules that decide, most specific first wins; None when no rule names the object
        (for a field: the table ACL decides alone; for a query: allowed)."""
        key = (table, operation, field)
        if key not in self._cache:
            ops = [r for r in self.rules if r.operation == operation]
            chosen: list[AclRule] | None = None
            for wanted in ((None,) if field is None else (field, "*")):
                for name in self.dictionary.ancestry(table):  # the table, then its ancestors
                    found = [r for r in ops if r.table == name and r.field == wanted]
                    if found:
                        chosen = found
                        break
                if chosen:
                    break
                patterns = [r for r in ops if r.field == wanted and "*" in r.table
                            and fnmatch.fnmatchcase(table, r.table)]
                if patterns:
                    longest = max(len(r.table) for r in patterns)
                    chosen = [r for r in patterns if len(r.table) == longest]
                    break
            self._cache[key] = chosen
        return self._cache[key]

    # --- questions ---------------------------------------------------------------------------
    def allowed(self, table: str, operation: Operation, roles: frozenset[str]) -> bool:
        """The table ACL: may these roles read / create / write / delete the table's records?"""
        if "admin" in roles:
            return True
        return any(r.allows(roles) for r in self._applicable(table, operation) or [])

    def field_allowed(self, table: str, field: str, operation: Operation, roles: frozenset[str]) -> bool:
        """The field ACL alone (the caller has passed the table ACL already)."""
        if "admin" in roles:
            return True
        rules = self._applicable(table, operation, field)
        return rules is None or any(r.allows(roles) for r in rules)

    def read_access(self, table: str, field: str, roles: frozenset[str]) -> ReadAccess:
        """How a field of a readable record shows: its value, the mask, or not at all."""
        key = (table, field, roles)
        found = self._read.get(key)
        if found is None:
            if self.field_allowed(table, field, "read", roles):
                found = "read"
            else:
                found = "masked" if any(r.masked for r in self._applicable(table, "read", field) or []) else "denied"
            self._read[key] = found
        return found

    def may_query(self, table: str, field: str, operator: str, roles: frozenset[str]) -> bool:
        """May a condition with this operator use this field? Reading it, and the query ACL of the
        operator ("" or "ORDERBY": a sort, a group, a dot-walk's hop: reading only)."""
        if self.read_access(table, field, roles) != "read":
            return False
        return operator in ("", "ORDERBY") or self.field_allowed(table, field, query_operation(operator), roles)

    def may_write(self, roles: frozenset[str], table: str, field: str | None = None, *,
                  creating: bool = False) -> bool:
        """GlideRecordSecure's check for one write: the table ACL (create or write) and, when a
        field is named, its field ACL. The Import Set API's transforms ask this for their target."""
        operation: Operation = "create" if creating else "write"
        if not self.allowed(table, operation, roles):
            return False
        return field is None or self.field_allowed(table, field, operation, roles)

    def writable(self, table: str, values: dict[str, str], roles: frozenset[str], *,
                 creating: bool) -> dict[str, str]:
        """The values whose fields these roles may write; the others are dropped, not written,
        as GlideRecordSecure ignores a field its caller may not write."""
        if "admin" in roles:  # field_allowed says yes to every field
            return dict(values)
        operation: Operation = "create" if creating else "write"
        return {name: value for name, value in values.items()
                if name == "sys_id" or self.field_allowed(table, name, operation, roles)}

    def render_options(self, table: str, row: dict[str, str], roles: frozenset[str], base_url: str,
                       **opts: Any) -> RenderOptions | None:
        """How a record shows to these roles (records.render), or None when they may not read it
        at all (a record written by a caller who may not read it: x_bip_panda.admin alone)."""
        if "admin" in roles:  # the same immutable options for every record: made once
            try:
                key = (base_url, *opts.items())
                known = self._full_options.get(key)
            except TypeError:  # an option that is not hashable
                return RenderOptions(base_url=base_url, **opts)
            if known is None:
                if len(self._full_options) >= 1024:  # sysparm_fields lists are the caller's
                    self._full_options.clear()
                known = self._full_options[key] = RenderOptions(base_url=base_url, **opts)
            return known
        if not self.allowed(row.get("sys_class_name") or table, "read", roles):
            return None
        return RenderOptions(base_url=base_url, can_read=lambda other: self.allowed(other, "read", roles),
                             field_access=lambda t, f: self.read_access(t, f, roles), **opts)
