"""From what an engineer wrote to a Rule, or a refusal that names the rule, the part and why.

Every problem of a rule is collected before refusing, so one save shows them all. A rule is
refused when it cannot work: no conditions or actions, an unknown operator, a bad regular
expression (one RE2 refuses: a rule runs on every share, so backreferences and lookaround,
which need backtracking, are refused too), a value the operator cannot use, an incident field
ServiceNow does not have, a BigPanda tag that is not defined, an action without a target, or
one whose target the rule itself removes (a skipped record has no ticket to change or note).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from bpsn.base.user_regex import UserPatternError, compile_pattern

from .catalog import PROTECTED_FIELDS, Catalog
from .model import (
    ACTIONS,
    DEFAULT_ORDER,
    MATCH,
    NO_VALUE,
    NUMERIC,
    OPERATORS,
    RUN_ON,
    SOURCE_LABELS,
    SOURCES,
    Action,
    Condition,
    Rule,
)

RULE_KEYS = ("name", "order", "active", "match", "conditions", "actions", "stop_processing", "run_on",
             "description")
CONDITION_KEYS = (*SOURCES, "operator", "value", "ignore_case")
ACTION_KEYS = {"set_field": ("field", "value"), "set_tag": ("tag", "value"), "add_work_note": ("text",),
               "skip_record": ("reason",)}
MAX_NAME = 100
MAX_NOTE = 4000


class RulesError(ValueError):
    """Rules that cannot be saved or run."""


class RuleRefused(RulesError):
    def __init__(self, rule: str, problems: list[str]) -> None:
        super().__init__(f'transform rule "{rule}" refused: ' + "; ".join(problems))
        self.rule, self.problems = rule, problems


class RulesRefused(RulesError):
    """Several rules saved together: nothing is saved when any is refused."""

    def __init__(self, refusals: list[RuleRefused], extra: list[str] | None = None) -> None:
        lines = [str(r) for r in refusals] + list(extra or [])
        super().__init__("\n".join(lines))
        self.refusals = refusals


def _suggest(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=2, cutoff=0.75)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


def _flag(value: Any, key: str, default: bool, problems: list[str]) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "false"):
        return text == "true"
    problems.append(f"{key}: {value!r} is not true or false")
    return default


def _unknown_keys(raw: Mapping[str, Any], allowed: Iterable[str], where: str, problems: list[str]) -> None:
    extra = sorted(str(k) for k in raw if k not in allowed)
    if extra:
        problems.append(f"{where}: unknown key{'s' if len(extra) > 1 else ''} {', '.join(map(repr, extra))} "
                        f"(expected {', '.join(allowed)})")


# --- conditions ---------------------------------------------------------------------------------
def _condition_value(op: str, raw: Mapping[str, Any], fold: bool, where: str,
                     problems: list[str]) -> dict[str, Any]:
    """The value as written and as prepared for evaluation; appends a problem when it cannot work."""
    value = raw.get("value")
    if op in NO_VALUE:
        if value not in (None, ""):
            problems.append(f"{where}: {op.replace('_', ' ')} takes no value (got {value!r})")
        return {"value": None}
    if op == "in_list":
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(v, (str, int, float)) for v in items):
            problems.append(f"{where}: in list needs a list of values, e.g. [\"a\", \"b\"] or \"a, b\"")
            return {"value": ()}
        options = tuple(str(v).strip() for v in items if str(v).strip())
        if not options:
            problems.append(f"{where}: in list needs at least one value")
        return {"value": options, "options": frozenset(o.casefold() if fold else o for o in options)}
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or str(value) == "":
        hint = " (use is empty to test for no value)" if op in ("equals", "not_equals") else ""
        problems.append(f"{where}: {op.replace('_', ' ')} needs a value{hint}")
        return {"value": ""}
    text = str(value)
    if op in NUMERIC:
        try:
            return {"value": text, "number": float(text)}
        except ValueError:
            problems.append(f"{where}: {op.replace('_', ' ')} compares numbers; {text!r} is not a number")
            return {"value": text}
    if op == "regex":
        try:  # RE2, linear in the value: a rule runs on every share, so it must not backtrack
            return {"value": text, "pattern": compile_pattern(text, ignore_case=fold)}
        except UserPatternError as exc:
            problems.append(f"{where}: bad regular expression {text!r}: {exc.reason}")
            return {"value": text}
    return {"value": text, "text": text.casefold() if fold else text}


def parse_condition(i: int, raw: Any, catalog: Catalog, problems: list[str]) -> Condition | None:
    if not isinstance(raw, Mapping):
        problems.append(f"condition {i}: must be an object such as "
                        '{"alert_tag": "host", "operator": "equals", "value": "db-1"}')
        return None
    sources = [s for s in SOURCES if s in raw]
    if len(sources) != 1:
        problems.append(f"condition {i}: name exactly one of {', '.join(SOURCES)} (got "
                        f"{', '.join(sources) or 'none'})")
        return None
    source = sources[0]
    name = str(raw[source] or "").strip()
    op = str(raw.get("operator") or "").strip()
    shown = f'{SOURCE_LABELS[source]} "{name}" {op.replace("_", " ") or "(no operator)"}'
    if isinstance(raw.get("value"), (str, int, float)) and not isinstance(raw.get("value"), bool):
        shown += f' "{raw["value"]}"'
    where = f"condition {i} ({shown})"
    before = len(problems)
    _unknown_keys(raw, CONDITION_KEYS, where, problems)
    if not name:
        problems.append(f"condition {i}: names no {SOURCE_LABELS[source]}")
    elif source == "field" and catalog.fields is not None and name not in catalog.fields:
        problems.append(f"{where}: unknown incident field {name!r}{_suggest(name, catalog.fields)}")
    elif source == "incident_tag" and catalog.tags is not None:
        tag_id = catalog.tag_id(name)
        if tag_id is None:
            problems.append(f"{where}: BigPanda has no incident tag {name!r}{_suggest(name, catalog.tags.values())}")
        else:
            name = tag_id
    if op not in OPERATORS:
        problems.append(f"{where}: unknown operator {op!r}{_suggest(op, OPERATORS)}; use one of {', '.join(OPERATORS)}")
        return None
    fold = _flag(raw.get("ignore_case"), f"{where}: ignore_case", False, problems)
    prepared = _condition_value(op, raw, fold, where, problems)
    if len(problems) > before:
        return None
    return Condition(source, name, op, ignore_case=fold, **prepared)


# --- actions ------------------------------------------------------------------------------------
def _text(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _field_value_problem(name: str, value: str, catalog: Catalog) -> str | None:
    spec = catalog.fields.get(name) if catalog.fields is not None else None
    if spec is None:
        return None
    if spec.type == "integer" and not re.fullmatch(r"-?\d+", value):
        return f"{name} holds whole numbers; {value!r} is not one"
    if spec.type == "boolean" and value not in ("true", "false"):
        return f"{name} holds true or false; not {value!r}"
    if spec.type == "journal":
        return f"{name} is a journal; use the add_work_note action"
    if spec.max_length is not None and len(value) > spec.max_length:
        return f"{name} holds at most {spec.max_length} characters; the value has {len(value)}"
    return None


def parse_action(i: int, raw: Any, catalog: Catalog, problems: list[str]) -> Action | None:
    if not isinstance(raw, Mapping):
        problems.append(f'action {i}: must be an object such as {{"action": "set_field", "field": "category", '
                        '"value": "database"}')
        return None
    kind = str(raw.get("action") or "").strip()
    if kind not in ACTIONS:
        problems.append(f"action {i}: unknown action {kind!r}{_suggest(kind, ACTIONS)}; use one of {', '.join(ACTIONS)}")
        return None
    where = f"action {i} ({kind.replace('_', ' ')})"
    before = len(problems)
    _unknown_keys(raw, ("action", *ACTION_KEYS[kind]), where, problems)
    if kind == "set_field":
        target, value = _text(raw, "field").strip(), _text(raw, "value")
        if not target:
            problems.append(f"{where}: names no field to set")
        elif target.startswith("sys_") or target in PROTECTED_FIELDS:
            why = PROTECTED_FIELDS.get(target, "ServiceNow maintains system fields")
            problems.append(f"{where}: a rule may not set {target!r}: {why}")
        elif catalog.fields is not None and target not in catalog.fields:
            problems.append(f"{where}: unknown incident field {target!r}{_suggest(target, catalog.fields)}")
        else:
            wrong = _field_value_problem(target, value, catalog)
            if wrong:
                problems.append(f"{where}: {wrong}")
    elif kind == "set_tag":
        target, value = _text(raw, "tag").strip(), _text(raw, "value").strip()
        if not target:
            problems.append(f"{where}: names no incident tag to set")
        elif catalog.tags is not None:
            tag_id = catalog.tag_id(target)
            if tag_id is None:
                known = ", ".join(sorted(catalog.tags.values())) or "none"
                problems.append(f"{where}: BigPanda has no incident tag {target!r} (defined: {known})")
            else:
                target = tag_id
        if not value:
            problems.append(f"{where}: needs a value for the tag")
    elif kind == "add_work_note":
        target, value = "", _text(raw, "text").strip()
        if not value:
            problems.append(f"{where}: needs the text of the note")
        elif len(value) > MAX_NOTE:
            problems.append(f"{where}: the note has {len(value)} characters; at most {MAX_NOTE}")
    else:
        target, value = "", _text(raw, "reason").strip()
    if len(problems) > before:
        return None
    return Action(kind, target, value)


# --- rules --------------------------------------------------------------------------------------
def parse_rule(data: Mapping[str, Any], catalog: Catalog | None = None) -> Rule:
    """A Rule, or RuleRefused listing every problem."""
    catalog = catalog or Catalog()
    problems: list[str] = []
    if not isinstance(data, Mapping):
        raise RuleRefused("(unnamed)", ["a rule must be an object with name, conditions and actions"])
    name = str(data.get("name") or "").strip()
    if not name:
        problems.append("name: a rule needs a name")
    elif len(name) > MAX_NAME or any(ord(c) < 32 for c in name):
        problems.append(f"name: at most {MAX_NAME} characters on one line")
    _unknown_keys(data, RULE_KEYS, "rule", problems)
    order = DEFAULT_ORDER
    if data.get("order") not in (None, ""):
        try:
            order = int(str(data["order"]).strip())
        except ValueError:
            problems.append(f"order: {data['order']!r} is not a whole number")
    match = str(data.get("match") or "all").strip().lower()
    if match not in MATCH:
        problems.append(f"match: {match!r} is not one of {', '.join(MATCH)}")
    run_on = str(data.get("run_on") or "always").strip().lower()
    if run_on not in RUN_ON:
        problems.append(f"run_on: {run_on!r} is not one of {', '.join(RUN_ON)}")
    active = _flag(data.get("active"), "active", True, problems)
    stop = _flag(data.get("stop_processing"), "stop_processing", False, problems)

    conditions: list[Condition | None] = []
    raw_conditions = data.get("conditions")
    if not isinstance(raw_conditions, list) or not raw_conditions:
        problems.append("conditions: a rule needs at least one condition (a list)")
    else:
        conditions = [parse_condition(i, c, catalog, problems) for i, c in enumerate(raw_conditions, 1)]
    actions: list[Action | None] = []
    raw_actions = data.get("actions")
    if not isinstance(raw_actions, list) or not raw_actions:
        problems.append("actions: a rule needs at least one action (a list)")
    else:
        actions = [parse_action(i, a, catalog, problems) for i, a in enumerate(raw_actions, 1)]
    if any(a is not None and a.kind == "skip_record" for a in actions):
        for i, a in enumerate(actions, 1):
            if a is not None and a.kind in ("set_field", "add_work_note"):
                problems.append(f"action {i} ({a.describe()}): the rule skips the record, so there is no "
                                "ticket to change")
    if problems:
        raise RuleRefused(name or "(unnamed)", problems)
    return Rule(name=name, conditions=tuple(c for c in conditions if c is not None),
                actions=tuple(a for a in actions if a is not None), order=order, active=active, match=match,
                stop_processing=stop, run_on=run_on, description=str(data.get("description") or "").strip())


def parse_rules(items: Iterable[Mapping[str, Any]], catalog: Catalog | None = None) -> list[Rule]:
    """Every rule, or RulesRefused naming each refused rule (and any name used twice)."""
    rules: list[Rule] = []
    refusals: list[RuleRefused] = []
    for data in items:
        try:
            rules.append(parse_rule(data, catalog))
        except RuleRefused as exc:
            refusals.append(exc)
    seen: dict[str, int] = {}
    for r in rules:
        seen[r.name] = seen.get(r.name, 0) + 1
    twice = [f'rule name "{n}" is used {k} times: names must be unique' for n, k in seen.items() if k > 1]
    if refusals or twice:
        raise RulesRefused(refusals, twice)
    return rules
