"""The core's ticket write path through the harness: by default each poll's tickets go as
staging rows in ONE insertMultiple, the transform map writes them, and the core learns each
ticket from its row; `write_path: batch` keeps the Batch API."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bpsn.harness.journal import batch_items
from bpsn.integration.config.settings import ConnectionSettings
from bpsn.integration.runner import PollReport
from bpsn.testing import InProcessBench

CORE = "bigpanda.integration"
INSERT_MULTIPLE = "/api/now/import/x_bip_panda_shareincident/insertMultiple"
HOSTS = [f"db-{n:02d}" for n in range(6)]


def _bench(write_path: str) -> InProcessBench:
    bench = InProcessBench()
    bench.settings = ConnectionSettings(bigpanda_url=bench.settings.bigpanda_url,
                                        servicenow_url=bench.settings.servicenow_url, write_path=write_path)
    bench.runner = bench.new_core()
    return bench


def _poll_new_shares(bench: InProcessBench) -> tuple[list[tuple[str, str]], list[list[tuple[str, str]]], PollReport]:
    """One poll of len(HOSTS) new shares: the core's requests, its Batch API items, the report."""
    r = bench.send_alerts(*({"status": "critical", "host": h, "check": "disk full", "incident_key": h}
                            for h in HOSTS))
    assert r.status_code == 201, r.text
    bench.advance(1)
    sn0, _ = bench.journal_marks()
    report = bench.poll()
    assert report.created == len(HOSTS) and report.errors == 0, report
    entries = bench.servicenow.journal.find(since_id=sn0, user=CORE)
    network = [(e.method, e.path) for e in entries if "batch-item" not in e.notes]
    return network, batch_items(entries), report


def test_one_poll_of_new_shares_writes_its_tickets_in_one_insert_multiple() -> None:
    bench = _bench("import_set")
    try:
        calls, batches, report = _poll_new_shares(bench)
        # one insertMultiple for the tickets, one for the share-staging companion's metadata rows
        assert calls.count(("POST", INSERT_MULTIPLE)) == 2, calls
        assert not [item for items in batches for item in items if item[1] == "incident"], batches
        assert not [c for c in calls if c[0] in ("POST", "PATCH") and c[1].startswith("/api/now/table/incident")]
        tickets = {t["sys_id"]: t for t in bench.tickets()}
        assert len(tickets) == report.created
        rows = bench.records("x_bip_panda_shareincident", "u_ticketISNOTEMPTY")
        assert len(rows) == report.created
        for row in rows:  # each staging row shows its transform and the ticket it wrote
            assert row["sys_import_state"] == "inserted" and row["sys_transform_map"] == "BigPanda Incident"
            assert row["sys_target_sys_id"] in tickets and row["sys_import_set"]
        assert all(t["sys_created_by"] == CORE and t["number"].startswith("INC") for t in tickets.values())
        # the core learned each ticket from its row: BigPanda is told the number and sys_id
        told = {c["ticket"]["sys_id"]: c["ticket"]["number"] for c in report.callbacks}
        assert told == {sys_id: t["number"] for sys_id, t in tickets.items()}
    finally:
        bench.close()


@pytest.mark.parametrize("write_path", ["batch"])
def test_the_batch_write_path_stays_an_option(write_path: str) -> None:
    bench = _bench(write_path)
    try:
        calls, batches, report = _poll_new_shares(bench)
        assert sum(1 for items in batches for item in items if item == ("POST", "incident")) == len(HOSTS)
        assert calls.count(("POST", INSERT_MULTIPLE)) == 1, calls  # only the metadata companion's
        assert len(bench.tickets()) == report.created
        assert bench.records("x_bip_panda_shareincident", "u_ticketISNOTEMPTY") == []
    finally:
        bench.close()


def test_the_write_path_comes_from_bpsn_write_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BPSN_WRITE_PATH", raising=False)
    assert ConnectionSettings().write_path == "import_set"
    monkeypatch.setenv("BPSN_WRITE_PATH", "batch")
    assert ConnectionSettings().write_path == "batch"
    monkeypatch.setenv("BPSN_WRITE_PATH", "table")
    with pytest.raises(ValidationError, match="write_path"):
        ConnectionSettings()
