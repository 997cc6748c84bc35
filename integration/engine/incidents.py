"""The incidents engine: decides what to write to ServiceNow for each share, and what to tell
BigPanda for each ticket change made in ServiceNow. No I/O.

`handle(event, now) -> list[Command]`. Transitions live in one table keyed by event type;
an event the engine does not expect raises an error naming it. The share lifecycle
(resolve, flapping, reopen, snooze) is one decision per (share, ticket state): see
`_on_existing` and the table in docs of `LIFECYCLE`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bpsn.base.clock import from_glide, glide

from .mapping import IncidentSettings, ticket_fields, ticket_generation, ticket_sys_id
from .messages import (
    CoalesceTick,
    Command,
    CommentIncident,
    CreateTicket,
    Event,
    ResolveIncident,
    SendCallback,
    ShareReceived,
    SnoozeIncident,
    TagsSent,
    TicketChanged,
    TicketRef,
    TicketWriteFailed,
    TicketWritten,
    UnsnoozeIncident,
    UpdateTicket,
)
from .tags import TagSync

NEW, IN_PROGRESS, ON_HOLD, RESOLVED, CLOSED, CANCELED = "1", "2", "3", "6", "7", "8"
RESOLVED_STATES = {RESOLVED, CLOSED}
CLOSED_STATES = {CLOSED, CANCELED}

LIFECYCLE = """
share (BigPanda)                      x ticket state  -> ServiceNow write
inactive, not flapping (or block off) x 1,2,3         -> state 6 + close_code + close_notes
inactive, flapping, block on          x 1,2,3         -> work note "resolve blocked" (no state change)
inactive                              x 6             -> field updates only
reopened (active and: trigger incident#reopen, or ticket 6/7)
                                      x 6, inside window, reopen on  -> state 2 + work note
                                      x 6, outside window or reopen off,
                                        7, 8 (8 only on incident#reopen)
                                                      -> new ticket (next generation), parent_incident =
                                                         previous, work note on both
active, snoozed                       x 1,2           -> state 3 + hold_reason + work note (snooze end)
active, not snoozed, incident#unsnoozed x 3           -> state 2 + work note
anything else                         x 1,2,3,6       -> field updates (update_fields) only
anything                              x 7,8           -> nothing (a closed ticket is never written)
no ticket                                             -> create (resolved at once if inactive and not
                                                         blocked; On Hold at once if snoozed)
ticket change (ServiceNow, not by the core)
resolved in this update (resolved_at == sys_updated_on), state 6/7
                                      -> resolve BigPanda (if on) + closure code comment (if on)
state 3, last seen state not 3       -> snooze BigPanda until now + hold_snooze_seconds
state 1,2, last seen state 3 or unknown -> unsnooze BigPanda (DELETE; harmless when not snoozed)
mapped tag fields changed             -> wait in the coalesce window (tags.py), then one tags call
"""


class EngineError(RuntimeError):
    pass


class IncidentEngine:
    def __init__(self, settings: IncidentSettings | None = None) -> None:
        self.settings = settings or IncidentSettings()
        self.tags = TagSync(self.settings.tag_mappings, self.settings.tag_coalesce_seconds)
        self._states: dict[str, str] = {}  # incident -> ticket state last seen (written or watched)
        self._table: dict[type, Callable[[Any, float], list[Command]]] = {
            ShareReceived: self._on_share,
            TicketWritten: self._on_written,
            TicketWriteFailed: self._on_failed,
            TicketChanged: self._on_ticket_changed,
            CoalesceTick: lambda event, now: list(self.tags.due(now)),
            TagsSent: lambda event, now: self.tags.sent(event.command) or [],
        }

    def handle(self, event: Event, now: float) -> list[Command]:
        handler = self._table.get(type(event))
        if handler is None:
            raise EngineError(f"the incidents engine has no transition for {type(event).__name__}")
        return handler(event, now)

    # --- BigPanda -> ServiceNow ------------------------------------------------------------------
    def _on_share(self, event: ShareReceived, now: float) -> list[Command]:
        incident = event.incident
        incident_id = str(incident.get("id", ""))
        ticket = event.existing
        tag_fields = self.tags.inbound_fields(incident_id, event.tags, ticket.fields if ticket else None,
                                              event.sys_ids)
        if ticket is None:
            return [self._create(event, incident, 0, None, now, tag_fields)]
        return self._on_existing(event, incident, incident_id, ticket, now, tag_fields)

    def _on_existing(self, event: ShareReceived, incident: dict[str, Any], incident_id: str,
                     ticket: TicketRef, now: float, tag_fields: dict[str, str]) -> list[Command]:
        s = self.settings
        active = bool(incident.get("active", True))
        triggers = event.all_triggers()
        reopened = active and ("incident#reopen" in triggers or ticket.state in RESOLVED_STATES)
        if reopened and (ticket.state in CLOSED_STATES or ticket.state == RESOLVED):
            if ticket.state == RESOLVED and s.reopen_resolved and self._inside_window(ticket, now):
                update = {**self._field_updates(incident, ticket, event.sys_ids), **tag_fields}
                update.update(state=IN_PROGRESS, work_notes=(
                    f"BigPanda incident {incident_id} is active again: ticket reopened "
                    f"(resolved {ticket.fields.get('resolved_at', '')}, inside the "
                    f"{s.reopen_window_seconds / 60:g}-minute re-open window)."))
                return [UpdateTicket(event.share_id, incident_id, ticket, update)]
            generation = ticket_generation(s.namespace, incident_id, ticket.sys_id) + 1
            return [self._create(event, incident, generation, ticket, now, tag_fields)]
        if ticket.state in CLOSED_STATES:
            return [SendCallback(event.share_id, incident_id, ticket)]  # a closed ticket is never written
        update = {**self._field_updates(incident, ticket, event.sys_ids), **tag_fields}
        if not active:
            if s.resolve_servicenow and ticket.state not in RESOLVED_STATES:
                if incident.get("flapping") and s.block_resolve_while_flapping:
                    update["work_notes"] = (f"BigPanda incident {incident_id} resolved while flapping: "
                                            "the resolve is blocked until it stops flapping.")
                else:
                    update.update(self._resolution(incident, event.sys_ids))
        else:
            snooze = incident.get("snooze") or {}
            if snooze.get("snoozed") and ticket.state in {NEW, IN_PROGRESS}:
                update.update(self._hold(incident))
            elif not snooze.get("snoozed") and ticket.state == ON_HOLD and "incident#unsnoozed" in triggers:
                update.update(state=IN_PROGRESS, work_notes=f"BigPanda incident {incident_id} is no longer "
                                                            "snoozed: back to In Progress.")
        if not update:
            return [SendCallback(event.share_id, incident_id, ticket)]
        return [UpdateTicket(event.share_id, incident_id, ticket, update)]

    def _create(self, event: ShareReceived, incident: dict[str, Any], generation: int,
                previous: TicketRef | None, now: float, tag_fields: dict[str, str]) -> CreateTicket:
        s = self.settings
        incident_id = str(incident.get("id", ""))
        fields = {**ticket_fields(incident, s, event.sys_ids), **tag_fields}
        if s.description_to_work_notes:
            fields["work_notes"] = fields["description"]
        if not incident.get("active", True):
            if s.resolve_servicenow and not (incident.get("flapping") and s.block_resolve_while_flapping):
                fields.update(self._resolution(incident, event.sys_ids))
        elif (incident.get("snooze") or {}).get("snoozed"):
            fields.update(self._hold(incident))
        if previous is not None:
            why = ("the previous ticket is closed" if previous.state in CLOSED_STATES
                   else "re-opening is off" if not s.reopen_resolved
                   else f"it was resolved more than {s.reopen_window_seconds / 60:g} minutes ago")
            fields["parent_incident"] = previous.sys_id
            fields["work_notes"] = (f"BigPanda incident {incident_id} is active again; it follows {previous.number}, "
                                    f"which is not reopened: {why}.")
        return CreateTicket(event.share_id, incident_id, ticket_sys_id(s.namespace, incident_id, generation),
                            fields, previous)

    def _field_updates(self, incident: dict[str, Any], ticket: TicketRef,
                       sys_ids: dict[tuple[str, str], str]) -> dict[str, str]:
        fields = ticket_fields(incident, self.settings, sys_ids)
        update = {k: v for k, v in fields.items() if k in self.settings.update_fields and ticket.fields.get(k) != v}
        if self.settings.description_to_work_notes and "description" in update:
            update["work_notes"] = update["description"]
        return update

    def _inside_window(self, ticket: TicketRef, now: float) -> bool:
        """Measured from the ticket's resolved_at; exactly at the edge counts as inside."""
        resolved_at = ticket.fields.get("resolved_at", "")
        try:
            since = now - from_glide(resolved_at)
        except ValueError:
            return True  # a Resolved ticket always has resolved_at; without one, do not duplicate
        return since <= self.settings.reopen_window_seconds

    def _resolution(self, incident: dict[str, Any], sys_ids: dict[tuple[str, str], str]) -> dict[str, str]:
        out = {"state": RESOLVED, "close_code": self.settings.close_code,
               "close_notes": f"Resolved in BigPanda: every alert of incident {incident.get('id')} is resolved."}
        email = self.settings.resolved_by_email
        if email and sys_ids.get(("sys_user", email)):
            out["resolved_by"] = sys_ids[("sys_user", email)]
        return out

    def _hold(self, incident: dict[str, Any]) -> dict[str, str]:
        end = (incident.get("snooze") or {}).get("end_time")
        until = f"until {glide(float(end))} UTC" if end else "without an end time"
        return {"state": ON_HOLD, "hold_reason": self.settings.hold_reason,
                "work_notes": f"BigPanda incident {incident.get('id')} is snoozed {until}: ticket On Hold."}

    def _on_written(self, event: TicketWritten, now: float) -> list[Command]:
        if event.previous is None and event.successor is None:
            self._states[event.incident_id] = event.ticket.state
        if event.previous is not None:  # the new ticket exists: note it on the one it follows
            note = (f"BigPanda incident {event.incident_id} is active again; it continues in "
                    f"{event.ticket.number}.")
            return [UpdateTicket(event.share_id, event.incident_id, event.previous, {"work_notes": note},
                                 successor=event.ticket)]
        return [SendCallback(event.share_id, event.incident_id, event.successor or event.ticket)]

    def _on_failed(self, event: TicketWriteFailed, now: float) -> list[Command]:
        self.tags.forget(event.incident_id)
        return [SendCallback(event.share_id, event.incident_id, error=event.error)]

    def forget_ticket_state(self, incident_id: str) -> None:
        """The action a ticket change asked for failed: judge its next sighting as new."""
        self._states.pop(incident_id, None)

    # --- ServiceNow -> BigPanda ------------------------------------------------------------------
    def _on_ticket_changed(self, event: TicketChanged, now: float) -> list[Command]:
        s, t, incident_id = self.settings, event.ticket, event.incident_id
        f = t.fields
        if event.named:  # the window opens at the edit itself, however late the watch sees it
            try:
                changed_at = min(now, from_glide(f.get("sys_updated_on", "")))
            except ValueError:
                changed_at = now
            self.tags.ticket_changed(incident_id, event.named, changed_at)
        before = self._states.get(incident_id)
        self._states[incident_id] = t.state
        if t.state in RESOLVED_STATES:
            if not f.get("resolved_at") or f.get("resolved_at") != f.get("sys_updated_on"):
                return []  # resolved earlier: this change is something else
            out: list[Command] = []
            if s.resolve_bigpanda:
                out.append(ResolveIncident(incident_id, f"Resolved in ServiceNow: {t.number}"))
            if s.send_closure_code and (f.get("close_code") or f.get("close_notes")):
                note = f"ServiceNow {t.number} closure code: {f.get('close_code', '')}."
                out.append(CommentIncident(incident_id, f"{note} Notes: {f.get('close_notes', '')}"))
            return out
        if t.state == ON_HOLD and before != ON_HOLD:
            return [SnoozeIncident(incident_id, int(now) + s.hold_snooze_seconds,
                                   f"On Hold in ServiceNow: {t.number}", cancel_on_incident_updates=False)]
        if t.state in {NEW, IN_PROGRESS} and before in (None, ON_HOLD):
            return [UnsnoozeIncident(incident_id)]
        return []
