"""The optional modules that run beside the incidents runner in one core process.

Every BigPanda call of one organisation counts against its 5 requests / second, so the
modules share the runner's pacer (changes and OIM share its clients outright; the CMDB sync
has its own retry policy, so only the pacer is shared).

Two ways to choose them: `module_loops` (`bpsn core --modules`, BPSN_* settings) and, with a
versioned configuration (`bpsn core --org`), `module_choice` / `build_modules`: a module runs
when its key is set and its switch is on, with the key, the region's base URL and the CMDB
connection defaults of that version. `RunningModules` starts their loops and, when a new version
is applied, stops them and starts the new version's (carrying their read positions over).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from bpsn.base.clock import Clock
from bpsn.integration.config.models import IntegrationConfig
from bpsn.integration.config.settings import ConnectionSettings

from .runner import IntegrationRunner

Loop = Callable[[asyncio.Event], Awaitable[None]]
Closer = Callable[[], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]
MODULES = ("incidents", "changes", "cmdb", "oim")
OPTIONAL_MODULES = ("changes", "cmdb", "oim")
# the credential that turns each optional module on, and its switch in the settings
MODULE_KEYS = {"changes": "changes_app_key", "cmdb": "cmdb_v2_app_key", "oim": "oim_app_key"}
MODULE_SWITCHES = {"incidents": "active", "changes": "changes_active", "cmdb": "cmdb_active", "oim": "oim_active"}
log = logging.getLogger("bpsn.integration.modules")


def module_loops(wanted: set[str], settings: ConnectionSettings, runner: IntegrationRunner,
                 clock: Clock) -> tuple[list[Loop], list[Closer]]:
    loops: list[Loop] = []
    closers: list[Closer] = []
    pacer = runner.bigpanda.api.pacer
    if "changes" in wanted:
        from bpsn.integration.changes.factory import build_changes_forwarder
        loops.append(build_changes_forwarder(runner).run)
    if "cmdb" in wanted:
        from bpsn.integration.cmdb.factory import build_cmdb_sync
        sync = build_cmdb_sync(settings, clock=clock, pace=pacer is None)
        sync.bigpanda.api.pacer = pacer
        loops.append(sync.run)
        closers.append(sync.aclose)
    if "oim" in wanted:
        from bpsn.integration.oim.factory import OimConnection, build_oim_forwarder
        oim = OimConnection()
        forwarder = build_oim_forwarder(settings, oim, runner.servicenow, clock)
        forwarder.api.api.pacer = pacer
        loops.append(forwarder.run)
        closers.append(forwarder.api.api.aclose)
    return loops, closers


# --- from a configuration version ---------------------------------------------------------------
def module_choice(config: IntegrationConfig) -> dict[str, str]:
    """Every module and why it does not run: "" when it runs."""
    settings = config.settings
    out: dict[str, str] = {}
    for name in MODULES:
        switch = MODULE_SWITCHES[name]
        key = MODULE_KEYS.get(name)
        if not getattr(settings, switch):
            out[name] = f"switched off ({switch} is false)"
        elif key is not None and not getattr(config, key):
            out[name] = f"no {key}"
        else:
            out[name] = ""
    return out


def cmdb_settings_of(config: IntegrationConfig) -> Any:
    """The CMDB sync's settings: the seed's connection defaults from the version; the CI classes
    (not a connection setting) still from BPSN_CMDB_CLASSES."""
    from bpsn.integration.cmdb.settings import CmdbSettings
    s = config.settings
    return CmdbSettings(sync_interval=s.cmdb_sync_interval, retry_interval=s.cmdb_retry_interval,  # type: ignore[attr-defined]
                        page_size=s.cmdb_page_size, max_pages=s.cmdb_max_pages,  # type: ignore[attr-defined]
                        max_retries=s.cmdb_max_retries)  # type: ignore[attr-defined]


@dataclass
class Module:
    """One optional module built from a version: its worker object, its loop and how to close it."""

    name: str
    worker: Any  # ChangesForwarder, CmdbSync or OimForwarder
    run: Loop
    close: Closer | None = None


@dataclass(frozen=True)
class ModuleTransports:
    """How modules reach the simulators or the real services (a test's transports and virtual time)."""

    bigpanda: httpx.AsyncBaseTransport | None = None
    servicenow: httpx.AsyncBaseTransport | None = None
    seed: int = 0
    sleep: Sleep = asyncio.sleep


def build_modules(config: IntegrationConfig, connection: ConnectionSettings, runner: IntegrationRunner,
                  clock: Clock, io: ModuleTransports = ModuleTransports()) -> dict[str, Module]:
    """The optional modules `config` turns on, with its keys; they share the runner's pacer."""
    choice = module_choice(config)
    pacer = runner.bigpanda.api.pacer
    out: dict[str, Module] = {}
    if not choice["changes"]:
        from bpsn.integration.changes.factory import (
            ChangesConnection,
            build_changes_forwarder,
        )
        changes = build_changes_forwarder(runner, ChangesConnection(changes_app_key=config.changes_app_key.reveal()))
        out["changes"] = Module("changes", changes, changes.run)
    if not choice["cmdb"]:
        from bpsn.integration.cmdb.factory import build_cmdb_sync
        sync = build_cmdb_sync(connection, cmdb_settings_of(config), clock=clock, seed=io.seed, pace=False,
                               sleep=io.sleep, bigpanda_transport=io.bigpanda, servicenow_transport=io.servicenow)
        sync.bigpanda.api.pacer = pacer
        out["cmdb"] = Module("cmdb", sync, sync.run, sync.aclose)
    if not choice["oim"]:
        from bpsn.integration.oim.factory import OimConnection, build_oim_forwarder
        oim = OimConnection(oim_app_key=config.oim_app_key.reveal(), oim_url="")
        forwarder = build_oim_forwarder(connection, oim, runner.servicenow, clock, transport=io.bigpanda,
                                        seed=io.seed, sleep=io.sleep)
        forwarder.api.api.pacer = pacer
        out["oim"] = Module("oim", forwarder, forwarder.run, forwarder.api.api.aclose)
    return out


def carry_module_state(old: Module, new: Module) -> None:
    """What a module learnt that lives nowhere else: where its reading stands (CMDB keeps its own in
    the instance), so a new version neither loses nor re-sends a change."""
    if new.name == "changes":
        new.worker.cursors = old.worker.cursors
        new.worker._sent = old.worker._sent
        new.worker.budget = old.worker.budget
    elif new.name == "oim":
        new.worker.cursor = old.worker.cursor
        new.worker.budget = old.worker.budget


@dataclass
class RunningModules:
    """The optional modules of one organisation. `launch` starts their loops as tasks (the core);
    without it they are only built (tests drive `poll_once` / `sync_once` themselves)."""

    launch: bool = False
    modules: dict[str, Module] = field(default_factory=dict)
    _tasks: dict[str, tuple[asyncio.Task[None], asyncio.Event]] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return sorted(self.modules)

    async def replace(self, modules: dict[str, Module]) -> None:
        """Stop every module, then take `modules` (carrying over the state of those that stay)."""
        old = self.modules
        await self.stop()
        for name, module in modules.items():
            if name in old:
                carry_module_state(old[name], module)
        self.modules = modules
        if self.launch:
            self.start()

    def start(self) -> None:
        self.launch = True
        for name, module in self.modules.items():
            if name not in self._tasks:
                stop = asyncio.Event()
                self._tasks[name] = (asyncio.create_task(module.run(stop), name=f"bpsn-{name}"), stop)

    async def stop(self) -> None:
        for name, (task, stop) in list(self._tasks.items()):
            stop.set()
            with contextlib.suppress(Exception):
                await task
            del self._tasks[name]
        for module in self.modules.values():
            if module.close is not None:
                try:
                    await module.close()
                except Exception as exc:  # noqa: BLE001 - a failed close must not keep the next version from starting
                    log.warning("module %s did not close cleanly: %s", module.name, exc)
        self.modules = {}
