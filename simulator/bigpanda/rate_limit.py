"""BigPanda's documented limits: 5 requests per second per token, Incidents V1 150 per minute,
changes 400 per minute and 50,000 per week; answered with 429 and, our choice, Retry-After.

Counted in sliding windows on the simulator clock. A request that comes back before the
Retry-After it was given is flagged, so a test can see a client that retries too early.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Limit:
    name: str
    requests: int
    period: float


INGEST_PREFIXES = ("/data/v2/alerts", "/oim/api/alerts")
log = logging.getLogger("bpsn.simulator.bigpanda.rate_limit")


@dataclass
class RateLimitSettings:
    enabled: bool = True
    per_second: int = 5
    alerts_per_second: int = 5  # ingestion has its own bucket, so a load test can raise it alone
    incidents_v1_per_minute: int = 150
    changes_per_minute: int = 400
    changes_per_week: int = 50_000

    def limits_for(self, path: str) -> list[Limit]:
        if path.startswith(INGEST_PREFIXES):
            return [Limit("alerts", self.alerts_per_second, 1.0)]
        limits = [Limit("per_token", self.per_second, 1.0)]
        if path.startswith("/resources/v1.0/incidents"):
            limits.append(Limit("incidents_v1", self.incidents_v1_per_minute, 60.0))
        if path.startswith("/data/changes"):
            limits += [Limit("changes_minute", self.changes_per_minute, 60.0),
                       Limit("changes_week", self.changes_per_week, 7 * 86400.0)]
        return limits


@dataclass
class Verdict:
    allowed: bool
    retry_after: int = 0
    limit: str = ""
    early_retry: bool = False


@dataclass
class _Window:
    times: deque[float] = field(default_factory=deque)


class RateLimiter:
    def __init__(self) -> None:
        self._windows: dict[tuple[str, str], _Window] = {}
        self._blocked_until: dict[str, float] = {}
        self.rejected = 0
        self.early_retries = 0

    def reset(self) -> None:
        self._windows.clear()
        self._blocked_until.clear()
        self.rejected = self.early_retries = 0

    def check(self, token: str, path: str, settings: RateLimitSettings, now: float) -> Verdict:
        if not settings.enabled:
            return Verdict(True)
        early = now < self._blocked_until.get(token, 0.0)
        windows = []
        for limit in settings.limits_for(path):
            w = self._windows.setdefault((token, limit.name), _Window())
            while w.times and w.times[0] <= now - limit.period:
                w.times.popleft()
            if len(w.times) >= limit.requests:
                retry = max(1, math.ceil(w.times[0] + limit.period - now))
                self._blocked_until[token] = now + retry
                self.rejected += 1
                self.early_retries += early
                # never the token: the journal's user column says whose it was
                log.info("429 answered: simulator=bigpanda limit=%s path=%s retry_after=%ds early_retry=%s",
                         limit.name, path, retry, early)
                return Verdict(False, retry, limit.name, early)
            windows.append(w)
        for w in windows:  # only an accepted request counts against the windows
            w.times.append(now)
        self.early_retries += early
        return Verdict(True, early_retry=early)
