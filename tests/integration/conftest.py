"""The integration tests' bench: the plugin's pooled one (`bpsn_bench`), reset to the seeded state
for each test, where a new InProcessBench per test cost ~0.3 s."""

from __future__ import annotations

import pytest

from bpsn.testing import InProcessBench


@pytest.fixture
def bench(bpsn_bench: InProcessBench) -> InProcessBench:
    return bpsn_bench
