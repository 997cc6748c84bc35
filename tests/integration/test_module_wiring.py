"""`bpsn core --modules`: the optional modules are built beside the runner and share its pacing."""

from __future__ import annotations

import pytest

from bpsn.integration.clients.http import Pacer
from bpsn.integration.modules_wiring import module_loops
from bpsn.testing import InProcessBench


def test_every_module_is_built_and_shares_the_runners_pacer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BPSN_OIM_APP_KEY", "demo-oim-app-key")
    bench = InProcessBench()
    try:
        pacer = Pacer(4.5)
        bench.runner.bigpanda.api.pacer = pacer
        loops, closers = module_loops({"incidents", "changes", "cmdb", "oim"}, bench.settings, bench.runner,
                                      bench.clock)
        assert len(loops) == 3 and len(closers) == 2
        owners = [loop.__self__ for loop in loops]  # type: ignore[attr-defined]
        assert owners[1].bigpanda.api.pacer is pacer and owners[2].api.api.pacer is pacer
        for close in closers:
            bench.run(close())
    finally:
        bench.close()
