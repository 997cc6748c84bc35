"""A request budget over sliding windows, on the core's clock: stay under a documented limit
instead of running into its 429s.

BigPanda's changes API allows 400 changes a minute and 50,000 a week; OIM alerts, like every
BigPanda API, 5 requests a second. A forwarder asks `wait(now)` before a request: 0 means
send now (then `take(now)`), anything else is how long until one more request fits.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    requests: int
    seconds: float
    name: str

    def __post_init__(self) -> None:
        if self.requests < 1 or self.seconds <= 0:
            raise ValueError(f"rate window {self.name!r} needs at least 1 request over a positive period "
                             f"(got {self.requests} per {self.seconds} s)")


class RateBudget:
    def __init__(self, *windows: Window) -> None:
        if not windows:
            raise ValueError("a rate budget needs at least one window")
        self.windows = windows
        self._times: dict[str, deque[float]] = {w.name: deque() for w in windows}
        self.taken = 0

    def _trim(self, now: float) -> None:
        for w in self.windows:
            times = self._times[w.name]
            while times and times[0] <= now - w.seconds:
                times.popleft()

    def wait(self, now: float) -> float:
        """Seconds until one more request fits in every window (0: it fits now)."""
        self._trim(now)
        waits = [self._times[w.name][0] + w.seconds - now for w in self.windows
                 if len(self._times[w.name]) >= w.requests]
        return max(waits, default=0.0)

    def blocking(self, now: float) -> str:
        """The name of the window that is full at `now`, or ''."""
        self._trim(now)
        return next((w.name for w in self.windows if len(self._times[w.name]) >= w.requests), "")

    def take(self, now: float) -> None:
        self._trim(now)
        for w in self.windows:
            self._times[w.name].append(now)
        self.taken += 1
