"""BigPanda object ids: 24 lowercase hex digits, the same for a seed as before issue #19 made
them cheaper (bytes.hex instead of formatting the integer)."""

from __future__ import annotations

import random

from bpsn.base.rng import SeededRandom


def test_object_ids_are_the_24_hex_digits_of_the_same_random_draws() -> None:
    ours, plain = SeededRandom(7), random.Random(7)
    for _ in range(20_000):
        assert ours.object_id() == f"{plain.getrandbits(96):024x}"


def test_small_draws_keep_their_leading_zeros() -> None:
    class Low(SeededRandom):
        def getrandbits(self, k: int) -> int:
            return 0xABC

    assert Low(1).object_id() == "000000000000000000000abc"
