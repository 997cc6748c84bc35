"""Rules files and share files, as engineers keep them next to the CLI.

A rules file is YAML or JSON: a list of rules, or {"rules": [...]}. A share file is a share
as the core retrieves it (with "incident") or just its incident (with "alerts").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml


class FileError(ValueError):
    pass


def _read(path: Path) -> Any:
    try:
        text = path.read_text()
    except OSError as exc:
        raise FileError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise FileError(f"{path} is not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: {exc}") from None


def read_rules_file(path: Path) -> list[dict[str, Any]]:
    data = _read(path)
    if isinstance(data, dict) and "rules" in data:
        data = data["rules"]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise FileError(f"{path}: expected a list of rules (or {{rules: [...]}}), each an object")
    if not data:
        raise FileError(f"{path} holds no rules")
    return data


def incident_of(data: Any, where: str = "share") -> dict[str, Any]:
    if isinstance(data, dict) and isinstance(data.get("incident"), dict):
        return data["incident"]
    if isinstance(data, dict) and isinstance(data.get("alerts"), list):
        return data
    raise FileError(f"{where}: expected a share (with an \"incident\" object) or an incident (with \"alerts\")")


def read_share_file(path: Path) -> dict[str, Any]:
    """The share's incident."""
    return incident_of(_read(path), str(path))
