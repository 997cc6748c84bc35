"""Applies a compiled OIM configuration to one event, giving the alert `alerts.normalize` takes.

Rules (documented by BigPanda unless marked): for each tag the first populated source wins
(populated: present and not null, "", [] or {}), else the attribute's default; status is the
first exact match of a status source's value against the status map, sources in listed
order, else `default_to`; event time from the timestamp sources unless `bp_timestamp` is
selected, read with `config.timestamp.format` (timeformat.py). Our choices: without a format,
timestamps are epoch seconds (milliseconds above 1e11 are divided), numeric strings, or ISO
8601 (no zone = UTC), and an unreadable value falls through to the next source, then to the
ingest time; a tag named `description` becomes the alert's
description (cut to 2048 characters); an object value becomes `<tag>_<key>` tags when
`flatten` is set, else compact JSON; `map_remaining` copies top-level fields that no source
reads and that hold a scalar (or, with `map_remaining_flatten_array`, a list of scalars),
named as `oim_config.field_tag_name` says; `incident_identifier` joins its tags' values with
`__`; `event_filter` sees the mapped tags and `status`; `force_lowercase` spares the
description.
"""

from __future__ import annotations

import json
from typing import Any

from bpsn.simulator.bigpanda.errors import bad_request

from .config import MISSING, CompiledConfig, field_tag_name, resolve
from .filter import matches
from .timeformat import read_time

MAX_DESCRIPTION = 2048


def populated(value: Any) -> bool:
    return value is not MISSING and value is not None and value != "" and value != [] and value != {}


def first_populated(root: dict[str, Any], sources: tuple[str, ...]) -> Any:
    for path in sources:
        value = resolve(root, path)
        if populated(value):
            return value
    return MISSING


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "|".join(_text(v) for v in value)
    return str(value)


def _put(tags: dict[str, Any], name: str, value: Any, flatten: bool) -> None:
    if isinstance(value, dict):
        if not flatten:
            tags[name] = json.dumps(value, separators=(",", ":"), sort_keys=True)
            return
        for key, inner in value.items():
            sub = field_tag_name(f"{name}_{key}")
            if sub and populated(inner):
                _put(tags, sub, inner, flatten)
    elif isinstance(value, list) and not all(_scalar(v) for v in value):
        tags[name] = json.dumps(value, separators=(",", ":"), sort_keys=True)
    else:
        tags[name] = value


def _lower(value: Any) -> Any:
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, list):
        return [_lower(v) for v in value]
    return value


def event_time(value: Any, fmt: str | None = None) -> float | None:
    return read_time(value, fmt)


def status_of(cfg: CompiledConfig, root: dict[str, Any]) -> str:
    for path in cfg.status_sources:
        value = resolve(root, path)
        if not populated(value) or not _scalar(value):
            continue
        text = _text(value)
        for status, values in cfg.status_map:
            if text in values:
                return status
    return cfg.default_status


def timestamp_of(cfg: CompiledConfig, root: dict[str, Any], now: float) -> float:
    if cfg.ingest_time:
        return now
    for path in cfg.timestamp_sources:
        value = resolve(root, path)
        if populated(value) and (ts := event_time(value, cfg.timestamp_format)) is not None:
            return ts
    return now


def build_alert(cfg: CompiledConfig, root: dict[str, Any], *, now: float, where: str) -> dict[str, Any] | None:
    """The alert for one event, or None when `event_filter` drops it."""
    tags: dict[str, Any] = {}
    for rule in cfg.rules:
        value = first_populated(root, rule.sources)
        if value is MISSING:
            value = rule.default
        if populated(value):
            _put(tags, rule.name, value, rule.flatten)
    if cfg.map_remaining:
        for key, value in root.items():
            name = field_tag_name(key) if key not in cfg.mapped_fields else None
            if name is None or name in tags or not populated(value):
                continue
            if _scalar(value) or (cfg.map_remaining_flatten_array and isinstance(value, list)
                                  and all(_scalar(v) for v in value)):
                tags[name] = value
    if cfg.force_lowercase:
        tags = {k: v if k == "description" else _lower(v) for k, v in tags.items()}
    status = status_of(cfg, root)
    if cfg.event_filter is not None and matches(cfg.event_filter, {**{k: _text(v) for k, v in tags.items()},
                                                                   "status": status}):
        return None
    description = tags.pop("description", None)
    primary = next((n for n in cfg.primary if populated(tags.get(n, MISSING))), None)
    if primary is None:
        raise bad_request(f"{where}: no primary property: tag {' / '.join(cfg.primary)} has no value (its sources "
                          "are empty and it has no default); BigPanda cannot receive events without a primary "
                          "property")
    alert: dict[str, Any] = {"status": status, "timestamp": timestamp_of(cfg, root, now), **tags,
                             "primary_property": primary}
    if description is not None:
        alert["description"] = _text(description)[:MAX_DESCRIPTION]
    secondary = next((n for n in cfg.secondary if populated(tags.get(n, MISSING))), None)
    if secondary is not None:
        alert["secondary_property"] = secondary
    if cfg.incident_identifier:
        values = [_text(tags[t]) if t in tags else "" for t in cfg.incident_identifier]
        if any(values):
            alert["incident_identifier"] = "__".join(values)
    return alert
