"""Shared by the BigPanda tests that use it: one simulator and its app per module, reset for
each test, rate limits off (these tests send bursts on a frozen clock). Modules with their own
`bp` fixture keep theirs."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from bpsn.base.clock import SimClock
from bpsn.simulator.bigpanda.app import create_app
from bpsn.simulator.bigpanda.backend import BigPandaBackend


@pytest.fixture(scope="module")
def shared_bigpanda() -> tuple[BigPandaBackend, FastAPI]:
    backend = BigPandaBackend(clock=SimClock.virtual())
    return backend, create_app(backend)


@pytest.fixture
def fresh_bigpanda(shared_bigpanda: tuple[BigPandaBackend, FastAPI]) -> tuple[BigPandaBackend, FastAPI]:
    backend, app = shared_bigpanda
    backend.reset()
    backend.orgs["demo"].rate_limits.enabled = False
    return backend, app
