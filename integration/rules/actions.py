"""What an action does to a share's state, and a record of it for the trace."""

from __future__ import annotations

from dataclasses import dataclass

from .model import Action
from .state import ShareState

MAX_SHOWN = 80


def _shown(text: str) -> str:
    text = text.replace("\n", " ")
    return f'"{text}"' if len(text) <= MAX_SHOWN else f'"{text[:MAX_SHOWN - 1]}…"'


@dataclass(slots=True)
class Change:
    """Read-only by convention, like evaluator.RuleTrace (built in the hot loop)."""

    action: Action
    before: str
    after: str
    changed: bool  # False when the target already held the value

    def describe(self, would: bool = False) -> str:
        a = self.action

        def verb(now: str, then: str) -> str:
            return then if would else now
        if a.kind == "set_field":
            if not self.changed:
                return f'field "{a.target}" is already {_shown(a.value)}'
            return f'{verb("set", "would set")} field "{a.target}": {_shown(self.before)} -> {_shown(a.value)}'
        if a.kind == "set_tag":
            if not self.changed:
                return f'incident tag "{a.target}" is already {_shown(a.value)}'
            return f'{verb("set", "would set")} incident tag "{a.target}": {_shown(self.before)} -> {_shown(a.value)}'
        if a.kind == "add_work_note":
            return f"{verb('add', 'would add')} work note {_shown(a.value)}"
        return f"{verb('skip', 'would skip')} the record" + (f" ({_shown(a.value)})" if a.value else "")


def apply(action: Action, state: ShareState, rule_name: str) -> Change:
    if action.kind == "set_field":
        before = state.field(action.target)
        if before != action.value:
            state.fields[action.target] = action.value
        return Change(action, before, action.value, before != action.value)
    if action.kind == "set_tag":
        before = state.incident_tags.get(action.target, "")
        if before != action.value:
            state.incident_tags[action.target] = action.value
            state.new_tags[action.target] = action.value
        return Change(action, before, action.value, before != action.value)
    if action.kind == "add_work_note":
        state.work_notes.append(action.value)
        return Change(action, "", action.value, True)
    if action.kind == "skip_record":
        state.skip_reason = action.value or f'skipped by transform rule "{rule_name}"'
        return Change(action, "", "skip", True)
    raise ValueError(f"transform rule {rule_name!r}: no such action {action.kind!r}")
