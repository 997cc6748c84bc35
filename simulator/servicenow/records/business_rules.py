"""What the platform does on insert and update, as ServiceNow's base business rules do.

Numbers (INC0010001...), defaults, priority from impact x urgency, the incident state model
with its data policy (resolution code and notes to resolve or close), the platform-set
resolution and closure fields, reopen counting and `active`. The after-write rule that notifies
the integration core of changes (an outbound message as data) is in records/outbound.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import compress
from operator import not_

from bpsn.simulator.servicenow.errors import data_policy

from .dictionary import Dictionary, FieldDef

PRIORITY = {  # (impact, urgency) -> priority
    ("1", "1"): "1", ("1", "2"): "2", ("1", "3"): "3",
    ("2", "1"): "2", ("2", "2"): "3", ("2", "3"): "4",
    ("3", "1"): "3", ("3", "2"): "4", ("3", "3"): "5",
}

NEW, IN_PROGRESS, ON_HOLD, RESOLVED, CLOSED, CANCELED = "1", "2", "3", "6", "7", "8"
RESOLVED_STATES = {RESOLVED, CLOSED}
INACTIVE_STATES = {CLOSED, CANCELED}
NUMBER_BASE = 10_000  # the first record of a table gets base + 1, as on a fresh instance


@dataclass(frozen=True)
class Actor:
    user_name: str
    sys_id: str
    roles: frozenset[str] = frozenset()

    def has_role(self, role: str) -> bool:
        return "admin" in self.roles or role in self.roles


class NumberCounters:
    def __init__(self) -> None:
        self.next: dict[str, int] = {}

    def take(self, prefix: str) -> str:
        n = self.next.get(prefix, NUMBER_BASE + 1)
        self.next[prefix] = n + 1
        return f"{prefix}{n:07d}"

    def observe(self, number: str, prefix: str) -> None:
        """Keep counters ahead of numbers that were written explicitly or loaded."""
        digits = number[len(prefix):]
        if number.startswith(prefix) and digits.isdigit():
            self.next[prefix] = max(self.next.get(prefix, NUMBER_BASE + 1), int(digits) + 1)


@dataclass(frozen=True)
class _TablePlan:
    """What the rules read of a table's field map, worked out once per map."""

    fields: dict[str, FieldDef]  # the map it was built for (compared by identity)
    default_names: tuple[str, ...]  # the fields with a default, and (name, default) of each
    defaults: tuple[tuple[str, str], ...]
    prioritised: bool  # impact, urgency and priority are all fields: priority follows the other two


class BusinessRules:
    def __init__(self, dictionary: Dictionary, numbers: NumberCounters) -> None:
        self.dictionary = dictionary
        self.numbers = numbers
        # table -> its plan, kept while the dictionary's field map of the table is the same object
        # (it makes a new one whenever a field is added)
        self._plans: dict[str, _TablePlan] = {}

    def _plan(self, table: str) -> _TablePlan:
        fields = self.dictionary.fields(table)
        known = self._plans.get(table)
        if known is None or known.fields is not fields:
            defaults = tuple((n, f.default) for n, f in fields.items() if f.default is not None)
            known = self._plans[table] = _TablePlan(fields, tuple(n for n, _ in defaults), defaults,
                                                    {"impact", "urgency", "priority"} <= fields.keys())
        return known

    def before_insert(self, table: str, record: dict[str, str], actor: Actor, now: str) -> None:
        plan = self._plan(table)
        fields = plan.fields
        # each empty field with a default takes it: found and written in C, in the defaults' order
        record.update(compress(plan.defaults, map(not_, map(record.get, plan.default_names))))
        prefix = self.dictionary.number_prefix(table)
        if prefix and "number" in fields:
            if record.get("number"):
                self.numbers.observe(record["number"], prefix)
            else:
                record["number"] = self.numbers.take(prefix)
        if "opened_at" in fields and not record.get("opened_at"):
            record["opened_at"] = now
        if "opened_by" in fields and not record.get("opened_by"):
            record["opened_by"] = actor.sys_id
        self._task_rules(table, record, {}, actor, now, plan)

    def before_update(self, table: str, old: dict[str, str], record: dict[str, str],
                      actor: Actor, now: str) -> None:
        self._task_rules(table, record, old, actor, now, self._plan(table))

    def _task_rules(self, table: str, record: dict[str, str], old: dict[str, str],
                    actor: Actor, now: str, plan: _TablePlan) -> None:
        fields = plan.fields
        if plan.prioritised:
            prio = PRIORITY.get((record.get("impact", ""), record.get("urgency", "")))
            if prio:
                record["priority"] = prio
        if "incident" not in self.dictionary.ancestry(table):
            return
        # state and incident_state mirror each other; whichever the caller changed wins
        if record.get("incident_state") != old.get("incident_state") and \
                record.get("state") == old.get("state"):
            record["state"] = record["incident_state"]
        record["incident_state"] = record.get("state", "")
        state, previous = record.get("state", ""), old.get("state", "")
        if state in RESOLVED_STATES and previous not in RESOLVED_STATES:
            missing = [fields[f].label for f in ("close_code", "close_notes") if not record.get(f)]
            if missing:
                raise data_policy(missing)
        if state == ON_HOLD and not record.get("hold_reason"):
            raise data_policy([fields["hold_reason"].label])
        if state == RESOLVED and previous != RESOLVED:
            record["resolved_at"] = now
            record["resolved_by"] = record.get("resolved_by") or actor.sys_id
        if state == CLOSED and previous != CLOSED:
            record["closed_at"] = now
            record["closed_by"] = actor.sys_id
            if not record.get("resolved_at"):
                record["resolved_at"], record["resolved_by"] = now, actor.sys_id
        if previous in RESOLVED_STATES and state not in RESOLVED_STATES | {CANCELED}:
            record["reopen_count"] = str(int(record.get("reopen_count") or 0) + 1)
            record["reopened_time"], record["reopened_by"] = now, actor.sys_id
            for f in ("resolved_at", "resolved_by", "closed_at", "closed_by"):
                record[f] = ""
        if state != ON_HOLD:
            record["hold_reason"] = ""
        record["active"] = "false" if state in INACTIVE_STATES else "true"
