"""Lifecycle transitions of the incidents engine: (share or ticket change) x ticket state -> commands."""

from __future__ import annotations

from bpsn.base.clock import glide
from bpsn.integration.engine.incidents import IncidentEngine
from bpsn.integration.engine.mapping import IncidentSettings, ticket_sys_id
from bpsn.integration.engine.messages import (
    CommentIncident,
    CreateTicket,
    ResolveIncident,
    SendCallback,
    ShareReceived,
    SnoozeIncident,
    TicketChanged,
    TicketRef,
    TicketWritten,
    UnsnoozeIncident,
    UpdateTicket,
)

NOW = 1_767_225_600.0


def inc(active: bool = True, **extra: object) -> dict[str, object]:
    return {"id": "inc-1", "status": "critical" if active else "ok", "severity": "critical", "active": active,
            "alerts": [], **extra}


def ticket(state: str, resolved_at: float | None = None, sys_id: str | None = None) -> TicketRef:
    fields = {"resolved_at": glide(resolved_at)} if resolved_at is not None else {}
    return TicketRef(sys_id or ticket_sys_id("demo", "inc-1"), "INC0010001", state, fields=fields)


def share(incident: dict[str, object], existing: TicketRef | None, trigger: str = "incident#updated") -> ShareReceived:
    return ShareReceived("s-1", incident, "env-1", trigger, existing, (trigger,))


def test_resolve_blocked_while_flapping_adds_a_work_note() -> None:
    [cmd] = IncidentEngine().handle(share(inc(False, flapping=True), ticket("2")), NOW)
    assert isinstance(cmd, UpdateTicket) and "state" not in cmd.fields
    assert "blocked" in cmd.fields["work_notes"]


def test_resolve_goes_through_when_blocking_is_off_or_flapping_stopped() -> None:
    off = IncidentEngine(IncidentSettings(block_resolve_while_flapping=False))
    assert off.handle(share(inc(False, flapping=True), ticket("2")), NOW)[0].fields["state"] == "6"
    calm = IncidentEngine().handle(share(inc(False, flapping=False), ticket("2"), "incident#stopped-flapping"), NOW)
    assert calm[0].fields["state"] == "6"


def test_reopen_inside_the_window_and_at_its_edge() -> None:
    for age in (10, 1800):
        [cmd] = IncidentEngine().handle(share(inc(), ticket("6", NOW - age), "incident#reopen"), NOW)
        assert isinstance(cmd, UpdateTicket) and cmd.fields["state"] == "2"


def test_outside_the_window_a_new_linked_ticket_of_the_next_generation() -> None:
    previous = ticket("6", NOW - 1801)
    [cmd] = IncidentEngine().handle(share(inc(), previous, "incident#reopen"), NOW)
    assert isinstance(cmd, CreateTicket)
    assert cmd.sys_id == ticket_sys_id("demo", "inc-1", 1) != previous.sys_id
    assert cmd.fields["parent_incident"] == previous.sys_id and cmd.previous == previous
    second = ticket("7", None, sys_id=cmd.sys_id)
    [again] = IncidentEngine().handle(share(inc(), second, "incident#reopen"), NOW)
    assert again.sys_id == ticket_sys_id("demo", "inc-1", 2)


def test_reopen_disabled_or_closed_ticket_makes_a_new_ticket() -> None:
    off = IncidentEngine(IncidentSettings(reopen_resolved=False))
    assert isinstance(off.handle(share(inc(), ticket("6", NOW - 5)), NOW)[0], CreateTicket)
    assert isinstance(IncidentEngine().handle(share(inc(), ticket("7", NOW - 5)), NOW)[0], CreateTicket)
    # a Canceled ticket of an incident that never resolved stays as it is
    assert isinstance(IncidentEngine().handle(share(inc(), ticket("8")), NOW)[0], SendCallback)


def test_the_new_ticket_written_notes_the_previous_one_then_calls_back_with_the_new_one() -> None:
    previous, new = ticket("6"), TicketRef("new", "INC0010002", "1")
    [note] = IncidentEngine().handle(TicketWritten("s-1", "inc-1", new, previous=previous), NOW)
    assert isinstance(note, UpdateTicket) and note.ticket == previous and "INC0010002" in note.fields["work_notes"]
    [callback] = IncidentEngine().handle(TicketWritten("s-1", "inc-1", previous, successor=new), NOW)
    assert callback == SendCallback("s-1", "inc-1", new)


def test_snooze_holds_and_unsnooze_releases() -> None:
    snoozed = inc(snooze={"snoozed": True, "end_time": int(NOW) + 600, "autoCancel": True})
    [hold] = IncidentEngine().handle(share(snoozed, ticket("2"), "incident#snoozed"), NOW)
    assert (hold.fields["state"], hold.fields["hold_reason"]) == ("3", "4")
    awake = inc(snooze={"snoozed": False, "end_time": None, "autoCancel": False})
    [release] = IncidentEngine().handle(share(awake, ticket("3"), "incident#unsnoozed"), NOW)
    assert release.fields["state"] == "2"
    # a ticket an analyst put On Hold is not released by an unrelated update
    [other] = IncidentEngine().handle(share(awake, ticket("3")), NOW)
    assert "state" not in getattr(other, "fields", {})


def changed(state: str, **fields: str) -> TicketChanged:
    return TicketChanged("inc-1", TicketRef("x", "INC0010001", state, fields=fields))


def test_ticket_resolved_in_servicenow_resolves_bigpanda_with_the_closure_code() -> None:
    at = glide(NOW)
    cmds = IncidentEngine().handle(changed("6", resolved_at=at, sys_updated_on=at, close_code="Duplicate",
                                           close_notes="n"), NOW)
    assert [type(c) for c in cmds] == [ResolveIncident, CommentIncident] and "Duplicate" in cmds[1].comment
    assert IncidentEngine().handle(changed("6", resolved_at=glide(NOW - 60), sys_updated_on=at), NOW) == []
    quiet = IncidentEngine(IncidentSettings(resolve_bigpanda=False, send_closure_code=False))
    assert quiet.handle(changed("6", resolved_at=at, sys_updated_on=at, close_code="x"), NOW) == []


def test_on_hold_in_servicenow_snoozes_for_a_day_and_leaving_it_unsnoozes() -> None:
    [snooze] = IncidentEngine().handle(changed("3"), NOW)
    assert isinstance(snooze, SnoozeIncident) and snooze.end_time == int(NOW) + 86400
    assert IncidentEngine().handle(changed("2"), NOW) == [UnsnoozeIncident("inc-1")]
    assert IncidentEngine().handle(changed("8"), NOW) == []
