"""One ServiceNow and one BigPanda simulator, each with its app, per test process (so per pytest-xdist
worker), for every test folder: building one costs ~0.2-0.3 s CPU, putting it back as new a few
milliseconds. Module-level rather than session fixtures, so plain helpers and fixtures of any folder
share the same two (`tests/` is on sys.path through tests/conftest.py).

`as_new()` gives the state `Backend(clock=SimClock.virtual())` has (`Backend()` for the running pools): `reset()`, and what a reset does
not put back because a running instance keeps it: the clock (same object, back at its start, frozen,
no listener a test added), a fresh copy of the settings (tests set fields on theirs), the app's
dependency overrides, fault-rule and journal ids numbered from 1, outbound and push clients."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
from fastapi import FastAPI

from bpsn.base.clock import SimClock
from bpsn.simulator.bigpanda.app import create_app as create_bigpanda_app
from bpsn.simulator.bigpanda.backend import BigPandaBackend
from bpsn.simulator.common.faults import FaultInjector
from bpsn.simulator.common.journal import Journal
from bpsn.simulator.servicenow.app import create_app as create_servicenow_app
from bpsn.simulator.servicenow.backend import ServiceNowBackend


class _Pool:
    """What a new instance looks like, kept to put the pooled one back before a test."""

    def __init__(self, backend: Any, app: FastAPI) -> None:
        self.backend, self.app = backend, app
        self.clock = backend.clock  # the app's middleware holds this object
        self.clock_state = dict(vars(self.clock))
        self.settings = backend.settings.model_copy()
        self.overrides = dict(app.dependency_overrides)

    def _put_back(self) -> None:
        b = self.backend
        b.clock = self.clock
        vars(b.clock).update(self.clock_state, _listeners=list(self.clock_state["_listeners"]))
        b.settings = self.settings.model_copy()
        self.app.dependency_overrides.clear()
        self.app.dependency_overrides.update(self.overrides)

    def _renew_counters(self) -> None:
        """Fault rules and journal entries numbered from 1 again (a reset keeps them counting), in
        the objects the app's middleware holds."""
        b = self.backend
        vars(b.faults).update(vars(FaultInjector(b.settings.seed)))
        vars(b.journal).update(vars(Journal(b.settings.journal_max_entries)))


class ServiceNowPool(_Pool):
    def __init__(self, clock: SimClock) -> None:
        backend = ServiceNowBackend(clock=clock)
        super().__init__(backend, create_servicenow_app(backend))
        self.outbound_client = backend.outbound.client

    @classmethod
    def built_with(cls, owner: object, name: str, value: object) -> ServiceNowPool:
        """An instance on a virtual clock built while `owner.name` is `value`: a reference app whose
        routes are made another way, to hold the pooled one to."""
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(owner, name, value)
            return cls(SimClock.virtual())

    def as_new(self) -> ServiceNowBackend:
        self._put_back()  # first: the instance seeds its records at the clock's start instant
        self.backend.outbound.client = self.outbound_client
        self.backend.reset()
        self._renew_counters()
        return self.backend


class BigPandaPool(_Pool):
    def __init__(self, clock: SimClock) -> None:
        backend = BigPandaBackend(clock=clock)
        super().__init__(backend, create_bigpanda_app(backend))
        self.pusher = dict(vars(backend.pusher))  # no client, no loop, no task yet

    def as_new(self, *, rate_limits: bool = True) -> BigPandaBackend:
        """`rate_limits=False`: every organisation's limits off, for tests that send bursts on a
        frozen clock."""
        self._put_back()
        vars(self.backend.pusher).clear()
        vars(self.backend.pusher).update(self.pusher)
        self.backend.reset()
        self._renew_counters()
        if not rate_limits:
            for org in self.backend.orgs.values():
                org.rate_limits.enabled = False
        return self.backend


@cache
def servicenow_pool() -> ServiceNowPool:
    return ServiceNowPool(SimClock.virtual())


@cache
def bigpanda_pool() -> BigPandaPool:
    return BigPandaPool(SimClock.virtual())


# On a running clock, as `ServiceNowBackend()` and `BigPandaBackend()` start: `as_new()` puts the clock
# back on real time, and a reset seeds the records anew (~25 ms, not a template's ~3 ms).
@cache
def running_servicenow_pool() -> ServiceNowPool:
    return ServiceNowPool(SimClock())


@cache
def running_bigpanda_pool() -> BigPandaPool:
    return BigPandaPool(SimClock())


# Fixtures for a folder's conftest to import: the virtual-clock ServiceNow pool, as new for each test.
@pytest.fixture(scope="session")
def pooled_servicenow() -> tuple[ServiceNowBackend, FastAPI]:
    pool = servicenow_pool()
    return pool.backend, pool.app


@pytest.fixture
def backend(pooled_servicenow: tuple[ServiceNowBackend, FastAPI]) -> ServiceNowBackend:
    return servicenow_pool().as_new()
