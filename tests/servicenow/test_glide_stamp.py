"""glide_stamp keeps the text of the last second asked for (records/glide_time.py): every answer is
still the one the full formatting gives, near the rounding edge of a second included."""

from __future__ import annotations

import random

from bpsn.base.clock import glide
from bpsn.simulator.servicenow.records.glide_time import _stamp, glide_stamp


def test_kept_seconds_give_the_full_formattings_text() -> None:
    rng = random.Random(19)
    edges = [n + f for n in (0, 1, 1_000_000_000, 1_767_225_600, 253_402_300_798)
             for f in (0.0, 0.25, 0.998999, 0.999, 0.9999994, 0.9999995, 0.9999996)]
    within = [rng.uniform(1_767_225_600, 1_767_225_603) for _ in range(5_000)]  # many per second, in turn
    anywhere = [rng.uniform(-1e10, 2.5e11) for _ in range(5_000)]
    for epoch in [*edges, *within, *anywhere, -0.5, -1.0]:
        assert glide_stamp(epoch) == _stamp(epoch), epoch
    assert glide_stamp(1_767_225_600.5) == glide(1_767_225_600.5) == "2026-01-01 00:00:00"
