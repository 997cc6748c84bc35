"""The engine's vocabulary: events in, commands out. Frozen, comparable, free of I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TicketRef:
    sys_id: str
    number: str
    state: str = ""
    url: str = ""
    fields: dict[str, str] = field(default_factory=dict, hash=False, compare=False)


# --- events ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShareReceived:
    """A share retrieved from BigPanda, with the ticket ServiceNow already holds for it, if any."""

    share_id: str
    incident: dict[str, Any]
    environment_id: str
    trigger: str
    existing: TicketRef | None = None


@dataclass(frozen=True)
class TicketWritten:
    share_id: str
    incident_id: str
    ticket: TicketRef


@dataclass(frozen=True)
class TicketWriteFailed:
    share_id: str
    incident_id: str
    error: str


Event = ShareReceived | TicketWritten | TicketWriteFailed


# --- commands --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CreateTicket:
    share_id: str
    incident_id: str
    sys_id: str  # chosen by us, so a retried create cannot make a second ticket
    fields: dict[str, str] = field(hash=False)


@dataclass(frozen=True)
class UpdateTicket:
    share_id: str
    incident_id: str
    ticket: TicketRef
    fields: dict[str, str] = field(hash=False)


@dataclass(frozen=True)
class SendCallback:
    share_id: str
    incident_id: str
    ticket: TicketRef | None = None
    error: str | None = None


Command = CreateTicket | UpdateTicket | SendCallback
