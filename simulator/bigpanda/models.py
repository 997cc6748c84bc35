"""BigPanda state as plain dataclasses: alerts, incidents, environments, shares."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from .bpql import evaluate, parse

T = TypeVar("T")

# worst first; "ok" ends an alert
STATUS_RANK = {"critical": 3, "warning": 2, "unknown": 1, "ok": 0}
ALERT_STATUSES = ("ok", "critical", "warning", "unknown", "acknowledged")


def worst(statuses: list[str]) -> str:
    """The first of the worst statuses ("ok" for none): max() with a key, without a call per item
    (it runs for every alert an incident gains)."""
    if not statuses:
        return "ok"
    found, rank = statuses[0], STATUS_RANK.get(statuses[0], 0)
    for status in statuses:
        r = STATUS_RANK.get(status, 0)
        if r > rank:
            found, rank = status, r
    return found


@dataclass
class AlertEvent:
    """One normalised event, as the alerts API accepted it."""

    status: str
    timestamp: float
    primary_property: str
    primary_value: str
    secondary_property: str | None
    secondary_value: str | None
    incident_key: str
    description: str
    tags: dict[str, str]
    source_system: str
    acknowledged: bool = False


@dataclass
class Alert:
    id: str
    incident_key: str
    incident_id: str
    status: str
    primary_property: str
    secondary_property: str | None
    source_system: str
    description: str
    tags: dict[str, str]
    start: float
    changed_at: float
    updated_at: float
    last_event_at: float
    end: float | None = None
    acknowledged: bool = False
    maintenance_plans: list[str] = field(default_factory=list)
    fingerprint: tuple[Any, ...] = ()

    @property
    def active(self) -> bool:
        return self.status != "ok"


@dataclass
class Snooze:
    snoozed: bool = False
    end_time: float | None = None
    cancel_on_incident_updates: bool = False


@dataclass
class Ticket:
    system: str
    number: str
    sys_id: str
    url: str
    updated_at: float


@dataclass
class Activity:
    id: str
    type: str
    timestamp: float
    created_by: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Incident:
    id: str
    organization: str
    alert_ids: list[str]
    status: str
    severity: str
    active: bool
    start: float
    changed_at: float
    updated_at: float
    end: float | None = None
    flapping: bool = False
    flips: list[float] = field(default_factory=list)
    snooze: Snooze = field(default_factory=Snooze)
    environments: list[str] = field(default_factory=list)
    incident_tags: dict[str, str] = field(default_factory=dict)
    correlation_keys: list[tuple[str, ...]] = field(default_factory=list)
    tickets: list[Ticket] = field(default_factory=list)
    activities: list[Activity] = field(default_factory=list)
    version: int = 1
    assignee: str | None = None
    tag_meta: dict[str, tuple[str, float]] = field(default_factory=dict)  # tag id -> (set by, when)
    merged_into: str | None = None


@dataclass
class Environment:
    id: str
    name: str
    filter: str = ""  # BPQL; empty = every incident
    autoshare_targets: list[str] = field(default_factory=list)
    description: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass
class CorrelationPattern:
    """Alerts with equal values of every tag in `tags`, within `window` seconds of the
    incident's start, join one incident. `filter` (BPQL over the alert's tags, e.g.
    `region = "eu-*"`; empty for every alert) limits the alerts it applies to."""

    id: str
    tags: list[str]
    window: float
    filter: str = ""
    active: bool = True

    def key(self, tags: dict[str, str]) -> tuple[str, ...] | None:
        if not self.active:
            return None
        if len(self.tags) == 1 and not self.filter:  # the built-in patterns: one tag, every alert
            value = tags.get(self.tags[0])
            return (self.id, str(value)) if value else None
        values = [tags.get(t) for t in self.tags]
        if any(not v for v in values):
            return None
        if self.filter:  # parse is lru_cached: cheap per alert
            if not evaluate(parse(self.filter), lambda f: [tags[f]] if f in tags else []):
                return None
        return (self.id, *[str(v) for v in values])


def positional_constructor(cls: type[T]) -> Callable[..., T]:
    """A function taking every field of dataclass `cls` in order, that makes what cls(*values) makes
    without calling cls: type.__call__ runs the dataclass __init__ as a new interpreter frame entered
    from C, a plain function called from Python runs in the caller's (about a tenth of a construction
    under callgrind; these run several times per alert, issue #19). It sets the fields as that
    __init__ does; a class whose making does more or other (__post_init__, frozen, slots, an init=False
    field or an InitVar, its own __init__ or __new__) gets cls itself."""
    params = getattr(cls, "__dataclass_params__", None)
    init = getattr(cls, "__init__", None)
    if (params is None or params.frozen or not params.init or hasattr(cls, "__post_init__")
            or "__slots__" in cls.__dict__ or cls.__new__ is not object.__new__
            or getattr(getattr(init, "__code__", None), "co_filename", None) != "<string>"):  # not dataclass-made
        return cls
    names = [f.name for f in fields(cls)]
    if any(not f.init for f in fields(cls)) or list(inspect.signature(cls).parameters) != names:  # InitVar
        return cls
    # dunder locals: no field can be named so (a field named "self" is fine)
    source = (f"def make_{cls.__name__}({', '.join(names)}):\n    __made = __new(__cls)\n"
              + "".join(f"    __made.{name} = {name}\n" for name in names) + "    return __made\n")
    namespace: dict[str, Any] = {"__new": object.__new__, "__cls": cls}
    exec(source, namespace)  # as dataclasses writes __init__
    return namespace[f"make_{cls.__name__}"]  # type: ignore[no-any-return]


# For the ingest path: every field, positional, in the field order.
make_alert_event = positional_constructor(AlertEvent)
make_alert = positional_constructor(Alert)
make_incident = positional_constructor(Incident)
make_activity = positional_constructor(Activity)
