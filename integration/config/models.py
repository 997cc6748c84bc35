"""The integration's configuration as the core holds it: plain dataclasses, validated at the edges.

`IntegrationConfig` is what one version of x_bip_panda_config says: the connection settings
of the seed's "Define connection settings" page and the module settings. Credentials are
`Secret`s, which never show their value in repr / str / format, so a config can be logged or
printed without leaking one. `ConfigInput` (pydantic) validates what comes from outside.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, Literal, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from bpsn.integration.engine.mapping import IncidentSettings
from bpsn.integration.log_levels import normalize_level
from bpsn.integration.privacy.policy import PrivacyPolicy

CREDENTIAL_FIELDS = ("bearer_token", "api_key", "incidents_app_key", "changes_app_key",
                     "cmdb_v2_app_key", "oim_app_key")
PLAIN_FIELDS = ("api_base_url", "incident_url_base", "integration_user")
ORG_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
# The seed's region table lost its URLs; these are BigPanda's published API hosts (US is also the
# default of api_base_url). A region, when chosen, wins over api_base_url.
REGION_URLS = {"US": "https://api.bigpanda.io", "EU": "https://eu-api.bigpanda.io"}
DEFAULT_API_BASE_URL = REGION_URLS["US"]
URL_PATTERN = r"^https?://[^\s]+$"
# Engine settings that belong to another module's form: the Alert Configuration module sets them
ALERT_CONFIG_OWNED = ("aia_replaces_alert_summary",)
# Engine settings that come from the connection page, not from the Incidents form
CONNECTION_OWNED = ("console_url",)


class Secret:
    """A credential: compares by value, shows `(set)` / `(not set)`, never the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str = "") -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __str__(self) -> str:
        return "(set)" if self._value else "(not set)"

    def __repr__(self) -> str:
        return f"Secret({self})"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


class ModuleSettingsBase(BaseModel):
    """The module settings kept in the `settings` column (JSON): polling, the Incidents module's
    switch, and every field of the engine's IncidentSettings but `namespace` (the organisation),
    added below from the dataclass itself so the two never drift apart. Unknown keys in a stored
    record (a setting since removed) are ignored; `IntegrationConfig.replace` refuses unknown keys."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    poll_interval: float = Field(15.0, gt=0, le=3600, description="Seconds between polls")
    retrieval_count: int = Field(30, ge=1, le=100, description="Shares retrieved per poll")
    log_level: Literal["ERROR", "WARN", "INFO", "DEBUG"] = Field(
        "INFO", description="The core's log level (WARNING is taken as WARN); `bpsn core --log-level` overrides it")

    # the Alert Configuration module's answers (integration/modules/alert_config.py), as the form
    # sends them; validated by AlertConfigSettings.from_mapping
    alert_configuration: dict[str, Any] = Field(default_factory=dict)
    privacy: PrivacyPolicy = Field(default_factory=PrivacyPolicy)  # personal data, per direction

    # the connection page and the connection defaults (integration/modules_wiring.py reads them)
    region: Literal["", "US", "EU"] = Field(
        "", description="BigPanda API region: US or EU picks that region's base URL; empty: api_base_url")
    retrieval_endpoint: str = Field("", pattern=r"^$|" + URL_PATTERN, max_length=1000,
                                    description="Whole URL the shares are retrieved from (empty: the base URL's)")
    callback_endpoint: str = Field("", pattern=r"^$|" + URL_PATTERN, max_length=1000,
                                   description="Whole URL the callbacks are sent to (empty: the base URL's)")
    changes_active: bool = Field(True, description="Changes and maintenance module (runs with a Changes App Key)")
    cmdb_active: bool = Field(True, description="CMDB Enrichment V2 sync (runs with a CMDB Enrichment V2 API Key)")
    oim_active: bool = Field(True, description="OIM forwarding (runs with an OIM API Key)")
    cmdb_sync_interval: float = Field(86_400.0, gt=0, description="CMDB sync interval, seconds (24 hours)")
    cmdb_retry_interval: float = Field(5.0, gt=0, le=3600, description="Seconds between CMDB retries")
    cmdb_page_size: int = Field(100, ge=1, le=10_000, description="CMDB records per page")
    cmdb_max_pages: int = Field(10, ge=1, le=100_000, description="Pages per CMDB table sync")
    cmdb_max_retries: int = Field(3, ge=0, le=20, description="Retries of a failed CMDB call")

    @field_validator("alert_configuration")
    @classmethod
    def _alert_configuration(cls, value: dict[str, Any]) -> dict[str, Any]:
        from bpsn.integration.modules.alert_config import AlertConfigSettings
        AlertConfigSettings.from_mapping(value)  # raises ValueError naming the bad setting
        return value

    def alert_settings(self) -> Any:
        from bpsn.integration.modules.alert_config import AlertConfigSettings
        return AlertConfigSettings.from_mapping(self.alert_configuration)

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value: Any) -> Any:
        return normalize_level(value) if isinstance(value, str) else value

    @field_validator("update_fields", "primary_alert_criteria", "description_incident_tags",
                     "description_alert_tags", mode="before", check_fields=False)
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    def incident_settings(self, organization: str) -> IncidentSettings:
        names = [f.name for f in dataclasses.fields(IncidentSettings) if f.name not in _NOT_INCIDENTS]
        alerts = self.alert_settings()
        return IncidentSettings(namespace=organization, aia_replaces_alert_summary=alerts.aia_replaces_alert_summary,
                                **{n: getattr(self, n) for n in names})


_CONSTRAINTS: dict[str, dict[str, Any]] = {
    "close_code": {"min_length": 1, "max_length": 80}, "max_alerts_in_description": {"ge": 0, "le": 1000},
    "reopen_window_seconds": {"ge": 0}, "hold_snooze_seconds": {"ge": 0}}
_HINTS = get_type_hints(IncidentSettings)
_NOT_INCIDENTS = ("namespace", *ALERT_CONFIG_OWNED, *CONNECTION_OWNED)  # not on the Incidents form
ModuleSettings: type[ModuleSettingsBase] = create_model(  # type: ignore[call-overload]
    "ModuleSettings", __base__=ModuleSettingsBase,
    **{f.name: (_HINTS[f.name], Field(f.default if f.default is not dataclasses.MISSING
                                      else f.default_factory(),  # type: ignore[misc]
                                      **_CONSTRAINTS.get(f.name, {})))
       for f in dataclasses.fields(IncidentSettings) if f.name not in _NOT_INCIDENTS})


SETTING_FIELDS = tuple(ModuleSettings.model_fields)


@dataclass(frozen=True)
class IntegrationConfig:
    bearer_token: Secret = field(default_factory=Secret)
    api_key: Secret = field(default_factory=Secret)
    incidents_app_key: Secret = field(default_factory=Secret)
    changes_app_key: Secret = field(default_factory=Secret)
    cmdb_v2_app_key: Secret = field(default_factory=Secret)
    oim_app_key: Secret = field(default_factory=Secret)
    api_base_url: str = "https://api.bigpanda.io"
    incident_url_base: str = "https://a.bigpanda.io"
    integration_user: str = "bigpanda.integration"
    settings: ModuleSettingsBase = field(default_factory=ModuleSettings)

    def replace(self, **changes: Any) -> IntegrationConfig:
        """A copy with `changes` (plain values, setting names or credentials as str), validated."""
        top = {k: v for k, v in changes.items() if k in CREDENTIAL_FIELDS or k in PLAIN_FIELDS}
        setting = {k: v for k, v in changes.items() if k in SETTING_FIELDS}
        unknown = set(changes) - set(top) - set(setting)
        if unknown:
            raise ValueError(f"unknown configuration keys: {', '.join(sorted(unknown))}")
        current = self.to_input()
        current.update(top)
        current["settings"] = {**current["settings"], **setting}
        return ConfigInput.model_validate(current).to_config()

    def to_input(self) -> dict[str, Any]:
        """A plain dict with clear credentials (for validation only: never log or print it)."""
        out: dict[str, Any] = {name: getattr(self, name).reveal() for name in CREDENTIAL_FIELDS}
        out.update({name: getattr(self, name) for name in PLAIN_FIELDS})
        out["settings"] = self.settings.model_dump()
        return out

    def masked(self) -> dict[str, Any]:
        """What may be shown anywhere: credentials as `(set)` / `(not set)`."""
        out: dict[str, Any] = {name: str(getattr(self, name)) for name in CREDENTIAL_FIELDS}
        out.update({name: getattr(self, name) for name in PLAIN_FIELDS})
        out.update({f"settings.{k}": v for k, v in self.settings.model_dump().items()})
        return out

    def incident_settings(self, organization: str) -> IncidentSettings:
        """The engine's settings: the module settings, and the Incident URL base for the links."""
        return dataclasses.replace(self.settings.incident_settings(organization),
                                   console_url=self.incident_url_base.rstrip("/"))

    @property
    def bigpanda_api_url(self) -> str:
        """The base URL of BigPanda's API: the chosen region's, else api_base_url."""
        region = self.settings.region
        return REGION_URLS[region] if region else self.api_base_url.rstrip("/")

    @property
    def bearer_credential(self) -> tuple[str, str]:
        """The credential of every BigPanda call and its field: the bearer token, or the organisation
        API key as the seed's legacy fallback when no bearer token is set."""
        if self.bearer_token:
            return self.bearer_token.reveal(), "bearer_token"
        return self.api_key.reveal(), "api_key"


class ConfigInput(BaseModel):
    """Validation at the edges: the CLI, a test, a record read back from the instance."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    bearer_token: str = Field("", max_length=1000)
    api_key: str = Field("", max_length=1000)
    incidents_app_key: str = Field("", max_length=1000)
    changes_app_key: str = Field("", max_length=1000)
    cmdb_v2_app_key: str = Field("", max_length=1000)
    oim_app_key: str = Field("", max_length=1000)
    api_base_url: str = Field(DEFAULT_API_BASE_URL, pattern=URL_PATTERN, max_length=1000)
    incident_url_base: str = Field("https://a.bigpanda.io", pattern=r"^https?://[^\s]+$", max_length=1000)
    integration_user: str = Field("bigpanda.integration", max_length=100)
    settings: ModuleSettings = Field(default_factory=ModuleSettings)  # type: ignore[valid-type]

    def to_config(self) -> IntegrationConfig:
        values: dict[str, Any] = {name: Secret(getattr(self, name)) for name in CREDENTIAL_FIELDS}
        values.update({name: getattr(self, name) for name in PLAIN_FIELDS})
        return IntegrationConfig(settings=self.settings, **values)


def validate_organization(org: str) -> str:
    """Organisation names go into encoded queries: letters, digits, `_ . -` only (no `^`, no `=`)."""
    if not ORG_PATTERN.match(org):
        raise ValueError(f"invalid organisation name {org!r}: letters, digits, '_', '.', '-' (1-80)")
    return org


def config_fields() -> list[str]:
    return [f.name for f in dataclasses.fields(IntegrationConfig)]
