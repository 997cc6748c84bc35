"""Whether a condition holds for a share.

A condition tests the values its source gives (state.ShareState.values): none or one for an
incident field or incident tag, one per alert for an alert tag. A positive operator holds
when any value satisfies it; a negated one (not equals, is empty) when its positive twin
holds for no value, so "alert tag host not equals db-1" means no alert is on db-1.
"""

from __future__ import annotations

from collections.abc import Callable

from .model import NEGATED, Condition
from .state import ShareState

# operators that compare text, where ignore_case folds the value (regex folds through its flag)
TEXT_OPERATORS = frozenset({"equals", "contains", "starts_with", "ends_with", "in_list"})


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _greater(c: Condition, v: str) -> bool:
    n = _number(v)
    return n is not None and n > c.number


def _less(c: Condition, v: str) -> bool:
    n = _number(v)
    return n is not None and n < c.number


def _regex(c: Condition, v: str) -> bool:
    assert c.pattern is not None
    return c.pattern.search(v) is not None


# one test per positive operator: (condition, one value) -> satisfied?
TESTS: dict[str, Callable[[Condition, str], bool]] = {
    "equals": lambda c, v: v == c.text,
    "contains": lambda c, v: c.text in v,
    "starts_with": lambda c, v: v.startswith(c.text),
    "ends_with": lambda c, v: v.endswith(c.text),
    "in_list": lambda c, v: v in c.options,
    "regex": _regex,
    "greater_than": _greater,
    "less_than": _less,
    "is_not_empty": lambda c, v: v != "",
}


def holds(c: Condition, state: ShareState) -> bool:
    positive = NEGATED.get(c.operator)
    operator = positive or c.operator
    test = TESTS[operator]
    fold = c.ignore_case and operator in TEXT_OPERATORS
    for value in state.values(c.source, c.name):
        if test(c, value.casefold() if fold else value):
            return positive is None
    return positive is not None
