"""The incidents engine: decides what to write to ServiceNow for each share. No I/O.

`handle(event, now) -> list[Command]`. Transitions live in one table keyed by event type;
an event the engine does not expect raises an error naming it.
"""

from __future__ import annotations

from collections.abc import Callable

from .mapping import IncidentSettings, ticket_fields, ticket_sys_id
from .messages import (Command, CreateTicket, Event, SendCallback, ShareReceived, TicketWriteFailed,
                       TicketWritten, UpdateTicket)

RESOLVED_STATES = {"6", "7"}
CLOSED_STATES = {"7", "8"}


class EngineError(RuntimeError):
    pass


class IncidentEngine:
    def __init__(self, settings: IncidentSettings | None = None) -> None:
        self.settings = settings or IncidentSettings()
        self._table: dict[type, Callable[[Event, float], list[Command]]] = {
            ShareReceived: self._on_share,  # type: ignore[dict-item]
            TicketWritten: self._on_written,  # type: ignore[dict-item]
            TicketWriteFailed: self._on_failed,  # type: ignore[dict-item]
        }

    def handle(self, event: Event, now: float) -> list[Command]:
        handler = self._table.get(type(event))
        if handler is None:
            raise EngineError(f"the incidents engine has no transition for {type(event).__name__}")
        return handler(event, now)

    def _on_share(self, event: ShareReceived, now: float) -> list[Command]:
        incident = event.incident
        incident_id = str(incident.get("id", ""))
        fields = ticket_fields(incident, self.settings)
        if event.existing is None:
            create = dict(fields)
            if not incident.get("active", True) and self.settings.resolve_servicenow:
                create.update(self._resolution(incident))
            return [CreateTicket(event.share_id, incident_id, ticket_sys_id(self.settings.namespace, incident_id),
                                 create)]
        ticket = event.existing
        update = {k: v for k, v in fields.items()
                  if k in self.settings.update_fields and ticket.fields.get(k) != v}
        if ticket.state in CLOSED_STATES:
            update = {}  # a closed ticket is never written again
        elif not incident.get("active", True) and self.settings.resolve_servicenow \
                and ticket.state not in RESOLVED_STATES:
            update.update(self._resolution(incident))
        if not update:
            return [SendCallback(event.share_id, incident_id, ticket)]
        return [UpdateTicket(event.share_id, incident_id, ticket, update)]

    def _resolution(self, incident: dict[str, object]) -> dict[str, str]:
        return {"state": "6", "close_code": self.settings.close_code,
                "close_notes": f"Resolved in BigPanda: every alert of incident {incident.get('id')} is resolved."}

    def _on_written(self, event: TicketWritten, now: float) -> list[Command]:
        return [SendCallback(event.share_id, event.incident_id, event.ticket)]

    def _on_failed(self, event: TicketWriteFailed, now: float) -> list[Command]:
        return [SendCallback(event.share_id, event.incident_id, error=event.error)]
