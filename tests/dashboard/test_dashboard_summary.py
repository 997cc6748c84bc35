"""The summary's pure parts: incidents paired with their tickets, and rate-limit usage."""

from __future__ import annotations

from bpsn.simulator.common.dashboard.summary import pair, rate_usage
from bpsn.simulator.common.journal import Journal


def _incident(incident_id: str, updated_at: float, tickets: list[dict[str, str]] | None = None) -> dict[str, object]:
    return {"id": incident_id, "updated_at": updated_at, "tickets": tickets or []}


def test_incidents_pair_with_the_ticket_they_recorded_else_by_correlation_id_newest_first() -> None:
    tickets = [{"sys_id": "s1", "number": "INC1", "correlation_id": "other"},
               {"sys_id": "s2", "number": "INC2", "correlation_id": "i2"},
               {"sys_id": "s3", "number": "INC3", "correlation_id": ""}]
    incidents = [_incident("i1", 10, [{"sys_id": "s1", "number": "INC1", "url": "u1"}]), _incident("i2", 20),
                 _incident("i3", 5)]
    rows = pair(incidents, tickets)
    assert [(r["incident"] and r["incident"]["id"], r["ticket"] and r["ticket"]["number"]) for r in rows] == [
        ("i2", "INC2"), ("i1", "INC1"), ("i3", None), (None, "INC3")]


def test_without_servicenow_an_incident_keeps_the_ticket_its_callback_recorded() -> None:
    rows = pair([_incident("i1", 1, [{"sys_id": "s9", "number": "INC9", "url": "http://sn/nav_to.do?x"}])], [])
    assert rows[0]["ticket"] == {"sys_id": "s9", "number": "INC9", "link": "http://sn/nav_to.do?x", "state": None,
                                 "recorded_only": True}


def test_rate_usage_counts_the_last_second_per_caller_and_leaves_out_429s_and_anonymous_calls() -> None:
    journal = Journal()
    for time, user, status in [(99.0, "a", 200), (99.5, "a", 200), (99.9, "a", 200), (100.0, "a", 429),
                               (99.8, "b", 200), (99.9, "", 200), (100.0, "b", 201)]:
        journal.record(time=time, method="GET", path="/x", query="", status=status, duration_ms=1.0, user=user)
    usage = rate_usage(journal.find(), now=100.0, limit=5)
    assert usage["callers"] == {"a": 2, "b": 2}  # 99.0 is a second old: out of the window
    assert (usage["busiest_requests"], usage["usage"], usage["limit_per_second"]) == (2, 0.4, 5)
    assert rate_usage(journal.find(), now=100.0, limit=None)["usage"] is None
