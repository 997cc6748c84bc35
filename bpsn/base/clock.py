"""The one clock every simulator and the integration core read time from.

Real time plus an offset, which can be frozen and advanced. A test freezes it and
advances it by hand, so a 30-minute reopen window is crossed without sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Epoch seconds."""
        ...


class SimClock:
    def __init__(self, start: float | None = None, *, frozen: bool = False,
                 source: Callable[[], float] = time.time) -> None:
        self._source = source
        self._offset = 0.0 if start is None else start - source()
        self._frozen_at: float | None = None
        self._listeners: list[Callable[[float], None]] = []
        if frozen:  # exactly at `start`: no float error from going through the offset
            self._frozen_at = start if start is not None else source()
        self._initial = (self._offset, self._frozen_at)

    @classmethod
    def virtual(cls, start: float = 1_767_225_600.0) -> SimClock:
        """A frozen clock at 2026-01-01 00:00:00 UTC: only advance() moves it."""
        return cls(start, frozen=True)

    def now(self) -> float:
        if self._frozen_at is not None:
            return self._frozen_at
        return self._source() + self._offset

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None

    def freeze(self) -> None:
        if self._frozen_at is None:
            self._frozen_at = self.now()

    def unfreeze(self) -> None:
        if self._frozen_at is not None:
            self._offset = self._frozen_at - self._source()
            self._frozen_at = None

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        if self._frozen_at is not None:
            self._frozen_at += seconds
        else:
            self._offset += seconds
        now = self.now()
        for listener in list(self._listeners):
            listener(now)
        return now

    def restart(self, at: float | None = None, *, frozen: bool | None = None) -> None:
        """Back to where this clock began (a fresh state for the next test): the instant a
        frozen clock was made at, or a running clock's first offset. With `at` (and `frozen`),
        it begins there from now on instead: later restarts come back to it. Listeners stay."""
        if at is not None:
            keep_frozen = self._initial[1] is not None if frozen is None else frozen
            self._initial = (0.0, at) if keep_frozen else (at - self._source(), None)
        self._offset, self._frozen_at = self._initial

    def on_advance(self, listener: Callable[[float], None]) -> None:
        """Called after every advance(), so timers due in virtual time fire at once."""
        self._listeners.append(listener)


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def glide(epoch: float) -> str:
    """ServiceNow's UTC timestamp format, YYYY-MM-DD HH:MM:SS."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def from_glide(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()
