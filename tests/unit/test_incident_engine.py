"""The incidents engine as a table: (event, ticket state) -> commands. No servers."""

from __future__ import annotations

import pytest

from bpsn.integration.engine.incidents import EngineError, IncidentEngine
from bpsn.integration.engine.mapping import IncidentSettings, short_description, ticket_sys_id
from bpsn.integration.engine.messages import (
    CreateTicket,
    SendCallback,
    ShareReceived,
    TicketRef,
    TicketWriteFailed,
    TicketWritten,
    UpdateTicket,
)


def incident(active: bool = True, status: str = "critical", **extra: object) -> dict[str, object]:
    alerts = [
        {"id": "a1", "status": "warning", "primary_property": "host", "startedOn": 10,
         "tags": [{"name": "host", "value": "web-2"}]},
        {"id": "a2", "status": status, "primary_property": "host", "startedOn": 20,
         "tags": [{"name": "host", "value": "web-1"}]},
    ]
    return {"id": "inc-1", "status": status, "severity": "critical", "active": active, "alerts": alerts, **extra}


def share(inc: dict[str, object], existing: TicketRef | None = None) -> ShareReceived:
    return ShareReceived("s-1", inc, "env-1", "incident#new", existing)


def test_a_share_without_a_ticket_creates_one_with_a_derived_sys_id() -> None:
    [cmd] = IncidentEngine().handle(share(incident()), 0)
    assert isinstance(cmd, CreateTicket)
    assert cmd.sys_id == ticket_sys_id("demo", "inc-1")
    assert cmd.fields["short_description"] == "BigPanda Incident: web-1 - critical"
    assert cmd.fields["correlation_id"] == "inc-1"
    assert (cmd.fields["impact"], cmd.fields["urgency"]) == ("1", "1")
    assert "state" not in cmd.fields


def test_ticket_sys_ids_differ_by_organisation() -> None:
    assert ticket_sys_id("org-a", "inc-1") != ticket_sys_id("org-b", "inc-1")
    assert len(ticket_sys_id("a", "b")) == 32


def test_a_resolved_incident_without_a_ticket_is_created_resolved() -> None:
    [cmd] = IncidentEngine().handle(share(incident(active=False, status="ok")), 0)
    assert isinstance(cmd, CreateTicket)
    assert cmd.fields["state"] == "6" and cmd.fields["close_code"] and cmd.fields["close_notes"]


def test_an_existing_ticket_gets_only_the_changed_update_fields() -> None:
    engine = IncidentEngine()
    current = engine.handle(share(incident()), 0)[0].fields  # type: ignore[union-attr]
    fields = {**current, "description": "old text"}
    ticket = TicketRef("sys-1", "INC0010001", "2", fields=fields)
    [cmd] = engine.handle(share(incident(), ticket), 0)
    assert isinstance(cmd, UpdateTicket)
    assert cmd.fields == {"description": current["description"]}


def test_an_unchanged_ticket_is_not_written_but_acknowledged() -> None:
    engine = IncidentEngine()
    fields = engine.handle(share(incident()), 0)[0].fields  # type: ignore[union-attr]
    ticket = TicketRef("sys-1", "INC0010001", "2", fields=dict(fields))
    assert engine.handle(share(incident(), ticket), 0) == [SendCallback("s-1", "inc-1", ticket)]


def test_update_fields_limit_what_changes() -> None:
    engine = IncidentEngine(IncidentSettings(update_fields=("impact",)))
    ticket = TicketRef("sys-1", "INC0010001", "2", fields={"impact": "3", "short_description": "x"})
    [cmd] = engine.handle(share(incident(), ticket), 0)
    assert isinstance(cmd, UpdateTicket) and cmd.fields == {"impact": "1"}


@pytest.mark.parametrize(("state", "resolve_setting", "expect_resolution"), [
    ("2", True, True),    # open ticket, BigPanda resolved -> resolve
    ("6", True, False),   # already resolved -> nothing more
    ("7", True, False),   # closed tickets are never written
    ("2", False, False),  # resolving switched off
])
def test_resolution_follows_bigpanda(state: str, resolve_setting: bool, expect_resolution: bool) -> None:
    engine = IncidentEngine(IncidentSettings(resolve_servicenow=resolve_setting, update_fields=()))
    ticket = TicketRef("sys-1", "INC0010001", state)
    [cmd] = engine.handle(share(incident(active=False, status="ok"), ticket), 0)
    if expect_resolution:
        assert isinstance(cmd, UpdateTicket) and cmd.fields["state"] == "6"
        assert cmd.fields["close_code"] == "Solution provided"
    else:
        assert isinstance(cmd, SendCallback)


def test_written_and_failed_tickets_become_callbacks() -> None:
    engine = IncidentEngine()
    ref = TicketRef("sys-1", "INC0010001")
    assert engine.handle(TicketWritten("s-1", "inc-1", ref), 0) == [SendCallback("s-1", "inc-1", ref)]
    assert engine.handle(TicketWriteFailed("s-1", "inc-1", "403"), 0) == [SendCallback("s-1", "inc-1", error="403")]


def test_an_unexpected_event_names_itself() -> None:
    with pytest.raises(EngineError, match="str"):
        IncidentEngine().handle("nonsense", 0)  # type: ignore[arg-type]


def test_primary_alert_is_the_worst_then_the_earliest() -> None:
    inc = incident()
    inc["alerts"].append({"id": "a3", "status": "critical", "primary_property": "host", "startedOn": 5,  # type: ignore[union-attr]
                          "tags": [{"name": "host", "value": "db-9"}]})
    assert short_description(inc) == "BigPanda Incident: db-9 - critical"
