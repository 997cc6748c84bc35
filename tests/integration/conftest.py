"""The integration tests' bench: the plugin's pooled one (`bpsn_bench`), reset to the seeded state
for each test, where a new InProcessBench per test cost ~0.3 s; and for the tests that talk to
ServiceNow alone, the process's pooled instance (tests/pooled_simulators.py) as a new one starts."""

from __future__ import annotations

import pytest
from pooled_simulators import backend, pooled_servicenow  # noqa: F401 - fixtures of this folder

from bpsn.testing import InProcessBench


@pytest.fixture
def bench(bpsn_bench: InProcessBench) -> InProcessBench:
    return bpsn_bench
