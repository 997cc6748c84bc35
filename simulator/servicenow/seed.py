"""The demo instance: users and roles, the ACLs as records, a few groups, configuration items."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .security.acl_records import seed_acl_records
from .settings import ServiceNowSettings

Insert = Callable[[str, dict[str, Any]], dict[str, Any]]  # table, values -> the record as stored

ROLES = {
    "admin": ("Administrator: every role", ""),
    "itil": ("Fulfiller: create and update ITSM records", ""),
    "itil_admin": ("ITIL administrator", "itil"),
    "x_bip_panda_user": ("BigPanda User: read-only access to BigPanda tables", ""),
    "x_bip_panda.admin": ("BigPanda Admin: full access to BigPanda tables (no read implied)", ""),
}

# sys_ids that are the same on every instance, and that clients hard-code. The seed's insert keeps
# a sys_id given in the record (backend WRITABLE_SYS_FIELDS), so these records carry them.
WELL_KNOWN_USERS = {
    # the `admin` user: ServiceNow/PySNC test/test_snc_api_query.py gets it by this sys_id
    # (test_get_true, test_get_field_access: user_name == 'admin'); instance captures show it
    # as opened_by/closed_by of admin-made records
    "admin": "6816f79cc0a8016401c5a33be04be441",
}
WELL_KNOWN_ROLES = {
    # the `admin` role: ServiceNow/PySNC test/test_snc_api_query_advanced.py (test_join_query_2
    # joins sys_user_has_role on role=<this>, "demo data has a lot of admins"); ServiceNow's
    # support articles link sys_user_role.do?sys_id=<this> as the admin role
    "admin": "2831a114c611228501d4ea6c309d626d",
}

GROUPS = [
    ("Network Operations", "netops@example.com"),
    ("Database Administration", "dba@example.com"),
    ("Service Desk", "servicedesk@example.com"),
    ("Application Support", "appsupport@example.com"),
    ("Linux Platform", "linux@example.com"),
]

CIS = [
    ("cmdb_ci_linux_server", "web-prod-01", "10.0.1.11"),
    ("cmdb_ci_linux_server", "web-prod-02", "10.0.1.12"),
    ("cmdb_ci_linux_server", "db-prod-01", "10.0.2.21"),
    ("cmdb_ci_win_server", "ad-prod-01", "10.0.3.31"),
    ("cmdb_ci_appl", "checkout-service", ""),
    ("cmdb_ci_service", "Online Store", ""),
]


def seed_demo_instance(insert: Insert, s: ServiceNowSettings) -> None:
    role_ids = {name: insert("sys_user_role", {"name": name, "description": desc, "contains_roles": contains,
                                               **_sys_id(WELL_KNOWN_ROLES, name)})["sys_id"]
                for name, (desc, contains) in ROLES.items()}
    users = [
        ("admin", "System Administrator", "admin@example.com", s.admin_password, ["admin"]),
        (s.integration_user, "BigPanda Integration", "bigpanda.integration@example.com",
         s.integration_password, ["itil", "x_bip_panda_user"]),
        (s.analyst_user, "NOC Analyst", "noc.analyst@example.com", s.analyst_password, ["x_bip_panda_user"]),
        # changes x_bip_panda_config (`bpsn config`): the admin role does not imply the read role
        ("bigpanda.admin", "BigPanda Admin", "bigpanda.admin@example.com", "bigpanda-admin",
         ["x_bip_panda.admin", "x_bip_panda_user"]),
        ("alice.ops", "Alice Ops", "alice.ops@example.com", "", ["itil"]),
        ("bob.dba", "Bob Dba", "bob.dba@example.com", "", ["itil"]),
    ]
    for user_name, name, email, password, roles in users:
        first, _, last = name.partition(" ")
        user = insert("sys_user", {
            "user_name": user_name, "name": name, "first_name": first, "last_name": last,
            "email": email, "user_password": password, "active": "true",
            **_sys_id(WELL_KNOWN_USERS, user_name)})
        for role in roles:
            insert("sys_user_has_role", {"user": user["sys_id"], "role": role_ids[role]})
    seed_acl_records(insert)  # acls.yaml and x_bip_panda_acls.yaml, as sys_security_acl records
    group_ids = {}
    for name, email in GROUPS:
        group_ids[name] = insert("sys_user_group", {"name": name, "email": email})["sys_id"]
    for table, name, ip in CIS:
        insert(table, {"name": name, "ip_address": ip, "host_name": name,
                                      "support_group": group_ids["Linux Platform"]})


def _sys_id(known: dict[str, str], name: str) -> dict[str, str]:
    return {"sys_id": known[name]} if name in known else {}
