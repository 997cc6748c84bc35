"""Root Cause Changes: BigPanda's answer parsed, rows and caused_by planned, and when each incident
is read (the 5 rps budget), with a fake BigPanda, fake lookups and a fake writer: no I/O."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import httpx
import pytest

from bpsn.base.clock import SimClock
from bpsn.integration.engine.messages import TicketRef
from bpsn.integration.modules.record_writes import PlannedRecord, WriteOutcome
from bpsn.integration.modules.root_cause import (
    TABLE,
    RelatedChange,
    RootCauseChanges,
    RootCauseSettings,
    cause,
    parse_related,
    plan_related_changes,
)
from bpsn.integration.runner import WrittenTicket

CHANGES = {"CHG1": "c1", "CHG2": "c2"}


def relation(identifier: str, certainty: str, comment: str = "") -> dict[str, Any]:
    return {"id": f"r-{identifier}", "change_id": f"id-{identifier}", "incident_id": "I1",
            "match_certainty": certainty, "comment": comment,
            "change": {"identifier": identifier, "summary": "s", "status": "Done"}}


def test_parse_reads_identifier_certainty_and_comment() -> None:
    body = {"totalRelatedCount": 2, "relatedChanges": [relation("CHG1", "MATCH", "deploy"), relation("X", "NONE")]}
    assert parse_related(body) == [RelatedChange("CHG1", "MATCH", "deploy"), RelatedChange("X", "NONE", "")]


def test_parse_falls_back_to_the_change_id_without_the_change_object() -> None:
    rel = relation("CHG1", "SUSPECT")
    rel["change"] = None
    assert parse_related({"relatedChanges": [rel]}) == [RelatedChange("id-CHG1", "SUSPECT", "")]


@pytest.mark.parametrize(("body", "message"), [
    ({"totalRelatedCount": 0}, "without a relatedChanges list"),
    ([], "without a relatedChanges list"),
    ({"relatedChanges": [relation("CHG1", "PROBABLY")]}, "relation 0 lacks"),
    ({"relatedChanges": [{"match_certainty": "MATCH"}]}, "relation 0 lacks"),
])
def test_parse_names_what_is_wrong(body: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_related(body)


def test_cause_is_the_one_match_known_to_servicenow() -> None:
    assert cause([RelatedChange("CHG1", "MATCH", ""), RelatedChange("CHG2", "SUSPECT", "")], CHANGES) == "c1"
    assert cause([RelatedChange("CHG1", "MATCH", ""), RelatedChange("CHG2", "MATCH", "")], CHANGES) == ""
    assert cause([RelatedChange("JIRA-1", "MATCH", "")], CHANGES) == ""
    assert cause([], CHANGES) == ""


def test_one_row_per_change_with_a_stable_id() -> None:
    related = [RelatedChange("CHG1", "MATCH", "deploy"), RelatedChange("JIRA-1", "SUSPECT", "")]
    rows = plan_related_changes("t" * 32, related, CHANGES)
    assert [r.table for r in rows] == [TABLE, TABLE]
    assert rows[0].fields == {"u_incident": "t" * 32, "u_change_request": "c1", "u_change_identifier": "CHG1",
                              "u_match_certainty": "MATCH", "u_comment": "deploy"}
    assert rows[1].fields["u_change_request"] == ""
    assert [r.sys_id for r in rows] == [r.sys_id for r in plan_related_changes("t" * 32, related, {})]


def test_settings_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="refresh_seconds"):
        RootCauseSettings(refresh_seconds=0)
    with pytest.raises(ValueError, match="max_reads_per_poll"):
        RootCauseSettings(max_reads_per_poll=0)


# --- the companion, with fakes --------------------------------------------------------------------------
class FakeBigPanda:
    def __init__(self) -> None:
        self.related: dict[str, list[dict[str, Any]]] = {}
        self.failing: set[str] = set()
        self.calls: list[str] = []

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        incident_id = kwargs["params"]["incident_id"]
        self.calls.append(incident_id)
        if incident_id in self.failing:
            return httpx.Response(500, json={"errors": ["boom"]})
        if incident_id not in self.related:
            return httpx.Response(404, json={"errors": ["no such incident"]})
        rels = self.related[incident_id]
        return httpx.Response(200, json={"totalRelatedCount": len(rels), "relatedChanges": rels})


class FakeReferences:
    async def sys_ids(self, table: str, keys: Iterable[str], field: str = "") -> dict[str, str]:
        assert table == "change_request"
        return {k: CHANGES[k] for k in keys if k in CHANGES}


class FakeWriter:
    def __init__(self) -> None:
        self.writes: list[list[PlannedRecord]] = []

    async def write(self, records: list[PlannedRecord]) -> WriteOutcome:
        self.writes.append(records)
        return WriteOutcome(sent=len(records), requests=1)


def companion(**settings: Any) -> tuple[RootCauseChanges, FakeBigPanda, FakeWriter, SimClock]:
    clock, bigpanda, writer = SimClock.virtual(), FakeBigPanda(), FakeWriter()
    rcc = RootCauseChanges(bigpanda, None, FakeReferences(), clock,  # type: ignore[arg-type]
                           RootCauseSettings(enabled=True, **settings))
    rcc.writer = writer  # type: ignore[assignment]
    return rcc, bigpanda, writer, clock


def written(incident_id: str, active: bool = True, ticket: str = "") -> WrittenTicket:
    share = {"incident_id": incident_id, "incident": {"id": incident_id, "active": active}}
    return WrittenTicket(share, TicketRef(ticket or incident_id.ljust(32, "0"), "INC1", "1"))


def test_a_new_ticket_is_read_at_once_then_not_before_the_refresh_interval() -> None:
    rcc, bigpanda, writer, clock = companion(refresh_seconds=300)
    bigpanda.related["I1"] = [relation("CHG1", "SUSPECT")]
    asyncio.run(rcc.after_poll([written("I1")]))
    asyncio.run(rcc.after_poll([written("I1")]))  # another share, 0 s later: not due
    clock.advance(299)
    asyncio.run(rcc.refresh())
    assert bigpanda.calls == ["I1"]
    clock.advance(1)
    asyncio.run(rcc.refresh())
    assert bigpanda.calls == ["I1", "I1"]
    assert [r.fields["u_change_identifier"] for r in writer.writes[0]] == ["CHG1"]


def test_at_most_max_reads_per_poll_most_overdue_first() -> None:
    rcc, bigpanda, _, clock = companion(max_reads_per_poll=2, refresh_seconds=60)
    for i in range(5):
        bigpanda.related[f"I{i}"] = []
    asyncio.run(rcc.after_poll([written(f"I{i}") for i in range(5)]))
    assert bigpanda.calls == ["I0", "I1"]
    asyncio.run(rcc.refresh())
    assert bigpanda.calls == ["I0", "I1", "I2", "I3"]
    clock.advance(60)
    asyncio.run(rcc.refresh())  # I4 waited longest, then I0
    assert bigpanda.calls[-2:] == ["I4", "I0"]


def test_a_resolved_incident_is_read_once_more_then_dropped() -> None:
    rcc, bigpanda, _, clock = companion(refresh_seconds=60)
    bigpanda.related["I1"] = []
    asyncio.run(rcc.after_poll([written("I1")]))
    asyncio.run(rcc.after_poll([written("I1", active=False)]))
    assert "I1" in rcc.tracked and bigpanda.calls == ["I1"]
    clock.advance(60)
    asyncio.run(rcc.refresh())
    assert "I1" not in rcc.tracked and bigpanda.calls == ["I1", "I1"]


def test_a_failed_read_is_retried_after_retry_seconds_and_an_unknown_incident_dropped() -> None:
    rcc, bigpanda, writer, clock = companion(refresh_seconds=300, retry_seconds=30)
    bigpanda.failing.add("I1")
    asyncio.run(rcc.after_poll([written("I1"), written("GONE")]))
    assert "GONE" not in rcc.tracked and rcc.tracked["I1"].next_read_at == clock.now() + 30
    bigpanda.failing.clear()
    bigpanda.related["I1"] = [relation("CHG2", "MATCH")]
    clock.advance(30)
    asyncio.run(rcc.refresh())
    assert bigpanda.calls == ["I1", "GONE", "I1"] and rcc.reads == 3
    assert any(r.fields.get("caused_by") == "c2" for r in writer.writes[-1])


def test_caused_by_is_set_for_one_match_and_taken_back_only_if_the_core_set_it() -> None:
    rcc, bigpanda, writer, clock = companion(refresh_seconds=60)
    bigpanda.related["I1"] = [relation("CHG1", "MATCH")]
    asyncio.run(rcc.after_poll([written("I1")]))
    causes = [r for r in writer.writes[-1] if r.table == "incident"]
    assert [(r.fields, r.may_create) for r in causes] == [({"caused_by": "c1"}, False)]
    bigpanda.related["I1"] = [relation("CHG1", "NONE")]
    clock.advance(60)
    asyncio.run(rcc.refresh())
    assert [r.fields for r in writer.writes[-1] if r.table == "incident"] == [{"caused_by": ""}]
    clock.advance(60)
    asyncio.run(rcc.refresh())  # nothing of the core's left to take back
    assert [r for r in writer.writes[-1] if r.table == "incident"] == []


def test_off_means_no_call() -> None:
    rcc, bigpanda, writer, _ = companion()
    rcc.settings = RootCauseSettings(enabled=False)
    asyncio.run(rcc.after_poll([written("I1")]))
    assert bigpanda.calls == [] and writer.writes == []
