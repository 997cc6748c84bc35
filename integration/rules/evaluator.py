"""The ordered evaluator: rules in, what to write out, with a trace of every rule. No I/O.

`evaluate(rules, share_incident, ticket_fields, *, dry_run)` runs the rules by (order, name).
A matching rule's actions run in their order; a rule with stop_processing, or one that skips
the record, ends the run. In dry-run mode the rules run the same way (inactive ones too,
unless told otherwise), the trace tells what each would have done, and the outcome changes
nothing: the fields are the ones given, no tags, no notes, no skip.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .actions import Change, apply
from .conditions import holds
from .model import Rule
from .state import ShareState

MATCHED, NOT_MATCHED, INACTIVE, NOT_THIS_WRITE, NOT_REACHED = (
    "matched", "not matched", "inactive", "not for this write", "not reached")


@dataclass(slots=True)
class RuleTrace:
    """Read-only by convention: one is built per rule per share, and a frozen dataclass's
    __init__ costs five times as much (bpsn/bench/rules.py)."""

    rule: Rule
    status: str
    # per condition: True / False, or None when the outcome was decided before it was tested
    conditions: tuple[bool | None, ...] = ()
    changes: tuple[Change, ...] = ()
    stopped: bool = False  # this rule ended the run
    note: str = ""  # why it did not run

    @property
    def matched(self) -> bool:
        return self.status == MATCHED


@dataclass(frozen=True)
class RulesOutcome:
    fields: dict[str, str]  # the ticket fields to write (the engine's, changed by the rules)
    tags: dict[str, str] = field(default_factory=dict)  # BigPanda incident tags to set: id -> value
    work_notes: tuple[str, ...] = ()
    skip: bool = False  # write no ticket for this share
    skip_reason: str = ""
    trace: tuple[RuleTrace, ...] = ()
    dry_run: bool = False

    @property
    def matched(self) -> list[str]:
        return [t.rule.name for t in self.trace if t.matched]

    def would_change(self) -> bool:
        """Whether any rule changed (or, in a dry run, would have changed) anything."""
        return any(c.changed for t in self.trace for c in t.changes)


def _conditions(rule: Rule, state: ShareState) -> tuple[bool, tuple[bool | None, ...]]:
    """Short-circuit: all stops at the first miss, any at the first hit."""
    want_all = rule.match == "all"
    results: list[bool | None] = []
    for c in rule.conditions:
        held = holds(c, state)
        results.append(held)
        if held != want_all:
            results += [None] * (len(rule.conditions) - len(results))
            return not want_all, tuple(results)
    return want_all, tuple(results)


def evaluate(rules: Iterable[Rule], share_incident: Mapping[str, Any], ticket_fields: Mapping[str, str], *,
             dry_run: bool = False, current: Mapping[str, str] | None = None, is_new: bool = True,
             include_inactive: bool | None = None) -> RulesOutcome:
    """`current` is the ticket as it is now (for an update), `is_new` whether this write creates it."""
    include_inactive = dry_run if include_inactive is None else include_inactive
    state = ShareState(share_incident, ticket_fields, current)
    trace: list[RuleTrace] = []
    stopped_by: str | None = None
    for rule in sorted(rules, key=lambda r: r.sort_key):
        if stopped_by is not None:
            trace.append(RuleTrace(rule, NOT_REACHED, note=f'stopped by rule "{stopped_by}"'))
            continue
        if not rule.active and not include_inactive:
            trace.append(RuleTrace(rule, INACTIVE, note="inactive"))
            continue
        if rule.run_on != "always" and not rule.runs_on(is_new):
            trace.append(RuleTrace(rule, NOT_THIS_WRITE,
                                   note="runs on new tickets only" if rule.run_on == "create"
                                   else "runs on updates only"))
            continue
        matched, results = _conditions(rule, state)
        if not matched:
            trace.append(RuleTrace(rule, NOT_MATCHED, results))
            continue
        changes = tuple(apply(a, state, rule.name) for a in rule.actions)
        stop = rule.stop_processing or state.skip_reason is not None
        trace.append(RuleTrace(rule, MATCHED, results, changes, stopped=stop))
        if stop:
            stopped_by = rule.name
    if dry_run:
        return RulesOutcome(dict(ticket_fields), trace=tuple(trace), dry_run=True)
    return RulesOutcome(state.fields, dict(state.new_tags), tuple(state.work_notes), state.skip_reason is not None,
                        state.skip_reason or "", tuple(trace))
