"""The seed's three fix scripts, run in order: migration, artefact clean-up, default population.

Each one looks before it writes and writes only what differs, so a second run changes nothing:

- **migration**: the `x_bip_panda.*` system properties become configuration version 1 of the
  organisation (credentials decrypted from basic property encryption and re-encrypted by the
  config store, our Password2 stand-in); the legacy transform map's customisations are carried
  onto the v3 ticket map. A field map of the legacy map is a customisation when the v3 map does
  not have it as it is. One that cannot work on the v3 staging table is dropped, with the reason.
  An organisation that already has a configuration different from the properties is never
  overwritten: the migration stops and says so.
  A property already in the configuration (a rerun, or a clean-up interrupted half-way) counts as
  migrated.
- **artefact clean-up**, only once the configuration reads back holding the properties: they
  are deleted (credentials must not stay readable in the global scope), the legacy map is
  deactivated (its records stay, as the record of what was customised) and the 2.9 app role is
  removed with its grants (it contained itil; the v3 app grants no ITSM role).
- **default population**: the v3 roles and ticket maps are present and active, and every setting
  the properties did not give is named with the v3 default version 1 holds.
"""

from __future__ import annotations

from typing import Any

from bpsn.integration.config.models import IntegrationConfig
from bpsn.integration.config.versioned import ConfigStore

from . import legacy
from .instance import Instance
from .report import ScriptResult

MIGRATION_NOTE = "migrated from the BigPanda 2.9 system properties (bpsn upgrade)"
ENTRY_FIELDS = ["sys_id", "map", "source_field", "target_field", "coalesce", "choice_action"]


class UpgradeError(RuntimeError):
    """The upgrade cannot go on; the message says why and what to do (never a credential)."""


async def legacy_properties(instance: Instance) -> list[dict[str, Any]]:
    return await instance.rows(legacy.PROPERTY_TABLE, f"nameSTARTSWITH{legacy.PROPERTY_PREFIX}^ORDERBYname",
                               ["sys_id", "name", "value", "type"])


def changes_from_properties(properties: list[dict[str, Any]], result: ScriptResult) -> dict[str, Any]:
    """The v3 fields the properties set (credentials in clear: never log them); each property is
    recorded as moved or dropped."""
    changes: dict[str, Any] = {}
    for prop in properties:
        name, value = prop["name"], prop.get("value") or ""
        if name in legacy.CREDENTIAL_PROPERTIES:
            field = legacy.CREDENTIAL_PROPERTIES[name]
            changes[field] = legacy.decode_basic(name, value) if prop.get("type") == "password" else value
            result.add("property", name, "moved", f"credential {field}, re-encrypted")
        elif name in legacy.PLAIN_PROPERTIES:
            changes[legacy.PLAIN_PROPERTIES[name]] = value
            result.add("property", name, "moved", legacy.PLAIN_PROPERTIES[name])
        elif name in legacy.SETTING_PROPERTIES:
            changes[legacy.SETTING_PROPERTIES[name]] = value
            result.add("property", name, "moved", f"settings.{legacy.SETTING_PROPERTIES[name]}")
        elif name in legacy.RETIRED_PROPERTIES:
            result.add("property", name, "dropped", legacy.RETIRED_PROPERTIES[name])
        else:
            result.add("property", name, "dropped", "not a BigPanda 2.9 setting the v3 app knows")
    return changes


def apply(config: IntegrationConfig, changes: dict[str, Any]) -> IntegrationConfig:
    try:
        return config.replace(**changes)
    except ValueError as exc:  # pydantic hides input values (hide_input_in_errors): no credential leaks
        raise UpgradeError(f"the 2.9 properties do not make a valid v3 configuration: {exc}") from None


def holds(config: IntegrationConfig, changes: dict[str, Any]) -> bool:
    """The configuration already says everything the properties say (all of them, or the ones an
    interrupted clean-up left)."""
    return apply(config, changes) == config


async def _map(instance: Instance, query: str) -> dict[str, Any] | None:
    rows = await instance.rows("sys_transform_map", query, ["sys_id", "name", "active", "source_table"])
    return rows[0] if rows else None


async def _entries(instance: Instance, map_id: str) -> list[dict[str, Any]]:
    return await instance.rows("sys_transform_entry", f"map={map_id}^ORDERBYtarget_field", ENTRY_FIELDS)


async def carry_customisations(instance: Instance, result: ScriptResult) -> None:
    old = await _map(instance, f"source_table={legacy.LEGACY_STAGING_TABLE}^target_table=incident")
    new = await _map(instance, f"name={legacy.V3_TICKET_MAP}^source_table={legacy.V3_STAGING_TABLE}")
    if old is None:
        result.add("transform map", legacy.LEGACY_STAGING_TABLE, "unchanged", "no legacy transform map")
        return
    if new is None:
        raise UpgradeError(f"the v3 transform map {legacy.V3_TICKET_MAP!r} is missing: install the v3 app first")
    v3 = {e["target_field"]: e for e in await _entries(instance, new["sys_id"])}
    for entry in await _entries(instance, old["sys_id"]):
        target, source = entry["target_field"], entry["source_field"]
        name = f"{old['name']}: {target} <- {source}"
        mine = v3.get(target)
        if mine is not None and (mine["source_field"], mine["choice_action"], mine["coalesce"]) == (
                source, entry["choice_action"], entry["coalesce"]):
            result.add("field map", name, "kept", f"the v3 map {legacy.V3_TICKET_MAP!r} has it")
        elif str(entry["coalesce"]).lower() == "true":
            result.add("field map", name, "dropped", "a coalesce: the v3 map coalesces on sys_id <- u_ticket "
                                                     "(the core names each ticket), a second one would split tickets")
        elif not await instance.has_column(legacy.V3_STAGING_TABLE, source):
            result.add("field map", name, "dropped", f"{source} is not a column of {legacy.V3_STAGING_TABLE}: "
                                                     "the v3 core never fills it; map the field from a column it writes")
        else:
            body = {"source_field": source, "choice_action": entry["choice_action"]}
            if mine is None:
                await instance.create("sys_transform_entry", {**body, "map": new["sys_id"], "target_field": target,
                                                              "source_table": legacy.V3_STAGING_TABLE,
                                                              "target_table": "incident", "coalesce": "false"})
            else:
                await instance.update("sys_transform_entry", mine["sys_id"], body)
            result.changed = True
            result.add("field map", name, "moved", f"onto the v3 map {legacy.V3_TICKET_MAP!r}")


async def migrate(instance: Instance, store: ConfigStore, org: str) -> tuple[ScriptResult, dict[str, Any]]:
    """Returns the script's result and the fields the properties set (for the clean-up to verify)."""
    result = ScriptResult("migration")
    properties = await legacy_properties(instance)
    latest = await store.latest(org)
    changes = changes_from_properties(properties, result)
    if not properties:
        if latest is None:
            raise UpgradeError(f"no {legacy.PROPERTY_PREFIX}* system properties and no configuration for {org!r}: "
                               "this is not a BigPanda 2.9 instance (nothing to migrate)")
        result.add("configuration", org, "unchanged", f"no 2.9 properties left; version {latest.version} exists")
    elif latest is None:
        saved = await store.save(org, apply(IntegrationConfig(), changes), MIGRATION_NOTE)
        result.changed = True
        result.add("configuration", org, "moved", f"version {saved.version} of x_bip_panda_config")
    elif holds(latest.config, changes):
        result.add("configuration", org, "unchanged", f"version {latest.version} already holds the properties")
    else:
        raise UpgradeError(f"organisation {org!r} already has configuration version {latest.version}, which "
                           "differs from the 2.9 properties: the upgrade never overwrites a configuration "
                           f"(`bpsn config show --org {org}`; use another --org to migrate beside it)")
    await carry_customisations(instance, result)
    return result, changes


async def clean_up(instance: Instance, store: ConfigStore, org: str, migrated: dict[str, Any]) -> ScriptResult:
    result = ScriptResult("artefact clean-up")
    properties = await legacy_properties(instance)
    if properties:
        current = await store.current(org)
        if current is None or not holds(current.config, migrated):
            raise UpgradeError("the 2.9 properties are kept: the configuration does not read back equal to them")
        for prop in properties:
            await instance.delete(legacy.PROPERTY_TABLE, prop["sys_id"])
            result.add("property", prop["name"], "removed", "deleted from the global scope (version "
                                                            f"{current.version} reads back equal to the properties)")
        result.changed = True
    old = await _map(instance, f"source_table={legacy.LEGACY_STAGING_TABLE}^active=true")
    if old is not None:
        await instance.update("sys_transform_map", old["sys_id"], {"active": "false"})
        result.changed = True
        result.add("transform map", old["name"], "kept", "deactivated, its records kept as the record of the "
                                                         "customisations (the v3 map carries them)")
    for role in await instance.rows("sys_user_role", f"name={legacy.LEGACY_ROLE}", ["sys_id", "contains_roles"]):
        for grant in await instance.rows("sys_user_has_role", f"role={role['sys_id']}", ["sys_id"]):
            await instance.delete("sys_user_has_role", grant["sys_id"])
        await instance.delete("sys_user_role", role["sys_id"])
        result.changed = True
        result.add("role", legacy.LEGACY_ROLE, "dropped", f"the 2.9 app role (contained {role['contains_roles']}): "
                                                          "v3 app roles grant no ITSM role")
    return result


# the settings of the seed's connection defaults and Incidents tables worth naming when defaulted
_DEFAULTS_TO_NAME = ("retrieval_count", "poll_interval", "active", "assignment_group", "caller_email",
                     "opened_by_email", "close_code", "log_level")


async def populate_defaults(instance: Instance, config: IntegrationConfig | None, given: set[str]) -> ScriptResult:
    """`config`: the version the migration saved in this run (None when it saved none)."""
    result = ScriptResult("default population")
    for name, description in legacy.V3_ROLES.items():
        if not await instance.rows("sys_user_role", f"name={name}", ["sys_id"]):
            await instance.create("sys_user_role", {"name": name, "description": description})
            result.changed = True
            result.add("role", name, "populated", description)
    for name in legacy.V3_MAPS:
        found = await _map(instance, f"name={name}")
        if found is None:
            raise UpgradeError(f"the v3 transform map {name!r} is missing: install the v3 app first")
        if str(found["active"]).lower() != "true":
            await instance.update("sys_transform_map", found["sys_id"], {"active": "true"})
            result.changed = True
            result.add("transform map", name, "populated", "activated")
    if config is not None:  # what the properties left to the defaults (a second run has no properties)
        for key, value in config.settings.model_dump(mode="json").items():
            if key not in given and key in _DEFAULTS_TO_NAME:
                result.add("setting", f"settings.{key}", "populated", f"v3 default {value!r}")
    return result

