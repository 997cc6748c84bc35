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
        names = [f.name for f in dataclasses.fields(IncidentSettings) if f.name != "namespace"]
        return IncidentSettings(namespace=organization, **{n: getattr(self, n) for n in names})


_CONSTRAINTS: dict[str, dict[str, Any]] = {
    "close_code": {"min_length": 1, "max_length": 80}, "max_alerts_in_description": {"ge": 0, "le": 1000},
    "reopen_window_seconds": {"ge": 0}, "hold_snooze_seconds": {"ge": 0}}
_HINTS = get_type_hints(IncidentSettings)
ModuleSettings: type[ModuleSettingsBase] = create_model(  # type: ignore[call-overload]
    "ModuleSettings", __base__=ModuleSettingsBase,
    **{f.name: (_HINTS[f.name], Field(f.default if f.default is not dataclasses.MISSING
                                      else f.default_factory(),  # type: ignore[misc]
                                      **_CONSTRAINTS.get(f.name, {})))
       for f in dataclasses.fields(IncidentSettings) if f.name != "namespace"})


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
        return self.settings.incident_settings(organization)


class ConfigInput(BaseModel):
    """Validation at the edges: the CLI, a test, a record read back from the instance."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    bearer_token: str = Field("", max_length=1000)
    api_key: str = Field("", max_length=1000)
    incidents_app_key: str = Field("", max_length=1000)
    changes_app_key: str = Field("", max_length=1000)
    cmdb_v2_app_key: str = Field("", max_length=1000)
    oim_app_key: str = Field("", max_length=1000)
    api_base_url: str = Field("https://api.bigpanda.io", pattern=r"^https?://[^\s]+$", max_length=1000)
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
