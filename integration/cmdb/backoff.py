"""How CMDB calls wait: the seed's retries (every `retry_interval` seconds, at most `max_retries`
times) for a failed call, and on top of them, when BigPanda still answers 429, the long
backoff (60 s -> 300 s -> 900 s by default). Every wait is lengthened by a random fraction
(jitter) so that many instances throttled together do not come back together; none is ever
shorter than its nominal value, nor than the Retry-After the server gave."""

from __future__ import annotations

import random
from dataclasses import dataclass

from bpsn.integration.clients.http import RetryPolicy


@dataclass
class FixedIntervalRetry(RetryPolicy):
    """The seed's CMDB retries as an ApiClient policy: `max_attempts` = retries + 1."""

    interval: float = 5.0
    jitter: float = 0.25

    def backoff(self, attempt: int, rng: random.Random, retry_after: float | None) -> float:
        return max(self.interval, retry_after or 0.0) * (1 + rng.uniform(0, self.jitter))


@dataclass(frozen=True)
class ThrottleBackoff:
    steps: tuple[float, ...] = (60.0, 300.0, 900.0)
    jitter: float = 0.25

    def delay(self, spent: int, rng: random.Random) -> float | None:
        """The wait after the `spent`-th throttled call (0-based); None once every step is spent."""
        if spent >= len(self.steps):
            return None
        return self.steps[spent] * (1 + rng.uniform(0, self.jitter))
