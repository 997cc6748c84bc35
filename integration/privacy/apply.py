"""Cleaning a payload by a privacy policy: pure, returns a cleaned copy and what was cleaned.

Works on any JSON-shaped payload, which covers both directions:

- a BigPanda share incident (or the whole share): incident tags `{"tag_id", "value"}`,
  alert tags `{"name", "value"}`, alert descriptions, and any other key;
- a dict of ServiceNow fields, or a body bound for BigPanda (`{"comments": ...}`).

A tag counts under its tag name, any other value under its key; BigPanda incident tags
carry a tag id, which `tag_names` (id -> name, e.g. from the tag definitions) turns into
the name the policy uses (without it, the id itself is matched). The input is never
changed. The report names where and what kind of data was cleaned, never the data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bpsn.integration.privacy import detect

from .policy import DirectionPolicy, PrivacyPolicy
from .pseudonym import Pseudonymiser, is_masked

_TAG_NAME_KEYS = ("name", "tag_id")
_TAG_VALUE_KEYS = ("value", "tag_value")


@dataclass(frozen=True)
class Cleaned:
    path: str  # e.g. alerts[0].tags.owner, description
    kind: str
    action: str
    how: str  # "field": the policy names it; "detected": found by pattern in free text


@dataclass
class PrivacyReport:
    direction: str
    cleaned: list[Cleaned] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.cleaned)

    def counts(self) -> dict[str, int]:
        """How many values of each kind were cleaned."""
        return dict(sorted(Counter(c.kind for c in self.cleaned).items()))


def apply(policy: PrivacyPolicy, direction: str, payload: Any, pseudonymiser: Pseudonymiser | None = None,
          tag_names: Mapping[str, str] | None = None) -> tuple[Any, PrivacyReport]:
    rules = policy.direction(direction)
    report = PrivacyReport(direction)
    if not rules.active:
        return payload, report
    cleaner = _Cleaner(rules, pseudonymiser or Pseudonymiser.from_env(), report, tag_names or {})
    return cleaner.node(payload, ""), report


def to_servicenow(policy: PrivacyPolicy, share_incident: dict[str, Any], pseudonymiser: Pseudonymiser | None = None,
                  tag_names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The share incident (or the share) as ServiceNow may see it."""
    cleaned, _ = apply(policy, "to_servicenow", share_incident, pseudonymiser, tag_names)
    return cleaned  # type: ignore[no-any-return]


def to_bigpanda(policy: PrivacyPolicy, payload: Any, pseudonymiser: Pseudonymiser | None = None,
                tag_names: Mapping[str, str] | None = None) -> Any:
    """A body bound for BigPanda (ServiceNow fields, a comment, a list of tags) as BigPanda may see it."""
    cleaned, _ = apply(policy, "to_bigpanda", payload, pseudonymiser, tag_names)
    return cleaned


def _tag_keys(node: dict[str, Any]) -> tuple[str, str] | None:
    """The (name key, value key) of a tag object, or None for any other object."""
    name_key = next((k for k in _TAG_NAME_KEYS if isinstance(node.get(k), str)), None)
    value_key = next((k for k in _TAG_VALUE_KEYS if k in node), None)
    if name_key is None or value_key is None or not set(node) <= {*_TAG_NAME_KEYS, *_TAG_VALUE_KEYS}:
        return None
    return name_key, value_key


class _Cleaner:
    def __init__(self, rules: DirectionPolicy, pseudonymiser: Pseudonymiser, report: PrivacyReport,
                 tag_names: Mapping[str, str]) -> None:
        self.rules, self.p, self.report, self.tag_names = rules, pseudonymiser, report, tag_names

    def node(self, node: Any, path: str) -> Any:
        if isinstance(node, dict):
            keys = _tag_keys(node)
            if keys is not None:
                name_key, value_key = keys
                name = self.tag_names.get(node[name_key], node[name_key]) if name_key == "tag_id" else node[name_key]
                return {**node, value_key: self.value(name, node[value_key], _join(path, name))}
            return {k: self.value(str(k), v, _join(path, str(k))) for k, v in node.items()}
        if isinstance(node, list):
            return [self.node(item, f"{path}[{i}]") for i, item in enumerate(node)]
        return node

    def value(self, name: str, value: Any, path: str) -> Any:
        if isinstance(value, str):
            return self.text(name, value, path)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return [self.text(name, v, f"{path}[{i}]") for i, v in enumerate(value)]
        return self.node(value, path)

    def text(self, name: str, value: str, path: str) -> str:
        declared = self.rules.field(name)
        if declared is not None:
            if not value.strip() or is_masked(value):
                return value
            action = self.rules.action_for(declared)
            self.report.cleaned.append(Cleaned(path, declared.kind, action, "field"))
            return self.p.mask(declared.kind, action, value)
        if self.rules.scans(name):
            cleaned, kinds = detect.replace(value, self.rules.detect,
                                            lambda kind, found: self.p.mask(kind, self.rules.action, found))
            self.report.cleaned += [Cleaned(path, kind, self.rules.action, "detected") for kind in kinds]
            return cleaned
        return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
