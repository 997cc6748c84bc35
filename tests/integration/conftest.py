"""The integration tests' bench: the plugin's pooled one (`bpsn_bench`), reset to the seeded state
for each test, where a new InProcessBench per test cost ~0.3 s; and for the tests that talk to
ServiceNow alone, the process's pooled instance (tests/pooled_simulators.py) as a new one starts."""

from __future__ import annotations

from typing import Any

import pytest
from pooled_simulators import servicenow_pool

from bpsn.simulator.servicenow.backend import ServiceNowBackend
from bpsn.testing import InProcessBench


@pytest.fixture
def bench(bpsn_bench: InProcessBench) -> InProcessBench:
    return bpsn_bench


@pytest.fixture(scope="session")
def pooled_servicenow() -> tuple[ServiceNowBackend, Any]:
    pool = servicenow_pool()
    return pool.backend, pool.app


@pytest.fixture
def backend(pooled_servicenow: tuple[ServiceNowBackend, Any]) -> ServiceNowBackend:
    return servicenow_pool().as_new()
