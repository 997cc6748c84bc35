"""The contract between the runner and its companion modules: what a poll wrote, what a
companion does with it, and the runner's parts a companion shares (clients, lookups, clock)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from bpsn.base.clock import Clock
from bpsn.integration.clients.bigpanda import BigPandaClient
from bpsn.integration.clients.lookups import ReferenceCache, TagDirectory
from bpsn.integration.clients.servicenow import ServiceNowClient
from bpsn.integration.engine.incidents import IncidentEngine
from bpsn.integration.engine.messages import TicketRef


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
