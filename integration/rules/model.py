"""Transform rules as data: conditions, actions and rules. Frozen, comparable, free of I/O.

A rule reads a share three ways (`Condition.source`): the ServiceNow incident fields about to
be written (`field`), the BigPanda incident's tags (`incident_tag`, by tag definition id) and
its alerts' tags (`alert_tag`). Rules are built by `validation.parse_rule`, which refuses one
that cannot work; the prepared parts (compiled regex, number, option set) live on the
condition so evaluating a share does no parsing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bpsn.base.user_regex import UserPattern

SOURCES = ("field", "incident_tag", "alert_tag")
SOURCE_LABELS = {"field": "incident field", "incident_tag": "incident tag", "alert_tag": "alert tag"}
OPERATORS = ("equals", "not_equals", "contains", "starts_with", "ends_with", "regex", "in_list",
             "is_empty", "is_not_empty", "greater_than", "less_than")
NO_VALUE = frozenset({"is_empty", "is_not_empty"})
NUMERIC = frozenset({"greater_than", "less_than"})
# a negated operator holds when its positive twin holds for no value (no alert, for alert tags)
NEGATED = {"not_equals": "equals", "is_empty": "is_not_empty"}
ACTIONS = ("set_field", "set_tag", "skip_record", "add_work_note")
MATCH = ("all", "any")
RUN_ON = ("always", "create", "update")
DEFAULT_ORDER = 100


def _label(operator: str) -> str:
    return operator.replace("_", " ")


@dataclass(frozen=True)
class Condition:
    source: str
    name: str
    operator: str
    value: str | tuple[str, ...] | None = None  # as the engineer wrote it
    ignore_case: bool = False
    # prepared once by validation: what evaluation compares against
    text: str = field(default="", compare=False, repr=False)
    options: frozenset[str] = field(default=frozenset(), compare=False, repr=False)
    number: float = field(default=0.0, compare=False, repr=False)
    pattern: UserPattern | None = field(default=None, compare=False, repr=False)  # RE2: linear time

    def describe(self) -> str:
        what = f'{SOURCE_LABELS[self.source]} "{self.name}" {_label(self.operator)}'
        if isinstance(self.value, tuple):
            what += " [" + ", ".join(f'"{v}"' for v in self.value) + "]"
        elif self.value is not None:
            what += f' "{self.value}"'
        return what + (" (ignoring case)" if self.ignore_case else "")

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {self.source: self.name, "operator": self.operator}
        if self.value is not None:
            data["value"] = list(self.value) if isinstance(self.value, tuple) else self.value
        if self.ignore_case:
            data["ignore_case"] = True
        return data


@dataclass(frozen=True)
class Action:
    kind: str
    target: str = ""  # the field name (set_field) or tag definition id (set_tag)
    value: str = ""  # the field or tag value, the work note's text, the skip reason

    def describe(self) -> str:
        if self.kind == "set_field":
            return f'set field "{self.target}" to "{self.value}"'
        if self.kind == "set_tag":
            return f'set incident tag "{self.target}" to "{self.value}"'
        if self.kind == "add_work_note":
            return f'add work note "{self.value}"'
        return "skip the record" + (f' ("{self.value}")' if self.value else "")

    def to_data(self) -> dict[str, Any]:
        if self.kind == "set_field":
            return {"action": self.kind, "field": self.target, "value": self.value}
        if self.kind == "set_tag":
            return {"action": self.kind, "tag": self.target, "value": self.value}
        if self.kind == "add_work_note":
            return {"action": self.kind, "text": self.value}
        return {"action": self.kind, **({"reason": self.value} if self.value else {})}


@dataclass(frozen=True)
class Rule:
    name: str
    conditions: tuple[Condition, ...]
    actions: tuple[Action, ...]
    order: int = DEFAULT_ORDER
    active: bool = True
    match: str = "all"  # all conditions (AND) or any condition (OR)
    stop_processing: bool = False  # when it matches, no later rule runs
    run_on: str = "always"  # always, create (new tickets only) or update (existing tickets only)
    description: str = ""
    sys_id: str = field(default="", compare=False)

    @property
    def sort_key(self) -> tuple[int, str]:
        return self.order, self.name

    def runs_on(self, is_new: bool) -> bool:
        return self.run_on == "always" or (self.run_on == "create") == is_new

    def to_data(self) -> dict[str, Any]:
        """The rule as an engineer writes it (a rules file, or the JSON columns of the table)."""
        data: dict[str, Any] = {"name": self.name, "order": self.order, "active": self.active, "match": self.match,
                                "conditions": [c.to_data() for c in self.conditions],
                                "actions": [a.to_data() for a in self.actions],
                                "stop_processing": self.stop_processing, "run_on": self.run_on}
        if self.description:
            data["description"] = self.description
        return data
