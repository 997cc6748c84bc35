"""Maintenance plans of one organisation, and their BPQL conditions: plain state, no HTTP.

A condition is BigPanda's BPQL *object* form, compiled once on create/update into a predicate
over an alert's tags, so a bad condition is refused with a 400 that names where it is wrong:

    {"=": [tag, value]}  {"!=": [tag, value]}  {"IN": [tag, [v1, v2, ...]]}
    {"AND": [c1, c2, ...]}  {"OR": [c1, ...]}  {"NOT": c}

A value is a string (exact; `*` is a wildcard for any run of characters), a number or
boolean (compared as text), or `{"type": "regex"|"formal-regex", "value": "..."}`: `regex`
matches the whole value case-insensitively, `formal-regex` is a case-sensitive full match as
given. Patterns and wildcards run on RE2 (bpsn.base.user_regex), in time linear in the tag value,
so a plan's condition cannot stall alert ingestion; a pattern RE2 refuses (a backreference or
lookaround) is a 400 naming it.
Our choices: a tag missing from the alert never equals anything (so `!=` matches it); a tag
holding several values (`a|b`, from an array) matches when the whole or any one value does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bpsn.base.user_regex import UserPatternError, compile_glob, compile_pattern
from bpsn.simulator.bigpanda.errors import BpError, bad_request, not_found

if TYPE_CHECKING:
    from bpsn.base.rng import SeededRandom

MAX_PLANS = 3500
MAX_CONDITION_CHARS = 25_000
MAX_DEPTH = 32

Predicate = Callable[[dict[str, str]], bool]
ValueTest = Callable[[str], bool]


class ConditionError(ValueError):
    """A condition that cannot be compiled; the message says where and why."""


def _value_test(value: Any, where: str) -> ValueTest:
    if isinstance(value, dict):
        if set(value) != {"type", "value"}:
            raise ConditionError(f"{where}: a value object needs exactly 'type' and 'value'")
        kind, pattern = value["type"], value["value"]
        if kind not in ("regex", "formal-regex"):
            raise ConditionError(f"{where}: value type {kind!r} is not known; use 'regex' or 'formal-regex'")
        if not isinstance(pattern, str):
            raise ConditionError(f"{where}: the {kind} value must be a string")
        try:
            compiled = compile_pattern(pattern, ignore_case=kind == "regex")
        except UserPatternError as e:
            raise ConditionError(f"{where}: bad {kind} {e}") from None
        return lambda text: compiled.fullmatch(text) is not None
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, (int, float)):
        value = str(value)
    if not isinstance(value, str):
        raise ConditionError(f"{where}: a value must be a string, a number or a regex object")
    if "*" in value:
        try:
            glob = compile_glob(value)
        except UserPatternError as e:
            raise ConditionError(f"{where}: bad wildcard {e}") from None
        return lambda text: glob.fullmatch(text) is not None
    return lambda text: text == value


def _tag_matcher(tag: str, tests: list[ValueTest]) -> Predicate:
    def match(tags: dict[str, str]) -> bool:
        text = tags.get(tag)
        if text is None:
            return False
        candidates = [text, *text.split("|")] if "|" in text else [text]
        return any(t(c) for t in tests for c in candidates)
    return match


def _pair(args: Any, op: str, where: str) -> tuple[str, Any]:
    if not isinstance(args, list) or len(args) != 2:
        raise ConditionError(f"{where}: {op} takes [tag, value], a list of exactly 2 items")
    tag = args[0]
    if not isinstance(tag, str) or not tag:
        raise ConditionError(f"{where}: the tag name must be a non-empty string")
    return tag, args[1]


def compile_condition(condition: Any, where: str = "condition", depth: int = 0) -> Predicate:
    if depth > MAX_DEPTH:
        raise ConditionError(f"{where}: nested more than {MAX_DEPTH} levels deep")
    if not isinstance(condition, dict) or len(condition) != 1:
        raise ConditionError(f"{where}: a condition must be an object with exactly one operator")
    [(op, args)] = condition.items()
    name = op.upper() if isinstance(op, str) else op
    here = f"{where}.{op}"
    if name in ("=", "!="):
        tag, value = _pair(args, name, here)
        equal = _tag_matcher(tag, [_value_test(value, f"{here}[1]")])
        return equal if name == "=" else (lambda tags: not equal(tags))
    if name == "IN":
        tag, values = _pair(args, name, here)
        if not isinstance(values, list) or not values:
            raise ConditionError(f"{here}[1]: IN takes a non-empty list of values")
        return _tag_matcher(tag, [_value_test(v, f"{here}[1][{i}]") for i, v in enumerate(values)])
    if name in ("AND", "OR"):
        if not isinstance(args, list) or not args:
            raise ConditionError(f"{here}: {name} takes a non-empty list of conditions")
        parts = [compile_condition(c, f"{here}[{i}]", depth + 1) for i, c in enumerate(args)]
        if name == "AND":
            return lambda tags: all(p(tags) for p in parts)
        return lambda tags: any(p(tags) for p in parts)
    if name == "NOT":
        if isinstance(args, list):
            if len(args) != 1:
                raise ConditionError(f"{here}: NOT takes one condition")
            args = args[0]
        inner = compile_condition(args, here, depth + 1)
        return lambda tags: not inner(tags)
    raise ConditionError(f"{where}: operator {op!r} is not known; use =, !=, IN, AND, OR or NOT")


def check_condition(condition: Any) -> Predicate:
    """Compile a condition sent over HTTP, or raise the 400 that says what is wrong."""
    try:
        predicate = compile_condition(condition)
        size = len(json.dumps(condition, separators=(",", ":")))
    except ConditionError as e:
        raise bad_request(str(e)) from None
    if size > MAX_CONDITION_CHARS:
        raise bad_request(f"condition is {size} characters when serialised; at most {MAX_CONDITION_CHARS} are allowed")
    return predicate


@dataclass
class Plan:
    id: str
    name: str
    condition: dict[str, Any]
    start: int
    end: int
    created_at: float
    created_by: str
    updated_at: float
    updated_by: str
    maintenance_key: str
    time_zone: str = "UTC"
    description: str = ""
    custom_tags: list[dict[str, str]] = field(default_factory=list)
    frequency: str | None = None
    frequency_data: dict[str, Any] | None = None
    post_maintenance_action: str = "None"
    predicate: Predicate = field(default=lambda tags: False, repr=False, compare=False)

    def status(self, now: float) -> str:
        if now < self.start:
            return "planned"
        return "active" if now < self.end else "expired"

    def to_dict(self, now: float) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "condition": self.condition, "start": self.start,
                "end": self.end, "time_zone": self.time_zone, "description": self.description,
                "custom_tags": [dict(t) for t in self.custom_tags], "frequency": self.frequency,
                "frequency_data": self.frequency_data, "post_maintenance_action": self.post_maintenance_action,
                "maintenance_key": self.maintenance_key, "status": self.status(now),
                "created_at": int(self.created_at), "created_by": self.created_by,
                "updated_at": int(self.updated_at), "updated_by": self.updated_by}


EDITABLE = ("name", "condition", "start", "end", "time_zone", "description", "custom_tags", "frequency",
            "frequency_data", "post_maintenance_action", "maintenance_key")
REQUIRED = ("name", "condition", "start", "end")
DEFAULTS: dict[str, Any] = {"time_zone": "UTC", "description": "", "custom_tags": [],
                            "post_maintenance_action": "None"}


class MaintenanceStore:
    def __init__(self) -> None:
        self.plans: dict[str, Plan] = {}  # insertion order = creation order

    def reset(self) -> None:
        self.plans.clear()

    def get(self, plan_id: str) -> Plan:
        plan = self.plans.get(plan_id)
        if plan is None:
            raise not_found(f"Maintenance plan {plan_id}")
        return plan

    @staticmethod
    def _validate(values: dict[str, Any], *, window: bool = True) -> Predicate:
        missing = [f for f in REQUIRED if values.get(f) is None]
        if missing:
            raise bad_request(*(f"{f} is required and may not be null" for f in missing))
        if window and values["end"] <= values["start"]:
            raise bad_request(f"end ({values['end']}) must be after start ({values['start']})")
        return check_condition(values["condition"])

    def create(self, fields: dict[str, Any], *, rng: SeededRandom, by: str, now: float) -> Plan:
        if len(self.plans) >= MAX_PLANS:
            raise bad_request(f"at most {MAX_PLANS} maintenance plans are allowed per organization; "
                              "delete some first")
        values = {**DEFAULTS, **{k: v for k, v in fields.items() if v is not None}}
        predicate = self._validate(values)
        values["custom_tags"] = [dict(t) for t in values["custom_tags"]]
        plan_id = rng.object_id()
        values.setdefault("maintenance_key", f"bpsn-mp-{rng.object_id()}")  # after validation: ids stay seeded
        plan = Plan(id=plan_id, created_at=now, created_by=by, updated_at=now, updated_by=by,
                    predicate=predicate, **{k: values[k] for k in EDITABLE if k in values})
        self.plans[plan.id] = plan
        return plan

    def update(self, plan_id: str, fields: dict[str, Any], *, by: str, now: float) -> Plan:
        """A partial update, validated as a whole before anything changes."""
        plan = self.get(plan_id)
        values = {k: getattr(plan, k) for k in EDITABLE}
        values.update(fields)
        for name, default in DEFAULTS.items():
            if values.get(name) is None:
                values[name] = list(default) if isinstance(default, list) else default
        if values.get("maintenance_key") is None and "maintenance_key" in fields:
            raise bad_request("maintenance_key may not be null")
        # a plan stopped in the second it started has end == start: only a new window must be valid
        plan.predicate = self._validate(values, window="start" in fields or "end" in fields)
        for k in EDITABLE:
            setattr(plan, k, values[k])
        plan.updated_at, plan.updated_by = now, by
        return plan

    def delete(self, plan_id: str) -> None:
        self.get(plan_id)
        del self.plans[plan_id]

    def stop(self, plan_id: str, *, by: str, now: float) -> Plan:
        plan = self.get(plan_id)
        status = plan.status(now)
        if status != "active":
            why = "has already ended" if status == "expired" else "has not started; delete it or move its window"
            raise BpError(409, f"maintenance plan {plan_id} {why}")
        plan.end = max(int(now), plan.start)  # whole seconds, floored: expired from this moment on
        plan.updated_at, plan.updated_by = now, by
        return plan

    def page(self, page: int, per_page: int) -> tuple[list[Plan], int]:
        plans = list(self.plans.values())
        return plans[(page - 1) * per_page: page * per_page], len(plans)

    def matching_plans(self, tags: dict[str, str], now: float) -> list[str]:
        """Ids of the plans active at `now` whose condition matches these alert tags."""
        if not self.plans:  # the usual case, at every alert event
            return []
        return [p.id for p in self.plans.values() if p.status(now) == "active" and p.predicate(tags)]
