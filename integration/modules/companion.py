"""The contract between the runner and its companion modules: what a poll wrote, what a
companion does with it, and the runner's parts a companion shares (clients, lookups, clock)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from bpsn.base.clock import Clock
from bpsn.integration.clients.bigpanda import BigPandaClient
from bpsn.integration.clients.lookups import ReferenceCache, TagDirectory
from bpsn.integration.clients.servicenow import ServiceNowClient
from bpsn.integration.engine.incidents import IncidentEngine
from bpsn.integration.engine.messages import TicketRef

from .poll_batch import PollBatch

log = logging.getLogger("bpsn.integration")


@dataclass(frozen=True)
class WrittenTicket:
    """A share the poll wrote to ServiceNow, and the ticket that now stands for its incident."""

    share: dict[str, Any]
    ticket: TicketRef


class TicketCompanion(Protocol):
    """Writes what goes with a ticket (alert records, tasks, metadata) once per poll, batched.
    Errors are its own to log: the callbacks leave whatever it does."""

    async def after_poll(self, written: list[WrittenTicket]) -> None: ...


class CompanionHost(Protocol):
    """The runner, as a companion's `attach` sees it."""

    bigpanda: BigPandaClient
    servicenow: ServiceNowClient
    engine: IncidentEngine
    clock: Clock
    references: ReferenceCache
    directory: TagDirectory
    companions: list[TicketCompanion]


async def run_companions(companions: list[TicketCompanion], written: list[WrittenTicket],
                         servicenow: ServiceNowClient) -> None:
    """A poll's companions, together; their record writes leave in one Batch API request
    (poll_batch.py). A companion's failure is logged: the tickets are written and acknowledged."""
    poll = PollBatch(servicenow, len(companions))

    async def one(companion: TicketCompanion) -> None:
        try:
            await companion.after_poll(written)
        except Exception as exc:  # noqa: BLE001 - the others and the next poll go on
            log.error("%s failed after the poll: %s", type(companion).__name__, exc)
        finally:
            poll.finished()
    with poll.shared():
        await asyncio.gather(*(one(c) for c in companions))
