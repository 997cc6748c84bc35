"""kill -9 and a restart of each process: the core, ServiceNow, BigPanda. Each run ends with a
count of lost and duplicate tickets (and tickets without an incident), asserted 0, 0, 0.

What survives a kill -9 (SIGKILL runs no handler and no `finally`):
- the core keeps no state of its own: its tickets are in ServiceNow (correlation_id), its
  shares are leased in BigPanda and come back when the lease runs out;
- ServiceNow with --state-file writes every change to its SQLite file (WAL) before it answers,
  so everything it acknowledged is there after a restart;
- BigPanda with --state-file writes the file only at a clean stop (SIGINT, SIGTERM) and when
  `/_sim/snapshot/save` names it; a kill -9 loses everything since the last save. So its run
  saves at a quiet point (the queue drained), is killed, and restarts from that file while the
  core keeps polling a BigPanda that is not there.

The core runs with a 5 s share lease on BigPanda and polls every 0.5 s, so a restart is
seconds, not minutes; every wait polls with a deadline.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bpsn.bench.chaos_stack import ProcessStack

pytestmark = pytest.mark.slow(seconds=16)


@pytest.fixture
def stack(tmp_path: Path) -> ProcessStack:
    return ProcessStack(tmp_path, bigpanda_state=True, servicenow_state=True)


def burst(stack: ProcessStack, prefix: str, n: int) -> list[str]:
    return [stack.send_alert(f"{prefix}-{i}") for i in range(n)]


def assert_none_lost(stack: ProcessStack, incidents: list[str], what: str) -> None:
    count = stack.count(incidents)
    print(f"{what}: {count.line()}")
    assert (len(count.lost), len(count.duplicates)) == (0, 0), count
    assert count.orphans == [], count


def leased(stack: ProcessStack) -> bool:
    return bool(stack.queue()["leased"])


def test_the_counter_sees_lost_duplicate_and_orphan_tickets(stack: ProcessStack,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The count every run here relies on can fail (ServiceNow's ticket list stubbed: no process)."""
    with stack:
        monkeypatch.setattr(stack, "ticket_ids", lambda: ["a", "a", "c", "stray"])
        count = stack.count(["a", "b", "c"])
        assert (count.lost, count.duplicates, count.orphans) == (["b"], ["a"], ["stray"])
        assert not count.ok
        assert stack.count(["a", "c", "stray"]).orphans == []


def test_kill_9_of_the_core_mid_burst_then_a_restart(stack: ProcessStack) -> None:
    with stack:
        stack.start_all()
        # slow ServiceNow writes, so the kill lands while the core holds leased shares
        stack.add_fault("servicenow", method="POST", path="/api/now", latency_ms=300)
        incidents = burst(stack, "core-kill", 15)
        stack.wait_for(lambda: leased(stack), "the core leasing shares", [stack.children["core"]])
        stack.kill9("core")
        stack.clear_faults()
        incidents += burst(stack, "core-down", 10)  # arrive while no core runs
        assert stack.queue()["pending"] or stack.queue()["leased"]  # the kill left work behind
        stack.start("core")
        stack.drain(timeout=60)
        assert_none_lost(stack, incidents, "kill -9 of the core")
        assert stack.queue()["dead_letters"] == []


def test_kill_9_of_servicenow_then_a_restart_from_its_state_file(stack: ProcessStack) -> None:
    stack.env["BPSN_MAX_ATTEMPTS"] = "3"  # the core gives up on a dead ServiceNow in ~2 s, not ~10 s
    with stack:
        stack.start_all()
        before = burst(stack, "sn-before", 10)
        stack.wait_for(lambda: len(stack.ticket_ids()) >= 5, "tickets written", list(stack.children.values()))
        mark = stack.log_mark("core")
        stack.kill9("servicenow")
        during = burst(stack, "sn-down", 10)  # the core finds ServiceNow gone and stops taking shares
        stack.wait_for(lambda: stack.logged("core", "ServiceNow is unavailable", mark),
                       "the core noticing the outage", [stack.children["core"]])
        queue = stack.queue()
        # the shares wait in BigPanda: pending, or leased by the retrieval that met the outage (they
        # come back when the lease ends); which of the two depends on when the outage was noticed
        assert queue["pending"] or queue["leased"], queue
        stack.start("servicenow")
        stack.drain(timeout=60)
        assert_none_lost(stack, before + during, "kill -9 of ServiceNow")
        assert stack.queue()["dead_letters"] == []


def test_kill_9_of_bigpanda_after_a_save_point_then_a_restart_from_its_state_file(stack: ProcessStack) -> None:
    with stack:
        stack.start_all()
        saved = burst(stack, "bp-saved", 10)
        stack.drain()
        stack.bp_admin.post("/_sim/snapshot/save", json={"path": stack.bigpanda_state_file.name}).raise_for_status()
        acknowledged = stack.queue()["acknowledged"]
        mark = stack.log_mark("core")
        stack.kill9("bigpanda")
        stack.wait_for(lambda: stack.logged("core", "ConnectError", mark), "the core running into the outage",
                       [stack.children["core"]])
        stack.start("bigpanda")
        assert stack.queue()["acknowledged"] == acknowledged  # the saved queue came back
        again = [stack.send_alert(f"bp-saved-{i}", status="warning") for i in range(10)]
        assert again == saved  # the same hosts: the saved incidents, not new ones
        after = burst(stack, "bp-after", 10)
        stack.drain(timeout=60)
        assert_none_lost(stack, saved + after, "kill -9 of BigPanda")
        assert stack.children["core"].alive()
