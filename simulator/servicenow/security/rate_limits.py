"""REST rate-limit rules as ServiceNow keeps them: records of sys_rate_limit_rules.

A rule counts requests per hour (on the simulator clock) for one user, the users with a role,
or everyone, on one REST resource (the Table API optionally per table) or all of them.
Precedence: single user, then role (the lowest limit when several roles match), then all.
No active rule, no limit: rules are off until someone adds one.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

HOUR = 3600.0
RESOURCE_LABELS = {"table_api": "Table API", "import_set_api": "Import Set API",
                   "aggregate_api": "Aggregate API", "batch_api": "Batch API", "all": "REST API"}
TYPE_ORDER = {"user": 0, "role": 1, "all": 2}
log = logging.getLogger("bpsn.simulator.servicenow.rate_limit")


@dataclass(frozen=True)
class Rule:
    sys_id: str
    resource: str
    table: str
    type: str
    user: str
    role: str
    rate: int

    def matches(self, resource: str, table: str, user_sys_id: str, roles: frozenset[str]) -> bool:
        if self.resource not in ("all", resource):
            return False
        if self.table and self.table != table:
            return False
        if self.type == "user":
            return self.user == user_sys_id
        if self.type == "role":
            return self.role in roles
        return True


@dataclass(frozen=True)
class Decision:
    rule: Rule
    limit: int
    reset: int
    allowed: bool

    def headers(self) -> dict[str, str]:
        return {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Reset": str(self.reset),
                "X-RateLimit-Rule": self.rule.sys_id}

    @property
    def detail(self) -> str:
        label = RESOURCE_LABELS.get(self.rule.resource, self.rule.resource)
        return f"Rate limit of {self.limit} requests per hour for {label} exceeded"


class RateLimiter:
    def __init__(self) -> None:
        self.rules: list[Rule] = []
        self._counts: Counter[tuple[str, str, int]] = Counter()  # (rule, user, hour) -> requests

    def load(self, rows: list[dict[str, str]]) -> None:
        self.rules = [Rule(r["sys_id"], r["rest_resource"] or "all", r["table_name"], r["type"] or "all",
                           r["user"], r["role"], int(r["rate"] or 0))
                      for r in rows if r.get("active") == "true" and (r.get("rate") or "").isdigit()]

    def clear(self) -> None:
        self.rules = []
        self._counts.clear()

    def check(self, resource: str, table: str, user_sys_id: str, user_name: str, roles: frozenset[str],
              now: float) -> Decision | None:
        matching = [r for r in self.rules if r.matches(resource, table, user_sys_id, roles)]
        if not matching:
            return None
        best_type = min(TYPE_ORDER[r.type] for r in matching)
        rule = min((r for r in matching if TYPE_ORDER[r.type] == best_type), key=lambda r: r.rate)
        hour = int(now // HOUR)
        key = (rule.sys_id, user_name, hour)
        reset = int((hour + 1) * HOUR)
        if self._counts[key] >= rule.rate:
            log.info("429 answered: simulator=servicenow rule=%s resource=%s table=%s user=%s limit=%d/hour",
                     rule.sys_id, resource, table or "-", user_name, rule.rate)
            return Decision(rule, rule.rate, reset, allowed=False)
        self._counts[key] += 1
        return Decision(rule, rule.rate, reset, allowed=True)
