"""The optional modules that run beside the incidents runner in one core process.

Every BigPanda call of one organisation counts against its 5 requests / second, so the
modules share the runner's pacer (changes and OIM share its clients outright; the CMDB sync
has its own retry policy, so only the pacer is shared).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bpsn.base.clock import Clock
from bpsn.integration.config.settings import ConnectionSettings

from .runner import IntegrationRunner

Loop = Callable[[asyncio.Event], Awaitable[None]]
Closer = Callable[[], Awaitable[None]]
MODULES = ("incidents", "changes", "cmdb", "oim")


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
