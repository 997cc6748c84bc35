"""YAML parsing for the data files (dictionary, ACLs, transform maps, fixtures): libyaml's C
loader when PyYAML has it (an order of magnitude faster: every new simulator parses them), the
pure-Python safe loader otherwise. Same safe subset either way."""

from __future__ import annotations

from typing import Any

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader
