"""Shared by the BigPanda tests: the process's pooled simulator and its app (tests/pooled_simulators.py;
a new app costs ~0.3 s CPU, putting the pooled one back as new well under a millisecond).

- `new_bigpanda`: for one test, the state `BigPandaBackend(clock=SimClock.virtual())` has.
- `shared_bigpanda`: the same for a whole module (its tests reset it themselves); a module uses
  either this or `new_bigpanda`, as both are the one pooled simulator.
- `fresh_bigpanda`: the module's simulator reset, rate limits off (these tests send bursts on a
  frozen clock).
Each is put back as new after its test or module too. Modules with their own `bp` fixture keep theirs.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from pooled_simulators import BigPandaPool, bigpanda_pool

from bpsn.simulator.bigpanda.backend import BigPandaBackend


@pytest.fixture(scope="session")
def pooled_bigpanda() -> BigPandaPool:
    return bigpanda_pool()


@pytest.fixture
def new_bigpanda(pooled_bigpanda: BigPandaPool) -> Iterator[tuple[BigPandaBackend, FastAPI]]:
    yield pooled_bigpanda.as_new(), pooled_bigpanda.app
    pooled_bigpanda.as_new()  # nothing this test changed reaches the next user of the pool


@pytest.fixture(scope="module")
def shared_bigpanda(pooled_bigpanda: BigPandaPool) -> Iterator[tuple[BigPandaBackend, FastAPI]]:
    yield pooled_bigpanda.as_new(), pooled_bigpanda.app
    pooled_bigpanda.as_new()


@pytest.fixture
def fresh_bigpanda(shared_bigpanda: tuple[BigPandaBackend, FastAPI]) -> tuple[BigPandaBackend, FastAPI]:
    backend, app = shared_bigpanda
    backend.reset()
    backend.orgs["demo"].rate_limits.enabled = False
    return backend, app
