"""Fault rules as data: match a request, roll the seeded dice, then misbehave.

First matching rule wins. An action is an error status (answered with the simulator's own
error body), added latency, or a dropped connection; latency combines with either of the
others. `times` bounds how often a rule fires, so "the next callback fails once" is one rule.

A path starting with `^` is a regular expression, compiled once by RE2 (bpsn.base.user_regex):
every request is matched against it, so it must run in linear time; one that needs
backtracking is refused when the rule is made (UserPatternError, a re.error: the admin API's 400).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from itertools import count
from typing import Any

from bpsn.base.rng import SeededRandom
from bpsn.base.user_regex import UserPattern, compile_pattern

log = logging.getLogger("bpsn.simulator.faults")


@dataclass
class FaultRule:
    id: int
    method: str | None = None
    path: str | None = None  # a prefix, or a regular expression when it starts with ^
    table: str | None = None  # a /table/{name} or /import/{name} path segment
    probability: float = 1.0
    status: int | None = None
    message: str | None = None
    latency_ms: float = 0.0
    drop_connection: bool = False
    after_handling: bool = False  # serve the request, then lose or replace the answer
    times: int | None = None
    fired: int = 0

    def __post_init__(self) -> None:
        # Not a dataclass field, so to_dict() shows the rule as it was written.
        self._regex: UserPattern | None = (compile_pattern(self.path)
                                           if self.path and self.path.startswith("^") else None)

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.fired >= self.times:
            return False
        if self.method and self.method.upper() != method.upper():
            return False
        if self.path:
            if self._regex is not None:
                if self._regex.search(path) is None:
                    return False
            elif not path.startswith(self.path):
                return False
        if self.table:
            parts = path.split("/")
            if not any(parts[i] in ("table", "import", "stats") and parts[i + 1] == self.table
                       for i in range(len(parts) - 1)):
                return False
        return True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def action(self) -> str:
        """What the rule does, for a log line: `status=503 latency_ms=200 after_handling`."""
        parts = [f"status={self.status}"] if self.status is not None else []
        parts += [f"latency_ms={self.latency_ms:g}"] if self.latency_ms else []
        parts += ["drop_connection"] if self.drop_connection else []
        parts += ["after_handling"] if self.after_handling else []
        return " ".join(parts) or "none"


class FaultInjector:
    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.rng = SeededRandom(seed)
        self.rules: list[FaultRule] = []
        self._ids = count(1)

    def add(self, **spec: Any) -> FaultRule:
        """Raises UserPatternError (a re.error) for a path regex RE2 refuses; nothing is added."""
        rule = FaultRule(id=0, **spec)  # compiled first: a refused rule uses up no id
        rule.id = next(self._ids)
        self.rules.append(rule)
        return rule

    def remove(self, rule_id: int) -> bool:
        before = len(self.rules)
        self.rules = [r for r in self.rules if r.id != rule_id]
        return len(self.rules) != before

    def clear(self) -> None:
        self.rules.clear()
        self.rng = SeededRandom(self.seed)

    def pick(self, method: str, path: str) -> FaultRule | None:
        for rule in self.rules:
            if rule.matches(method, path):
                if rule.probability >= 1.0 or self.rng.random() < rule.probability:
                    rule.fired += 1
                    log.info("fault fired: rule=%d method=%s path=%s %s fired=%d%s", rule.id, method, path,
                             rule.action(), rule.fired, f"/{rule.times}" if rule.times is not None else "")
                    return rule
                return None  # the first matching rule decides, even when its dice say no
        return None
