"""OIM configuration: the request models, the documented validation rules, and compilation.

Sources are paths into one event (our choice of syntax): `@` then a dotted path from the
event's root, e.g. `@alert.labels.instance`; a segment of digits indexes a list
(`@alerts.0.name`); the leading `@` may be left out. In an array payload (`is_array` with
`array_source`, or `{"alerts": [...]}`) each element is one event and paths start at it.
A field is present in the sample when its path resolves (a JSON null counts as present).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bpsn.simulator.bigpanda.errors import bad_request
from bpsn.simulator.common.bodies import StrictBody

from .filter import Expr, FilterError, parse_filter
from .timeformat import format_problem, read_time

MISSING: Any = object()
TAG_ALLOWED = re.compile(r"[a-z0-9_-]")
RESERVED_TAGS = frozenset({"app_key", "status", "timestamp", "primary_property", "secondary_property",
                           "incident_identifier", "alerts"})
DEFAULT_PRIMARY_NAME, DEFAULT_SECONDARY_NAME = "host", "check"
STATUS_ORDER = ("critical", "warning", "acknowledged", "ok", "unknown")  # status_map's listed order
Status = Literal["critical", "warning", "acknowledged", "ok", "unknown"]
Scalar = str | int | float | bool


class _Open(StrictBody):
    # UI suggestion flags and the like are kept and echoed; documented fields take their JSON type only
    model_config = ConfigDict(extra="allow", strict=True)


class TagRef(_Open):
    name: str = Field(description="A tag defined in additional_attributes, or mapped by map_remaining")


class PropertyV1(_Open):
    source: list[str] = Field(min_length=1, examples=[["@alert.labels.instance"]])
    name: str | None = Field(None, description="Tag name; our choice of default: host (primary), check (secondary)")
    default: Scalar | None = None


class StatusMap(_Open):
    critical: list[str] = []
    warning: list[str] = []
    acknowledged: list[str] = []
    ok: list[str] = []
    unknown: list[str] = []


class StatusConfig(_Open):
    source: list[str] = []
    default_to: Status = "critical"
    status_map: StatusMap = StatusMap()


class TimestampConfig(_Open):
    source: list[str] = []
    format: str | None = Field(None, max_length=100, examples=["%d/%m/%Y %H:%M:%S"],
                               description="epoch_seconds, epoch_millis, iso8601 or a strftime pattern "
                                           "(our choice of syntax); default: epoch or ISO 8601")


class BpTimestamp(_Open):
    is_selected: bool = True


class Attribute(_Open):
    name: str
    source: list[str] = []
    default: Scalar | None = None
    flatten: bool = False


class OimConfig(_Open):
    is_array: bool = False
    array_source: str | None = Field(None, examples=["alerts"])
    primary_property: list[TagRef] | PropertyV1 | None = None
    secondary_property: list[TagRef] | PropertyV1 | None = None
    status: StatusConfig | None = None
    timestamp: TimestampConfig | None = None
    bp_timestamp: BpTimestamp | None = None
    additional_attributes: list[Attribute] = []
    map_remaining: bool = False
    map_remaining_flatten_array: bool = False
    force_lowercase: bool = False
    event_filter: str | None = Field(None, examples=['environment = "dev"'])
    incident_identifier: list[str] | None = None
    version: str | None = Field(None, examples=["2.0"])
    is_default: bool | None = None


class OimConfigBody(_Open):
    config: OimConfig
    sample_payload: dict[str, Any] | str | None = Field(
        None, description="Required on create; on update it must be included but may be blank ({}, \"\" or null)")


class OimConfigOut(BaseModel):
    config: dict[str, Any]
    sample_payload: dict[str, Any]


@dataclass(frozen=True)
class TagRule:
    name: str
    sources: tuple[str, ...]
    default: Any = None
    flatten: bool = False


@dataclass(frozen=True)
class CompiledConfig:
    is_array: bool
    array_source: str | None
    rules: tuple[TagRule, ...]
    primary: tuple[str, ...]
    secondary: tuple[str, ...]
    status_sources: tuple[str, ...]
    status_map: tuple[tuple[str, tuple[str, ...]], ...]
    default_status: str
    timestamp_sources: tuple[str, ...]
    timestamp_format: str | None
    ingest_time: bool
    map_remaining: bool
    map_remaining_flatten_array: bool
    force_lowercase: bool
    event_filter: Expr | None
    incident_identifier: tuple[str, ...]
    mapped_fields: frozenset[str]  # top-level fields some source reads: map_remaining skips them


# --- paths -------------------------------------------------------------------------------------

def split_path(path: str) -> list[str]:
    return path.removeprefix("@").split(".")


def resolve(root: Any, path: str) -> Any:
    current = root
    for seg in split_path(path):
        if isinstance(current, dict) and seg in current:
            current = current[seg]
        elif isinstance(current, list) and seg.isdigit() and int(seg) < len(current):
            current = current[int(seg)]
        else:
            return MISSING
    return current


def sample_events(sample: dict[str, Any], is_array: bool, array_source: str | None) -> list[dict[str, Any]]:
    """The events of a payload: the elements of its array, else the payload itself."""
    source = array_source if is_array and array_source else "alerts"
    items = resolve(sample, source)
    if isinstance(items, list) and items and all(isinstance(i, dict) for i in items):
        return items
    return [sample]


# --- tag names -----------------------------------------------------------------------------------

def tag_name_problems(name: str) -> list[str]:
    problems = []
    if not name or not ("a" <= name[0] <= "z"):
        problems.append("must start with a letter from a to z")
    if len(name) > 64:
        problems.append(f"must be at most 64 characters (it has {len(name)})")
    if any(c.isspace() for c in name):
        problems.append("cannot include spaces")
    bad = sorted({c for c in name if not c.isspace() and not TAG_ALLOWED.fullmatch(c)})
    if bad:
        problems.append("may contain only lowercase letters (a-z), numbers (0-9), underscores (_) and "
                        f"hyphens (-); it contains {', '.join(repr(c) for c in bad)}")
    return problems


def field_tag_name(field: str) -> str | None:
    """The tag map_remaining makes of a top-level field: lowercased, other characters as '_'."""
    name = re.sub(r"[^a-z0-9_-]", "_", field.lower())[:64]
    return name if name and "a" <= name[0] <= "z" and name not in RESERVED_TAGS else None


# --- validation and compilation ---------------------------------------------------------------------

class _Checker:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.sources: list[tuple[str, str]] = []  # (where, path)

    def tag(self, where: str, name: str) -> None:
        if problems := tag_name_problems(name):
            self.errors.append(f"{where}: tag name {name!r} {'; '.join(problems)}")
        elif name in RESERVED_TAGS:
            self.errors.append(f"{where}: tag name {name!r} is reserved for the alert's own field")

    def paths(self, where: str, paths: list[str]) -> tuple[str, ...]:
        for i, path in enumerate(paths):
            if not path.removeprefix("@") or any(not seg for seg in split_path(path)):
                self.errors.append(f"{where}[{i}]: {path!r} is not a valid source path "
                                   "(use @ and a dotted path, e.g. @alert.labels.instance)")
            else:
                self.sources.append((f"{where}[{i}]", path))
        return tuple(paths)


def unreadable_times(events: list[dict[str, Any]], sources: tuple[str, ...], fmt: str) -> list[str]:
    """The sample's timestamp values that `fmt` cannot read (a null or absent value is not checked)."""
    return [f"config.timestamp.format {fmt!r} cannot read the sample payload's {path} value {value!r}"
            for e in events for path in sources
            if (value := resolve(e, path)) is not MISSING and value not in (None, "")
            and read_time(value, fmt) is None]


def compile_config(config: OimConfig, sample: dict[str, Any]) -> CompiledConfig:
    """Validate `config` against `sample`; every problem is named in one 400."""
    c = _Checker()
    rules: list[TagRule] = []

    def prop(key: str, value: list[TagRef] | PropertyV1 | None, default_name: str) -> tuple[str, ...]:
        if isinstance(value, PropertyV1):
            name = value.name or default_name
            c.tag(f"config.{key}.name", name)
            rules.append(TagRule(name, c.paths(f"config.{key}.source", value.source), value.default))
            return (name,)
        names = tuple(ref.name for ref in value or [])
        for i, name in enumerate(names):
            c.tag(f"config.{key}[{i}].name", name)
        return names

    primary = prop("primary_property", config.primary_property, DEFAULT_PRIMARY_NAME)
    if not primary:
        c.errors.append("config.primary_property is required: BigPanda cannot receive events without "
                        "a primary property")
    secondary = prop("secondary_property", config.secondary_property, DEFAULT_SECONDARY_NAME)
    for i, attr in enumerate(config.additional_attributes):
        c.tag(f"config.additional_attributes[{i}].name", attr.name)
        sources = c.paths(f"config.additional_attributes[{i}].source", attr.source)
        if not sources and attr.default is None:
            c.errors.append(f"config.additional_attributes[{i}] ({attr.name!r}) needs a source or a default")
        rules.append(TagRule(attr.name, sources, attr.default, attr.flatten))
    seen: set[str] = set()
    for rule in rules:
        if rule.name in seen:
            c.errors.append(f"tag {rule.name!r} is defined twice; each tag has one rule")
        seen.add(rule.name)

    status = config.status or StatusConfig()
    status_sources = c.paths("config.status.source", status.source) if config.status else ("status",)
    status_map = (tuple((s, tuple(getattr(status.status_map, s))) for s in STATUS_ORDER) if config.status
                  else tuple((s, (s,)) for s in STATUS_ORDER))
    ts_sources = c.paths("config.timestamp.source", config.timestamp.source) if config.timestamp else ()
    ingest_time = config.bp_timestamp.is_selected if config.bp_timestamp else not ts_sources
    ts_format = config.timestamp.format if config.timestamp else None
    if ts_format is not None and (problem := format_problem(ts_format)):
        c.errors.append(f"config.timestamp.format: {problem}")

    event_filter = None
    if config.event_filter is not None and config.event_filter.strip():
        try:
            event_filter = parse_filter(config.event_filter)
        except FilterError as e:
            c.errors.append(f"config.event_filter is not valid BPQL: {e}")
    if config.is_array and not config.array_source:
        c.errors.append("config.array_source is required when is_array is true")
    elif config.is_array and not isinstance(resolve(sample, config.array_source or ""), list):
        c.errors.append(f"config.array_source {config.array_source!r} is not an array in the sample payload")

    events = sample_events(sample, config.is_array, config.array_source)
    mapped_fields = frozenset(split_path(p)[0] for _, p in c.sources)
    missing = [f"{path} ({where})" for where, path in c.sources
               if all(resolve(e, path) is MISSING for e in events)]
    if missing:
        c.errors.append("fields referenced by the configuration are missing from the sample payload: "
                        + ", ".join(missing))
    elif ts_format is not None and not ingest_time and not c.errors:
        c.errors += unreadable_times(events, ts_sources, ts_format)
    remaining = {name for e in events for k in e if k not in mapped_fields and (name := field_tag_name(k))}
    for key, names in (("primary_property", primary), ("secondary_property", secondary),
                       ("incident_identifier", tuple(config.incident_identifier or ()))):
        for i, name in enumerate(names):
            if key == "incident_identifier":
                c.tag(f"config.incident_identifier[{i}]", name)
            if name in seen or (config.map_remaining and name in remaining):
                continue
            how = ("and no top-level field of the sample payload maps to it" if config.map_remaining
                   else "and map_remaining is off")
            c.errors.append(f"config.{key} names tag {name!r}, which no additional_attributes entry defines {how}")
    if c.errors:
        raise bad_request(*c.errors)
    return CompiledConfig(
        is_array=config.is_array, array_source=config.array_source, rules=tuple(rules), primary=primary,
        secondary=secondary, status_sources=status_sources, status_map=status_map,
        default_status=status.default_to, timestamp_sources=ts_sources, timestamp_format=ts_format,
        ingest_time=ingest_time,
        map_remaining=config.map_remaining, map_remaining_flatten_array=config.map_remaining_flatten_array,
        force_lowercase=config.force_lowercase, event_filter=event_filter,
        incident_identifier=tuple(config.incident_identifier or ()), mapped_fields=mapped_fields)
