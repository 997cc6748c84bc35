"""Seed fixtures from a YAML or JSON file given on the command line."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .yaml_text import load_yaml

EXAMPLES = {"bigpanda": "bpsn.simulator.bigpanda.admin", "servicenow": "bpsn.simulator.servicenow.admin"}


class FixtureError(ValueError):
    pass


def example_fixtures(simulator: str) -> Path:
    """The example fixtures file shipped with a simulator (`bpsn sim example-fixtures NAME`)."""
    package = EXAMPLES.get(simulator)
    if package is None:
        raise FixtureError(f"no example fixtures for {simulator!r}: choose {' or '.join(EXAMPLES)}")
    return Path(str(resources.files(package).joinpath("fixtures.example.yaml")))


def read_fixture_file(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise FixtureError(f"cannot read fixtures {p}: {exc.strerror}") from None
    try:
        data = json.loads(text) if p.suffix == ".json" else load_yaml(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise FixtureError(f"fixtures {p} are not valid {'JSON' if p.suffix == '.json' else 'YAML'}: {exc}") from None
    if not isinstance(data, dict):
        raise FixtureError(f"fixtures {p}: the top level must be a mapping")
    return data
