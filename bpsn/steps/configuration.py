"""Steps that load a user's own configuration: the core's settings (the shape `bpsn config`
stores), transform rules and seed data, from files beside the test module or from a table.

    Given the core runs with the settings in "settings.yaml"
    Given the core runs with the transform rules in "rules.yaml"
    Given the simulators are seeded from "fixtures.yaml"
    Given the core runs with these settings:
      | setting            | value             |
      | assignment_group   | Network Operations |

A relative path is taken from the folder of the test module that binds the feature, then from
the working directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pytest_bdd import given, parsers

from bpsn.harness.base import Harness
from bpsn.harness.config import BenchConfig, ConfigError
from bpsn.simulator.common.yaml_text import load_yaml


def _find(request: pytest.FixtureRequest, name: str) -> Path:
    path = Path(name)
    if path.is_absolute():
        return path
    beside = Path(str(request.path)).parent / path
    return beside if beside.exists() else Path.cwd() / path


def _configure(bench: Harness, **options: Any) -> None:
    try:
        bench.configure(BenchConfig.build(base=bench.config, **options))
    except ConfigError as exc:
        pytest.fail(f"bpsn configuration: {exc}", pytrace=False)


@given(parsers.parse('the core runs with the settings in "{path}"'))
def settings_from_file(bpsn_bench: Harness, request: pytest.FixtureRequest, path: str) -> None:
    _configure(bpsn_bench, settings_file=_find(request, path))


@given("the core runs with these settings:")
def settings_from_table(bpsn_bench: Harness, datatable: list[list[str]]) -> None:
    """Values as the settings form sends them: strings, yes/no, comma-separated lists."""
    _configure(bpsn_bench, settings={name: value for name, value in datatable[1:]})


@given(parsers.parse('the core runs with the transform rules in "{path}"'))
def rules_from_file(bpsn_bench: Harness, request: pytest.FixtureRequest, path: str) -> None:
    file = _find(request, path)
    try:
        rules = load_yaml(file.read_text())
    except (OSError, yaml.YAMLError) as exc:
        pytest.fail(f"cannot read transform rules {file}: {exc}", pytrace=False)
    if isinstance(rules, dict):
        rules = [rules]
    if not isinstance(rules, list):
        pytest.fail(f"transform rules {file}: expected a rule or a list of rules", pytrace=False)
    _configure(bpsn_bench, rules=rules)


@given(parsers.parse('the simulators are seeded from "{path}"'))
def seeded_from_file(bpsn_bench: Harness, request: pytest.FixtureRequest, path: str) -> None:
    _configure(bpsn_bench, fixtures=_find(request, path))
