"""Turns an alerts-API payload into normalised events, or a 400 that says what is wrong.

Rules from BigPanda's alert object: status is one of five; the primary property is the
tag named by `primary_property`, else the first of host / service / application / device;
the secondary is `secondary_property`, else check / sensor; `incident_identifier` overrides
the dedup key; description <= 2048 characters; a tag value is a string, a number or an
array (<= 30 items of <= 512 characters, joined with '|'); nested objects are refused.
"""

from __future__ import annotations

from typing import Any

from bpsn.simulator.bigpanda.errors import BpError, bad_request
from bpsn.simulator.bigpanda.models import ALERT_STATUSES, AlertEvent, make_alert_event

PRIMARY_DEFAULTS = ("host", "service", "application", "device")
SECONDARY_DEFAULTS = ("check", "sensor")
RESERVED = {"app_key", "status", "timestamp", "description", "primary_property", "secondary_property",
            "incident_identifier", "alerts"}
MAX_DESCRIPTION = 2048
MAX_ARRAY_ITEMS = 30
MAX_VALUE_CHARS = 512
MAX_BATCH = 1000
_STATUS_AS_SENT = {status: status for status in ALERT_STATUSES}


def _any_case(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" for c in word)


# The rules above as JSON Schema, for the OpenAPI document. What it cannot say: the primary
# property must be present and non-empty, and the app key must name an integration.
_TAG_SCALAR: dict[str, Any] = {"type": ["string", "number", "boolean", "null"]}
_FIELDS: dict[str, Any] = {
    "status": {"type": "string", "description": f"One of {', '.join(ALERT_STATUSES)}, in any (ASCII) case",
               "pattern": "^(" + "|".join(_any_case(s) for s in ALERT_STATUSES) + ")$"},
    "timestamp": {"type": "number", "minimum": 0, "maximum": 1e11, "description": "Epoch seconds"},
    "description": {"type": "string", "maxLength": MAX_DESCRIPTION},
    "primary_property": {"type": ["string", "null"], "description": "The tag that is the primary property"},
    "secondary_property": {"type": ["string", "null"]},
    "incident_identifier": {"type": ["string", "null"], "description": "Overrides the dedup key"},
}
_TAG: dict[str, Any] = {"description": "A tag", "anyOf": [_TAG_SCALAR, {
    "type": "array", "maxItems": MAX_ARRAY_ITEMS,
    "items": {"anyOf": [{"type": "string", "maxLength": MAX_VALUE_CHARS}, {"type": ["number", "boolean", "null"]}]}}]}
ALERT_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["status"], "additionalProperties": _TAG,
    "properties": {**_FIELDS, "app_key": {"type": ["string", "null"]}},
    "not": {"required": ["alerts"]},  # a body with `alerts` is a batch
}
BATCH_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["alerts"],
    "properties": {"app_key": {"type": ["string", "null"]}, "alerts": {
        "type": "array", "minItems": 1, "maxItems": MAX_BATCH, "items": {
            "type": "object", "required": ["status"], "additionalProperties": _TAG,
            "properties": {**_FIELDS, "app_key": {"description": "Ignored: the batch's app_key counts"},
                           "alerts": {"description": "Ignored in a batch item"}}}}},
}
BODY_SCHEMA: dict[str, Any] = {"anyOf": [ALERT_SCHEMA, BATCH_SCHEMA]}


def _tag_value(name: str, value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        if len(value) > MAX_ARRAY_ITEMS:
            raise bad_request(f"{where}: tag '{name}' has {len(value)} values; at most {MAX_ARRAY_ITEMS} are allowed")
        items = []
        for item in value:
            if isinstance(item, (dict, list)):
                raise bad_request(f"{where}: tag '{name}' holds a nested value; nested objects are not supported")
            text = _tag_value(name, item, where)
            if len(text) > MAX_VALUE_CHARS:
                raise bad_request(f"{where}: a value of tag '{name}' is longer than {MAX_VALUE_CHARS} characters")
            items.append(text)
        return "|".join(items)
    if value is None:
        return ""
    raise bad_request(f"{where}: tag '{name}' is an object; nested objects are not supported")


def normalize_all(raws: list[Any], now: float, source_system: str) -> list[AlertEvent]:
    """Every alert of a batch, or the 400 of the first bad one. Messages name an alert by its
    position; that text is made only when an alert is refused (normalising is pure, so the
    refused alert is normalised again with its position), not for each alert (issue #19)."""
    events: list[AlertEvent] = []
    append = events.append
    try:
        for raw in raws:
            append(_normalize(raw, now, source_system, "alert"))
    except BpError:
        where = f"alerts[{len(events)}]" if len(raws) > 1 else "alert"
        _normalize(raws[len(events)], now, source_system, where)
        raise
    return events


def normalize(raw: Any, *, now: float, source_system: str, where: str = "alert") -> AlertEvent:
    return _normalize(raw, now, source_system, where)


def _normalize(raw: Any, now: float, source_system: str, where: str) -> AlertEvent:
    if not isinstance(raw, dict):
        raise bad_request(f"{where}: an alert must be a JSON object")
    sent = raw.get("status")
    status = _STATUS_AS_SENT.get(sent) if type(sent) is str else None  # the usual spelling: no lower()
    if status is None:
        status = sent.lower() if isinstance(sent, str) and sent.isascii() else None
        if status not in ALERT_STATUSES:
            raise bad_request(f"{where}: status must be one of {', '.join(ALERT_STATUSES)} (got {sent!r})")
    timestamp = raw.get("timestamp", now)
    if type(timestamp) is not float and type(timestamp) is not int:  # the two JSON gives, checked first
        if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float)):
            raise bad_request(f"{where}: timestamp must be epoch seconds")
    if timestamp < 0:
        raise bad_request(f"{where}: timestamp must be epoch seconds")
    if timestamp > 1e11:
        raise bad_request(f"{where}: timestamp {timestamp} looks like milliseconds; send epoch seconds")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise bad_request(f"{where}: description must be a string")
    if len(description) > MAX_DESCRIPTION:
        raise bad_request(f"{where}: description is {len(description)} characters; at most {MAX_DESCRIPTION} are allowed")
    tags: dict[str, str] = {}
    for name, value in raw.items():  # a loop, not a call per tag: most values are already strings
        if value is not None and name not in RESERVED:
            tags[name] = value if type(value) is str else _tag_value(name, value, where)
    if "primary_property" not in raw and "secondary_property" not in raw and tags.get("host") and tags.get("check"):
        primary, secondary = "host", "check"  # the usual alert: _property's answers, without its calls
    else:
        primary = _property(raw, tags, "primary_property", PRIMARY_DEFAULTS, where)
        if primary is None:
            raise bad_request(
                f"{where}: no primary property: send one of {', '.join(PRIMARY_DEFAULTS)}, "
                "or name a tag that is present in primary_property")
        secondary = _property(raw, tags, "secondary_property", SECONDARY_DEFAULTS, where)
    identifier = raw.get("incident_identifier")
    if identifier is not None and not isinstance(identifier, str):
        raise bad_request(f"{where}: incident_identifier must be a string")
    primary_value = tags[primary]  # never empty: see _property
    secondary_key_part = tags.get(secondary or "")  # (a tag named "" counts when there is no secondary)
    key = identifier or (f"{primary_value}__{secondary_key_part}" if secondary_key_part else primary_value)
    return make_alert_event(  # AlertEvent(...), every field in order (models.positional_constructor)
        "unknown" if status == "acknowledged" else status, float(timestamp), primary, primary_value,
        secondary, tags.get(secondary) if secondary else None, key, description, tags, source_system,
        status == "acknowledged")


def _property(raw: dict[str, Any], tags: dict[str, str], explicit: str,
              defaults: tuple[str, ...], where: str) -> str | None:
    named = raw.get(explicit)
    if named is not None:
        if not isinstance(named, str) or not tags.get(named):
            raise bad_request(f"{where}: {explicit} names tag {named!r}, which the alert does not carry")
        return named
    for default in defaults:
        if tags.get(default):
            return default
    return None


def split_batch(body: Any) -> tuple[str | None, list[Any]]:
    """Either one alert or {"app_key", "alerts": [...]}; returns (app_key, raw alerts)."""
    if not isinstance(body, dict):
        raise bad_request("Call is missing parameters or malformed: the body must be a JSON object")
    if body.get("app_key") is not None and not isinstance(body["app_key"], str):
        raise bad_request("app_key must be a string")
    if "alerts" in body:
        alerts = body["alerts"]
        if not isinstance(alerts, list) or not alerts:
            raise bad_request("alerts must be a non-empty array")
        if len(alerts) > MAX_BATCH:
            raise bad_request(f"a batch holds at most {MAX_BATCH} alerts (got {len(alerts)})")
        return body.get("app_key"), alerts
    return body.get("app_key"), [body]
