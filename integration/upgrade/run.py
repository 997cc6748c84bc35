"""`bpsn upgrade`'s work: the three fix scripts, then the pre-upgrade checklist on the result.

Everything goes over the instance's Table API (instance.py), as the rest of the core does.
"""

from __future__ import annotations

import httpx

from bpsn.integration.config.crypto import ConfigCipher
from bpsn.integration.config.models import validate_organization
from bpsn.integration.config.versioned import ConfigStore

from . import legacy
from .fix_scripts import clean_up, migrate, populate_defaults
from .instance import Instance, UpgradeSettings, open_instance
from .report import CheckItem, UpgradeReport

BIGPANDA_PERMISSIONS = ("Autoshare", "Incident Enrichment", "Root Cause Changes",
                        "Incident Actions (All Environments)", "Manage Environments")


async def release_check(instance: Instance) -> CheckItem:
    rows = await instance.rows(legacy.PROPERTY_TABLE, f"name={legacy.BUILD_PROPERTY}", ["value"])
    build = (rows[0].get("value") or "") if rows else ""
    name = "platform release"
    if not build:
        return CheckItem(name, None, f"the instance does not say ({legacy.BUILD_PROPERTY} is not set)",
                         f"confirm the instance runs {legacy.MINIMUM_RELEASE} or later")
    supported = legacy.release_supported(build)
    if supported is None:
        return CheckItem(name, None, f"{build!r} is not a release we know",
                         f"confirm it is {legacy.MINIMUM_RELEASE} or later")
    if supported:
        return CheckItem(name, True, f"{build} ({legacy.MINIMUM_RELEASE} or later)")
    return CheckItem(name, False, f"{build}: the v3 app needs {legacy.MINIMUM_RELEASE} or later",
                     f"upgrade the instance to {legacy.MINIMUM_RELEASE} before installing the v3 app")


async def roles_check(instance: Instance, user_name: str) -> CheckItem:
    name = f"roles of the service account {user_name}"
    users = await instance.rows("sys_user", f"user_name={user_name}", ["sys_id"])
    if not users:
        return CheckItem(name, False, "no such user", f"create {user_name} with the roles "
                                                      f"{' and '.join(legacy.SERVICE_ACCOUNT_ROLES)}")
    grants = await instance.rows("sys_user_has_role", f"user={users[0]['sys_id']}", ["role"])
    ids = ",".join(g["role"] for g in grants if g.get("role"))
    held = {r["name"] for r in await instance.rows("sys_user_role", f"sys_idIN{ids}", ["name"])} if ids else set()
    missing = [r for r in legacy.SERVICE_ACCOUNT_ROLES if r not in held]
    if not missing:
        return CheckItem(name, True, f"has {' and '.join(legacy.SERVICE_ACCOUNT_ROLES)}")
    return CheckItem(name, False, f"lacks {', '.join(missing)} (the v3 app no longer grants itil; without it no "
                                  "incident is created or updated)", f"assign {', '.join(missing)} to {user_name}")


def permissions_check() -> CheckItem:
    return CheckItem("BigPanda permissions", None,
                     "the integration's BigPanda user needs " + ", ".join(BIGPANDA_PERMISSIONS)
                     + "; ServiceNow cannot see BigPanda's roles",
                     "confirm them with your BigPanda account team; `bpsn selftest` names a missing one")


async def upgrade(instance: Instance, store: ConfigStore, org: str) -> UpgradeReport:
    validate_organization(org)
    report = UpgradeReport(org)
    migration, changes = await migrate(instance, store, org)
    report.scripts.append(migration)
    report.scripts.append(await clean_up(instance, store, org, changes))
    current = await store.current(org)
    saved_now = any(i.kind == "configuration" and i.outcome == "moved" for i in migration.items)
    report.scripts.append(await populate_defaults(instance, current.config if saved_now and current else None,
                                                  set(changes)))
    report.version = current.version if current else None
    report.checklist = [await release_check(instance),
                        await roles_check(instance, current.config.integration_user if current else ""),
                        permissions_check()]
    return report


async def run_upgrade(org: str, settings: UpgradeSettings | None = None, *, cipher: ConfigCipher | None = None,
                      transport: httpx.AsyncBaseTransport | None = None) -> UpgradeReport:
    """Upgrade the instance at BPSN_SERVICENOW_URL as BPSN_UPGRADE_USER; the key is BPSN_CONFIG_KEY."""
    async with open_instance(settings, transport=transport) as client:
        return await upgrade(Instance(client), ConfigStore(client, cipher or ConfigCipher.from_env()), org)
