"""`bpsn up`'s wiring (bpsn.stack.wire_notifications): ServiceNow's outbound change notification
reaches the stack's core in-process, on real servers and a running clock, and again after a reset."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from bpsn.simulator.servicenow.records.outbound import LOG_TABLE, SEEDED_SYS_ID, TABLE
from bpsn.stack import run_stack

pytestmark = pytest.mark.slow(seconds=8)

# The wait the second test measures: the resolve without notifications takes one poll (about
# POLL + 0.05 s here), kept clear of both bounds below (under 1.5 s with them, over 2.0 s without).
POLL = 2.5


async def _resolve_one_ticket(notifications: bool) -> tuple[float, list[str]]:
    async with run_stack(poll_interval=POLL, notifications=notifications) as stack:
        bp, sn = stack.bigpanda.settings, stack.servicenow.settings
        async with httpx.AsyncClient(base_url=stack.bigpanda_url) as bigpanda, \
                httpx.AsyncClient(base_url=stack.servicenow_url, auth=("admin", sn.admin_password)) as admin:
            r = await bigpanda.post("/data/v2/alerts", headers={"Authorization": f"Bearer {bp.org_token}"}, json={
                "app_key": bp.alerts_app_key, "alerts": [{"host": "stack-01", "check": "cpu", "status": "critical"}]})
            r.raise_for_status()
            tickets: list[dict[str, str]] = []
            deadline = time.monotonic() + 3 * POLL
            while not tickets and time.monotonic() < deadline:
                await asyncio.sleep(0.02)  # the ticket appears during a cycle: the next is ~POLL away
                tickets = (await admin.get("/api/now/table/incident", params={
                    "sysparm_query": "correlation_display=BigPanda"})).json()["result"]
            assert tickets, "no ticket"
            ticket = tickets[0]
            started = time.monotonic()
            r = await admin.patch(f"/api/now/table/incident/{ticket['sys_id']}", json={
                "state": "6", "close_code": "Solved (Permanently)", "close_notes": "done"})
            r.raise_for_status()
            org = stack.bigpanda.orgs[bp.organization]
            while org.incidents[ticket["correlation_id"]].active and time.monotonic() - started < 3 * POLL:
                await asyncio.sleep(0.02)
            took = time.monotonic() - started
            outcomes = [row["outcome"] for row in (await admin.get(f"/api/now/table/{LOG_TABLE}")).json()["result"]]
            # a whole-stack reset reseeds the message inactive; the new core turns it on again
            assert (await admin.post("/_sim/reset")).status_code == 200
            message = (await admin.get(f"/api/now/table/{TABLE}/{SEEDED_SYS_ID}")).json()["result"]
            assert message["active"] == ("true" if notifications else "false")
    return took, outcomes


def test_bpsn_up_wires_notifications_and_a_resolve_skips_the_poll_wait() -> None:
    took, outcomes = asyncio.run(_resolve_one_ticket(notifications=True))
    assert took < 1.5, took  # well before the next poll
    assert "delivered" in outcomes


def test_without_notifications_the_poll_is_the_wait() -> None:
    took, outcomes = asyncio.run(_resolve_one_ticket(notifications=False))
    assert took > 2.0 and outcomes == []


@pytest.mark.bench_check
def test_the_notify_bench_measures_both_kinds_of_change() -> None:
    from bpsn.bench.notify import measure

    result = asyncio.run(measure(notifications=True, samples=2, poll_interval=3.0))
    assert len(result.tag_sync) == 1 and len(result.resolve) == 1  # no timing asserted: a smoke run
    assert set(result.row()["tag_sync"]) == {"n", "p50_s", "p95_s", "max_s"}
