"""The one clock, and the clients' backoff policy."""

from __future__ import annotations

import random

import pytest

from bpsn.base.clock import SimClock, from_glide, glide
from bpsn.integration.clients.http import RetryPolicy


def test_virtual_clock_moves_only_when_advanced() -> None:
    clock = SimClock.virtual()
    start = clock.now()
    seen: list[float] = []
    clock.on_advance(seen.append)
    assert clock.frozen and clock.now() == start
    clock.advance(1800)
    assert clock.now() == start + 1800 and seen == [start + 1800]
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_unfreezing_keeps_the_time_reached() -> None:
    clock = SimClock.virtual()
    clock.advance(10)
    reached = clock.now()
    clock.unfreeze()
    assert reached <= clock.now() < reached + 5


def test_glide_round_trip() -> None:
    assert glide(1_767_225_600) == "2026-01-01 00:00:00"
    assert from_glide("2026-01-01 00:00:00") == 1_767_225_600


def test_backoff_grows_is_capped_and_honours_retry_after() -> None:
    policy, rng = RetryPolicy(base=1, cap=8), random.Random(1)
    assert all(0 <= policy.backoff(n, rng, None) <= min(8, 2 ** n) for n in range(10))
    assert 3 <= policy.backoff(0, rng, retry_after=3) <= 4
    assert policy.backoff(0, rng, retry_after=3600) <= 9
