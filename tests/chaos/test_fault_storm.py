"""The fault storm, short version: the simulators and the core as separate processes on loopback;
a burst of alerts (5 new incidents a second for 8 s) while every route the core uses on both
sides answers 503, 429, loses its answer after the write, or is slow (30% of its requests, the
kind rotating every 3 s); then the faults are cleared and the core drains BigPanda's queue.
The long version is `python -m bpsn.bench.chaos_storm` (run by `make bench`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bpsn.bench.chaos_storm import ROUTES, fault_kinds, run_storm

pytestmark = pytest.mark.slow(seconds=7)


def test_a_fault_storm_on_both_sides_loses_and_duplicates_no_ticket(tmp_path: Path) -> None:
    phases = len(fault_kinds(300, past_timeout=False))
    result = run_storm(tmp_path, phase_s=2.0, phases=phases, alerts_per_s=5.0, probability=0.3)
    print(result.line())
    assert result.incidents >= 30, result  # the burst really arrived during the storm
    assert result.faults_fired >= len(ROUTES), result  # and the storm really hit the core,
    assert sorted(k for k, n in result.fired_by_kind.items() if n) == sorted(fault_kinds(300, False)), result
    assert (result.lost, result.duplicates) == (0, 0), result.line()
    assert (result.orphans, result.dead_letters) == (0, 0), result.line()
