"""Versioned configuration in x_bip_panda_config, over the ServiceNow Table API.

One record per version per BigPanda organisation: `organization`, `version` (1, 2, ...),
`current` (true only on the newest), the credentials as Fernet tokens (crypto.py), the plain
connection fields, `settings` (JSON of the module settings) and `change_note`; the platform's
`sys_created_by` / `sys_created_on` are the author and the time. Nothing is ever updated but
the `current` flag: a change, and a rollback, is a new version.

Concurrent saves: a version's sys_id is derived from (organization, version), so of two saves
racing for version N the instance refuses the second insert (a record with that sys_id exists);
that save reads the newest version again and tries N+1. Then each save clears `current` on
older versions, and on its own record when a newer one exists, so exactly one stays current
whatever the interleaving. A save whose answer was lost and that is retried finds its own
record at the derived sys_id and is not saved twice.

Every query filters on `organization`, so organisations sharing an instance never see each
other's versions. Writes need a user with x_bip_panda.admin (and x_bip_panda_user to read
back: the admin role does not imply it). Credentials never reach a log line: logs name the
fields that changed, not their values.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from bpsn.integration.clients.http import ApiClient, RetryPolicy
from bpsn.integration.clients.servicenow import ServiceNowClient, ServiceNowError

from .crypto import ConfigCipher
from .models import (
    CREDENTIAL_FIELDS,
    PLAIN_FIELDS,
    ConfigInput,
    IntegrationConfig,
    ModuleSettings,
    validate_organization,
)

TABLE = "x_bip_panda_config"
SAVE_ATTEMPTS = 25  # versions a save may lose to concurrent saves before it gives up
log = logging.getLogger("bpsn.integration.config")

FIELDS = ["sys_id", "organization", "version", "current", *CREDENTIAL_FIELDS, *PLAIN_FIELDS, "settings",
          "change_note", "sys_created_by", "sys_created_on"]


class ConfigError(RuntimeError):
    pass


class NoChange(ConfigError):
    """A save that would change nothing is refused: a version always records a change."""


class VersionNotFound(ConfigError, LookupError):
    pass


@dataclass(frozen=True)
class ConfigVersion:
    organization: str
    version: int
    current: bool
    config: IntegrationConfig
    author: str
    created_on: str
    note: str
    sys_id: str


@dataclass(frozen=True)
class FieldChange:
    """One field between two versions; for a credential `before` / `after` are `(set)` / `(not set)`."""

    field: str
    credential: bool
    before: Any
    after: Any
    changed: bool

    @property
    def summary(self) -> str:
        if self.credential:
            return "changed" if self.changed else "unchanged"
        return f"{self.before!r} -> {self.after!r}" if self.changed else "unchanged"


def compare(a: IntegrationConfig, b: IntegrationConfig) -> list[FieldChange]:
    out = [FieldChange(name, True, str(getattr(a, name)), str(getattr(b, name)),
                       getattr(a, name) != getattr(b, name)) for name in CREDENTIAL_FIELDS]
    out += [FieldChange(name, False, getattr(a, name), getattr(b, name), getattr(a, name) != getattr(b, name))
            for name in PLAIN_FIELDS]
    sa, sb = a.settings.model_dump(), b.settings.model_dump()
    out += [FieldChange(f"settings.{k}", False, sa[k], sb[k], sa[k] != sb[k]) for k in sa]
    return out


def changed_fields(a: IntegrationConfig | None, b: IntegrationConfig) -> list[str]:
    return [c.field for c in compare(a or IntegrationConfig(), b) if c.changed] if a else ["(initial)"]


def version_sys_id(org: str, version: int) -> str:
    """The sys_id of an organisation's version: derived, so a second insert of one version is refused."""
    return hashlib.sha256(f"bpsn-config:{org}:{int(version)}".encode()).hexdigest()[:32]


class ConfigStore:
    def __init__(self, client: ServiceNowClient, cipher: ConfigCipher | None = None, table: str = TABLE) -> None:
        self.client = client
        self.cipher = cipher or ConfigCipher.from_env()
        self.table = table

    # --- reading ------------------------------------------------------------------------------
    def _decode(self, row: dict[str, Any]) -> ConfigVersion:
        settings = json.loads(row.get("settings") or "{}")
        values: dict[str, Any] = {name: self.cipher.decrypt(row.get(name) or "") for name in CREDENTIAL_FIELDS}
        values.update({name: row.get(name) or "" for name in PLAIN_FIELDS})
        config = ConfigInput.model_validate({**values, "settings": ModuleSettings.model_validate(settings)}).to_config()
        return ConfigVersion(organization=row["organization"], version=int(row["version"]),
                             current=str(row.get("current")).lower() == "true", config=config,
                             author=row.get("sys_created_by", ""), created_on=row.get("sys_created_on", ""),
                             note=row.get("change_note", ""), sys_id=row["sys_id"])

    async def _rows(self, org: str, extra: str = "", limit: int | None = None,
                    descending: bool = False) -> list[dict[str, Any]]:
        if limit is not None:
            return await self._rows_of(org, extra, FIELDS, limit=limit, descending=descending)
        return await self.client.query_all(self.table, self._query(org, extra, descending), fields=FIELDS)

    async def _rows_of(self, org: str, extra: str, fields: list[str], *, limit: int,
                       descending: bool = False) -> list[dict[str, Any]]:
        return await self.client.query(self.table, self._query(org, extra, descending), fields=fields, limit=limit)

    @staticmethod
    def _query(org: str, extra: str, descending: bool) -> str:
        return f"organization={validate_organization(org)}{extra}^{'ORDERBYDESC' if descending else 'ORDERBY'}version"

    async def history(self, org: str) -> list[ConfigVersion]:
        """Every version of `org`, oldest first."""
        return [self._decode(row) for row in await self._rows(org)]

    async def latest(self, org: str) -> ConfigVersion | None:
        rows = await self._rows(org, limit=1, descending=True)
        return self._decode(rows[0]) if rows else None

    async def current(self, org: str) -> ConfigVersion | None:
        """The version marked current (the newest one marked, should a crashed save leave two)."""
        rows = await self._rows(org, "^current=true", limit=1, descending=True)
        return self._decode(rows[0]) if rows else await self.latest(org)

    async def current_version_number(self, org: str) -> int | None:
        """The number of the version marked current: one small query, for a core checking each cycle."""
        rows = await self._rows_of(org, "^current=true", ["version"], limit=1, descending=True)
        return int(rows[0]["version"]) if rows else None

    async def organizations(self) -> list[str]:
        """Every organisation with a current version on this instance."""
        rows = await self.client.query_all(self.table, "current=true^ORDERBYorganization", fields=["organization"])
        return sorted({row["organization"] for row in rows if row.get("organization")})

    async def get(self, org: str, version: int) -> ConfigVersion:
        rows = await self._rows(org, f"^version={int(version)}", limit=1)
        if not rows:
            raise VersionNotFound(f"organisation {org!r} has no configuration version {version}")
        return self._decode(rows[0])

    async def diff(self, org: str, a: int, b: int) -> list[FieldChange]:
        return compare((await self.get(org, a)).config, (await self.get(org, b)).config)

    # --- writing ------------------------------------------------------------------------------
    def _encode(self, org: str, version: int, config: IntegrationConfig, note: str) -> dict[str, Any]:
        body: dict[str, Any] = {"name": f"{org} v{version}", "organization": org, "version": str(version),
                                "current": "true", "change_note": note[:1000]}
        body.update({name: self.cipher.encrypt(getattr(config, name).reveal()) for name in CREDENTIAL_FIELDS})
        body.update({name: getattr(config, name) for name in PLAIN_FIELDS})
        body["settings"] = json.dumps(config.settings.model_dump(mode="json"), sort_keys=True)
        return body

    async def save(self, org: str, config: IntegrationConfig, note: str = "") -> ConfigVersion:
        """Write `config` as the next version of `org`; the previous current one stops being current."""
        validate_organization(org)
        config = ConfigInput.model_validate(config.to_input()).to_config()
        latest = await self.latest(org)
        for _ in range(SAVE_ATTEMPTS):
            if latest is not None and latest.config == config:
                raise NoChange(f"no change: the configuration of {org!r} is already version {latest.version}")
            version = latest.version + 1 if latest else 1
            if await self._insert(org, version, config, note):
                break
            latest = await self.latest(org)  # another save took this number: go on from the newest
        else:
            raise ConfigError(f"could not save the configuration of {org!r}: {SAVE_ATTEMPTS} concurrent saves "
                              "took every version number tried; try again")
        await self._settle_current(org, version)
        saved = await self.get(org, version)
        log.info("configuration of %s: version %d saved by %s (changed: %s)", org, version, saved.author,
                 ", ".join(changed_fields(latest.config if latest else None, config)) or "nothing",
                 extra={"organization": org, "version": version})
        return saved

    async def _insert(self, org: str, version: int, config: IntegrationConfig, note: str) -> bool:
        """True when version `version` now holds `config`; False when another save took that number."""
        sys_id = version_sys_id(org, version)
        try:
            await self.client.create(self.table, {**self._encode(org, version, config, note), "sys_id": sys_id})
            return True
        except ServiceNowError as exc:
            if exc.status_code != 403:
                raise
            taken = await self.client.get(self.table, sys_id)
            if taken is None:
                raise  # refused (an ACL), not a collision
        mine = self._decode(taken)
        # our own insert, retried after its answer was lost, or an identical concurrent save: one version
        return mine.config == config and mine.note == note[:1000]

    async def _settle_current(self, org: str, version: int) -> None:
        """Older versions stop being current; so does ours if a newer one was saved meanwhile."""
        for row in await self._rows_of(org, f"^current=true^version<{version}", ["sys_id"], limit=1000):
            await self.client.update(self.table, row["sys_id"], {"current": "false"})
        if await self._rows_of(org, f"^version>{version}", ["sys_id"], limit=1):
            await self.client.update(self.table, version_sys_id(org, version), {"current": "false"})

    async def rollback(self, org: str, version: int, note: str = "") -> ConfigVersion:
        """A new version equal to `version` (history is never rewritten)."""
        target = await self.get(org, version)
        saved = await self.save(org, target.config, note or f"rollback to version {version}")
        log.info("configuration of %s: rolled back to version %d as version %d", org, version, saved.version)
        return saved


class ConfigAdminSettings(BaseSettings):
    """Who `bpsn config` connects as: a ServiceNow user with x_bip_panda.admin and x_bip_panda_user.

    `BPSN_SERVICENOW_URL`, `BPSN_CONFIG_USER`, `BPSN_CONFIG_PASSWORD` (defaults: the demo
    instance's bigpanda.admin); the credentials' key is `BPSN_CONFIG_KEY` (crypto.py).
    """

    model_config = SettingsConfigDict(env_prefix="BPSN_", extra="ignore")

    servicenow_url: str = "http://127.0.0.1:8002"
    config_user: str = "bigpanda.admin"
    config_password: SecretStr = SecretStr("bigpanda-admin")
    http_timeout: float = 10.0


@contextlib.asynccontextmanager
async def open_store(settings: ConfigAdminSettings | None = None, *,
                     transport: httpx.AsyncBaseTransport | None = None) -> AsyncIterator[ConfigStore]:
    s = settings or ConfigAdminSettings()
    http = httpx.AsyncClient(base_url=s.servicenow_url, transport=transport, timeout=s.http_timeout,
                             auth=(s.config_user, s.config_password.get_secret_value()),
                             headers={"Accept": "application/json"})
    try:
        yield ConfigStore(ServiceNowClient(ApiClient(http, policy=RetryPolicy(max_attempts=3))))
    finally:
        await http.aclose()
