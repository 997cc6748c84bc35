"""A trace in words: per rule, whether it matched (and on which condition it did not) and
what it did, or in a dry run what it would have done."""

from __future__ import annotations

from .evaluator import MATCHED, NOT_MATCHED, RulesOutcome, RuleTrace


def result(trace: RuleTrace) -> str:
    if trace.status == MATCHED:
        return "matched" + (", stops processing" if trace.stopped else "")
    if trace.status == NOT_MATCHED:
        return "not matched"
    return f"{trace.status} ({trace.note})" if trace.note and trace.note != trace.status else trace.status


def details(trace: RuleTrace, would: bool = False) -> list[str]:
    """Each change (matched), or the conditions that decided it (not matched)."""
    rule = trace.rule
    if trace.status == MATCHED:
        return [c.describe(would) for c in trace.changes]
    if trace.status != NOT_MATCHED:
        return []
    out = []
    for condition, held in zip(rule.conditions, trace.conditions, strict=True):
        if held is None:
            break
        if held is False or rule.match == "any":
            out.append(f"{condition.describe()}: {'yes' if held else 'no'}")
    return out


def lines(outcome: RulesOutcome) -> list[str]:
    """The whole trace and outcome as text (for logs, the CLI and test failures)."""
    would = outcome.dry_run
    out = []
    for t in outcome.trace:
        inactive = " [inactive]" if not t.rule.active else ""
        out.append(f"{t.rule.order:>5}  {t.rule.name}{inactive}: {result(t)}")
        out += [f"         {d}" for d in details(t, would)]
    if would:
        out.append("dry run: nothing is changed")
    elif outcome.skip:
        out.append(f"the record is skipped: {outcome.skip_reason}")
    return out
