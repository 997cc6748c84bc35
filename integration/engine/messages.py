"""The engine's vocabulary: events in, commands out. Frozen, comparable, free of I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .tags import SetIncidentTags


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
    triggers: tuple[str, ...] = ()  # every change the share stands for (BigPanda merges pending ones)
    tags: dict[str, str] = field(default_factory=dict, hash=False)  # incident tags by name
    sys_ids: dict[tuple[str, str], str] = field(default_factory=dict, hash=False)  # (table, name) -> sys_id

    def all_triggers(self) -> set[str]:
        return {self.trigger, *self.triggers}


@dataclass(frozen=True)
class TicketWritten:
    share_id: str
    incident_id: str
    ticket: TicketRef
    previous: TicketRef | None = None  # echoed from CreateTicket: a new ticket that follows this one
    successor: TicketRef | None = None  # echoed from UpdateTicket: the link note naming the new ticket


@dataclass(frozen=True)
class TicketWriteFailed:
    share_id: str
    incident_id: str
    error: str


@dataclass(frozen=True)
class TicketChanged:
    """The ServiceNow delta watch saw a ticket changed by someone other than the core."""

    incident_id: str
    ticket: TicketRef
    named: dict[str, str] = field(default_factory=dict, hash=False)  # mapped fields, references by name


@dataclass(frozen=True)
class CoalesceTick:
    """Time passed: tag changes whose coalesce window is over may leave."""


@dataclass(frozen=True)
class TagsSent:
    command: SetIncidentTags


Event = ShareReceived | TicketWritten | TicketWriteFailed | TicketChanged | CoalesceTick | TagsSent


# --- commands --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CreateTicket:
    share_id: str
    incident_id: str
    sys_id: str  # chosen by us, so a retried create cannot make a second ticket
    fields: dict[str, str] = field(hash=False)
    previous: TicketRef | None = None  # the ticket this one follows (reopen outside the window)


@dataclass(frozen=True)
class UpdateTicket:
    share_id: str
    incident_id: str
    ticket: TicketRef
    fields: dict[str, str] = field(hash=False)
    successor: TicketRef | None = None  # set on the link note written to a superseded ticket


@dataclass(frozen=True)
class SendCallback:
    share_id: str
    incident_id: str
    ticket: TicketRef | None = None
    error: str | None = None


# --- commands to BigPanda (V2 incidents API; the watch finds the environment) -------------------
@dataclass(frozen=True)
class ResolveIncident:
    incident_id: str
    comments: str


@dataclass(frozen=True)
class CommentIncident:
    incident_id: str
    comment: str


@dataclass(frozen=True)
class SnoozeIncident:
    incident_id: str
    end_time: int  # epoch seconds
    comment: str
    cancel_on_incident_updates: bool = False


@dataclass(frozen=True)
class UnsnoozeIncident:
    incident_id: str


BigPandaCommand = ResolveIncident | CommentIncident | SnoozeIncident | UnsnoozeIncident | SetIncidentTags
Command = CreateTicket | UpdateTicket | SendCallback | BigPandaCommand
