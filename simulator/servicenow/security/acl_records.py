"""ACLs as the instance keeps them: records of sys_security_acl.

The shipped rules (acls.yaml, x_bip_panda_acls.yaml) are seeded as records, one per ACL; from
then on the records are the truth: the backend rebuilds its Acls from them after a reset, a
snapshot load, a state file and any change to the table (an admin may add, change or deactivate
an ACL through the Table API, and it holds at once). Only admin may read or change the table
(the '*' rule of acls.yaml), as on an instance, where ACLs need security_admin.

Columns: name (`table` or `table.field`, '*' for every field), operation, active, sys_scope
(`x_bip_panda` for the app's 41), u_roles (role sets: ',' between sets, '+' inside one; empty:
any signed-in user), u_masked (a refused field read shows the mask), description.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, cast

from bpsn.simulator.servicenow.errors import bad_request
from bpsn.simulator.servicenow.records.dictionary import Dictionary

from .acl import OPERATIONS, AclRule, Acls, Operation, shipped_rules

TABLE = "sys_security_acl"


def to_record(rule: AclRule) -> dict[str, str]:
    return {"name": rule.name, "operation": rule.operation, "type": "record", "active": "true",
            "admin_overrides": "true", "sys_scope": rule.scope, "u_roles": rule.roles_text(),
            "u_masked": "true" if rule.masked else "false",
            "description": f"{rule.operation} {rule.name}: " + (rule.roles_text() or "any signed-in user")}


def from_record(row: dict[str, str]) -> AclRule | None:
    """The rule a record holds; None for an inactive record or an operation we do not know."""
    if row.get("active", "true") != "true" or row.get("operation") not in OPERATIONS:
        return None
    table, dot, field = row["name"].partition(".")
    roles = tuple(frozenset(part.strip() for part in entry.split("+") if part.strip())
                  for entry in row.get("u_roles", "").split(",") if entry.strip())
    return AclRule(table, cast(Operation, row["operation"]), roles, field if dot else None,
                   row.get("u_masked") == "true", row.get("sys_scope") or "global")


def seed_acl_records(insert: Callable[[str, dict[str, Any]], Any]) -> None:
    for rule in shipped_rules():
        insert(TABLE, to_record(rule))


def acls_from_records(dictionary: Dictionary, rows: Iterable[dict[str, str]]) -> Acls:
    return Acls(dictionary, [rule for row in rows if (rule := from_record(row)) is not None])


def check_acl_record(dictionary: Dictionary, table: str, record: dict[str, str]) -> None:
    """A sys_security_acl record about to be written must make sense, or nothing is written
    (400 "Invalid ACL"): an ACL that silently never applies would look like protection."""
    if table != TABLE:
        return
    name, operation = record.get("name", ""), record.get("operation", "")
    target, dot, field = name.partition(".")
    problem = ""
    if operation not in OPERATIONS:
        problem = f"operation {operation!r} is not one of {', '.join(OPERATIONS)}"
    elif "*" not in target and not dictionary.exists(target):
        problem = f"name {name!r}: no table {target!r}"
    elif dot and field != "*" and "*" not in target and dictionary.field(target, field) is None:
        problem = f"name {name!r}: {target} has no field {field!r}"
    elif operation.startswith("query_") and not dot:
        problem = f"a {operation} ACL names a field: {target}.<field> or {target}.*"
    if problem:
        raise bad_request("Invalid ACL", problem)
