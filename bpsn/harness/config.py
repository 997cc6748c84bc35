"""A test's configuration of the core and the simulators' seed data.

What `@pytest.mark.bpsn(...)`, the `bpsn_config` fixture, `bpsn.running(...)` and the steps
that load a user's configuration all build. Settings take the shape `bpsn config` stores (the
`settings` column of x_bip_panda_config: the Incidents settings, `tag_mappings`,
`alert_configuration`, `privacy`, polling), so a file kept for a real instance works here too.
Unknown keys are refused, naming them: a misspelt setting must not pass as the default.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bpsn.integration.config.models import (
    SETTING_FIELDS,
    ModuleSettings,
    ModuleSettingsBase,
)
from bpsn.integration.engine.mapping import IncidentSettings
from bpsn.integration.modules.alert_config import AlertConfigSettings
from bpsn.simulator.common.fixtures import read_fixture_file
from bpsn.simulator.common.yaml_text import load_yaml

MARKER_KEYS = ("settings", "settings_file", "incidents", "tag_mappings", "alert_config", "rules", "fixtures")


class ConfigError(ValueError):
    """A configuration that cannot work; the message names what is wrong."""


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{what}: expected a mapping of settings, got {type(value).__name__}")
    return dict(value)


def read_settings_file(path: str | Path) -> dict[str, Any]:
    """A YAML (or JSON) file of settings in the shape `bpsn config` stores."""
    p = Path(path)
    try:
        data = load_yaml(p.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read settings {p}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"settings {p} are not valid YAML: {exc}") from None
    return _mapping(data, f"settings {p}")


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    """The core's module settings, transform rules to save, and fixtures to load at reset."""

    settings: ModuleSettingsBase = dataclasses.field(default_factory=ModuleSettings)
    rules: tuple[dict[str, Any], ...] = ()
    fixtures: dict[str, Any] | None = None  # {"organizations": [...]} and/or {"tables": {...}}

    @classmethod
    def build(cls, *, settings: Mapping[str, Any] | None = None, settings_file: str | Path | None = None,
              incidents: Mapping[str, Any] | None = None, tag_mappings: Sequence[Any] | None = None,
              alert_config: Mapping[str, Any] | None = None, rules: Sequence[Mapping[str, Any]] | None = None,
              fixtures: str | Path | Mapping[str, Any] | None = None, base: BenchConfig | None = None,
              root: Path | None = None) -> BenchConfig:
        """Later arguments override earlier ones: `base`, the settings file, `settings`,
        `incidents`, `tag_mappings`, `alert_config`. Relative paths are taken from `root`."""
        def where(path: str | Path) -> Path:
            p = Path(path)
            return p if p.is_absolute() or root is None else root / p

        values = base.settings.model_dump() if base else {}
        if settings_file is not None:
            values.update(read_settings_file(where(settings_file)))
        values.update(_mapping(settings, "settings"))
        values.update(_mapping(incidents, "incidents"))
        if tag_mappings is not None:
            values["tag_mappings"] = [dataclasses.asdict(m) if dataclasses.is_dataclass(m) else m
                                      for m in tag_mappings]
        if alert_config is not None:
            values["alert_configuration"] = {**values.get("alert_configuration", {}),
                                             **_mapping(alert_config, "alert_config")}
        unknown = sorted(set(values) - set(SETTING_FIELDS))
        if unknown:
            raise ConfigError(f"unknown settings {', '.join(unknown)}: the settings are {', '.join(SETTING_FIELDS)}")
        try:
            module_settings = ModuleSettings(**values)
        except (ValidationError, ValueError) as exc:
            raise ConfigError(f"settings refused: {exc}") from None
        fixture_data = base.fixtures if base else None
        if isinstance(fixtures, (str, Path)):
            fixture_data = read_fixture_file(where(fixtures))
        elif fixtures is not None:
            fixture_data = dict(fixtures)
        if fixture_data is not None and not set(fixture_data) & {"organizations", "tables"}:
            raise ConfigError("fixtures: expected 'organizations' (BigPanda) and/or 'tables' (ServiceNow)")
        saved_rules = tuple(dict(r) for r in rules) if rules is not None else (base.rules if base else ())
        return cls(module_settings, saved_rules, fixture_data)

    def incident_settings(self, organization: str) -> IncidentSettings:
        return self.settings.incident_settings(organization)

    def alert_settings(self) -> AlertConfigSettings:
        return AlertConfigSettings.from_mapping(self.settings.alert_configuration)

    def bigpanda_fixtures(self) -> dict[str, Any] | None:
        data = self.fixtures or {}
        return {"organizations": data["organizations"]} if "organizations" in data else None

    def servicenow_fixtures(self) -> dict[str, Any] | None:
        data = self.fixtures or {}
        return {"tables": data["tables"]} if "tables" in data else None


def from_marker(args: Sequence[Any], kwargs: Mapping[str, Any], base: BenchConfig | None,
                root: Path | None) -> BenchConfig:
    """`@pytest.mark.bpsn("settings.yaml", incidents={...}, ...)`: a positional argument is a
    settings file."""
    unknown = sorted(set(kwargs) - set(MARKER_KEYS))
    if unknown:
        raise ConfigError(f"@pytest.mark.bpsn: unknown arguments {', '.join(unknown)}; "
                          f"it takes {', '.join(MARKER_KEYS)}")
    if len(args) > 1:
        raise ConfigError("@pytest.mark.bpsn takes at most one positional argument: a settings file")
    options = dict(kwargs)
    if args:
        options.setdefault("settings_file", args[0])
    return BenchConfig.build(base=base, root=root, **options)
