"""Parent-child incidents and similar incidents, planned from shares without I/O."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bpsn.integration.engine.messages import TicketRef
from bpsn.integration.modules.parent_child import ParentChildSettings, child_sys_id, plan_children
from bpsn.integration.modules.record_writes import PlannedRecord, WriteOutcome
from bpsn.integration.modules.similar import (
    SimilarIncidents,
    SimilarSettings,
    jaccard,
    rank_similar,
    row_sys_id,
    signature,
)
from bpsn.integration.runner import WrittenTicket

ON = ParentChildSettings(enabled=True)


def alert(host: str, check: str, status: str = "critical", **tags: str) -> dict[str, Any]:
    return {"status": status, "primary_property": "host", "secondary_property": "check", "description": "",
            "tags": [{"name": "host", "value": host}, {"name": "check", "value": check},
                     *({"name": k, "value": v} for k, v in tags.items())]}


def incident(incident_id: str, *alerts: dict[str, Any]) -> dict[str, Any]:
    return {"id": incident_id, "alerts": list(alerts)}


# --- parent-child ----------------------------------------------------------------------------------------
def test_one_source_has_no_children() -> None:
    assert plan_children(incident("I1", alert("db-1", "cpu"), alert("db-1", "disk")), "p" * 32, "INC1", ON, {}) == []


def test_children_per_ci_and_the_parent_count() -> None:
    planned = plan_children(incident("I1", alert("web-1", "http"), alert("web-2", "http", "warning"),
                                     alert("web-2", "disk", "ok")), "p" * 32, "INC1", ON, {"web-1": "ci1"})
    children, parent = planned[:-1], planned[-1]
    assert [c.sys_id for c in children] == [child_sys_id("p" * 32, "web-1"), child_sys_id("p" * 32, "web-2")]
    web1, web2 = (c.fields for c in children)
    assert (web1["parent_incident"], web1["cmdb_ci"], web1["correlation_id"], web1["correlation_display"]) == (
        "p" * 32, "ci1", "I1/web-1", "BigPanda child")
    assert "cmdb_ci" not in web2  # no CI of that name
    assert web2["short_description"] == "BigPanda INC1 child: web-2 - warning"
    assert (web2["state"], children[1].on_create) == ("2", {"state": "1"})
    assert (parent.sys_id, parent.fields, parent.may_create) == ("p" * 32, {"child_incidents": "2"}, False)


def test_a_child_whose_alerts_are_resolved_is_resolved_with_code_and_notes() -> None:
    planned = plan_children(incident("I1", alert("web-1", "http"), alert("web-2", "http", "ok")), "p" * 32, "INC1",
                            ON, {})
    web2 = planned[1]
    assert web2.on_create == {}
    assert {k: web2.fields[k] for k in ("state", "close_code", "close_notes")} == {
        "state": "6", "close_code": "Solution provided", "close_notes": "All BigPanda alerts of web-2 resolved."}


def test_a_grouping_tag_replaces_the_ci_and_off_means_nothing() -> None:
    inc = incident("I1", alert("web-1", "http", region="eu"), alert("web-2", "http", region="eu"))
    by_region = ParentChildSettings(enabled=True, group_tag="region")
    assert plan_children(inc, "p" * 32, "INC1", by_region, {}) == []  # one region
    assert plan_children(inc, "p" * 32, "INC1", ParentChildSettings(), {}) == []
    with pytest.raises(ValueError, match="min_groups"):
        ParentChildSettings(min_groups=1)


# --- similar incidents -------------------------------------------------------------------------------------
SIM = SimilarSettings(enabled=True, threshold=0.5)


def sig(incident_id: str, *alerts: dict[str, Any]) -> Any:
    return signature(incident(incident_id, *alerts), incident_id.ljust(32, "0"), f"INC-{incident_id}", SIM)


def test_jaccard() -> None:
    assert jaccard(frozenset("ab"), frozenset("bc")) == pytest.approx(1 / 3)
    assert jaccard(frozenset(), frozenset()) == 0.0


def test_rank_keeps_scores_above_the_threshold_best_first_with_reasons() -> None:
    this = sig("I9", alert("db-1", "cpu", env="prod", team="dba"))
    earlier = [sig("I1", alert("db-2", "cpu", env="prod", team="dba")),  # 3/5
               sig("I2", alert("db-1", "cpu", env="prod", team="dba")),  # 4/4
               sig("I3", alert("web-1", "http", env="stage"))]  # 0/7
    ranked = rank_similar(this, earlier, SIM)
    assert [(s.other.incident_id, round(s.score, 2)) for s in ranked] == [("I2", 1.0), ("I1", 0.6)]
    assert ranked[0].reasoning == ("Shares 4 of 4 alert tags with INC-I2 (Jaccard 1.00): check=cpu, env=prod, "
                                   "host=db-1, team=dba. Same CI: db-1. Same check: cpu.")
    assert rank_similar(this, earlier, SimilarSettings(enabled=True, limit=1))[0].other.incident_id == "I2"


def test_ignored_tags_do_not_count_and_settings_refuse_nonsense() -> None:
    settings = SimilarSettings(enabled=True, ignore_tags=("host",))
    s = signature(incident("I1", alert("db-1", "cpu")), "x" * 32, "", settings)
    assert s.tags == frozenset({"check=cpu"})
    with pytest.raises(ValueError, match="threshold"):
        SimilarSettings(threshold=0)


class FakeWriter:
    def __init__(self) -> None:
        self.writes: list[list[PlannedRecord]] = []

    async def write(self, records: list[PlannedRecord]) -> WriteOutcome:
        self.writes.append(records)
        return WriteOutcome(sent=len(records), requests=1)


def written(incident_id: str, *alerts: dict[str, Any]) -> WrittenTicket:
    share = {"incident_id": incident_id, "incident": incident(incident_id, *alerts)}
    return WrittenTicket(share, TicketRef(incident_id.ljust(32, "0"), f"INC-{incident_id}", "1"))


def test_rows_follow_the_signature_and_stale_rows_are_deleted() -> None:
    companion = SimilarIncidents(None, SIM)  # type: ignore[arg-type]
    writer = companion.writer = FakeWriter()  # type: ignore[assignment]
    asyncio.run(companion.after_poll([written("I1", alert("db-1", "cpu", env="prod"))]))
    assert writer.writes == []  # nothing earlier to be similar to
    asyncio.run(companion.after_poll([written("I2", alert("db-2", "cpu", env="prod"))]))  # 2/4
    (row,) = writer.writes[-1]
    assert row.sys_id == row_sys_id("I2".ljust(32, "0"), "I1") and row.fields["u_score"] == "0.50"
    asyncio.run(companion.after_poll([written("I2", alert("db-2", "cpu", env="prod"))]))  # same share again
    assert len(writer.writes) == 1
    asyncio.run(companion.after_poll([written("I2", alert("db-2", "cpu", env="prod"),
                                              alert("db-3", "mem", env="stage"))]))  # drifts away from I1
    (gone,) = writer.writes[-1]
    assert gone.delete and gone.sys_id == row.sys_id
