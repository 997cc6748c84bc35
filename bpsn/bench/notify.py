"""ServiceNow -> BigPanda latency with and without change notifications, on a real clock.

`python -m bpsn.bench.notify [--samples N] [--poll-interval S]`: both simulators served on
loopback ports (run_stack) and a core polling every S seconds (15) over HTTP. For each mode,
notifications on (ServiceNow's outbound message wakes the core: integration/notifications.py)
and off (the per-cycle delta watch alone), N incidents become tickets; then, spread evenly
over one poll interval so every phase of the poll is met, an analyst sets a mapped field on
half the tickets and resolves the other half through the Table API. Measured: seconds from
the analyst's write to the BigPanda incident showing the tag (tag sync), or resolved
(resolve). Goal (issue #16): p95 <= coalesce (5 s) + 1 s at any poll interval.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bpsn.integration.engine.mapping import IncidentSettings
from bpsn.integration.engine.tags import TagMapping
from bpsn.integration.factory import build_runner, close_runner
from bpsn.integration.notifications import ChangeFollower
from bpsn.integration.runner import IntegrationRunner
from bpsn.stack import Stack, connect_notifications, core_settings, run_stack

TAG, FIELD = "component", "subcategory"
WAIT_LIMIT = 120.0  # seconds one change may take before the bench gives up on it


@dataclass
class ModeResult:
    notifications: bool
    tag_sync: list[float]
    resolve: list[float]

    def row(self) -> dict[str, Any]:
        return {"notifications": self.notifications, "tag_sync": summary(self.tag_sync),
                "resolve": summary(self.resolve)}


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]


def summary(values: list[float]) -> dict[str, float | int]:
    return {"n": len(values), "p50_s": round(statistics.median(values), 2), "p95_s": round(p95(values), 2),
            "max_s": round(max(values), 2)}


async def _until(check: Any, limit: float = WAIT_LIMIT) -> float:
    """Seconds until `check()` (a coroutine function) is true, looked at every 20 ms."""
    start = time.monotonic()
    while not await check():
        if time.monotonic() - start > limit:
            raise TimeoutError(f"no change after {limit:g} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - start


async def measure(*, notifications: bool, samples: int, poll_interval: float) -> ModeResult:
    async with run_stack(poll_interval=poll_interval, with_core=False) as stack:
        bp, sn = stack.bigpanda.settings, stack.servicenow.settings
        user = httpx.AsyncClient(base_url=stack.bigpanda_url, headers={"Authorization": f"Bearer {bp.user_api_key}"})
        alerts = httpx.AsyncClient(base_url=stack.bigpanda_url, headers={"Authorization": f"Bearer {bp.org_token}"})
        analyst = httpx.AsyncClient(base_url=stack.servicenow_url, auth=("admin", sn.admin_password),
                                    headers={"Accept": "application/json"})
        r = await user.post("/resources/v2.0/incidents/tags/definitions",
                            json={"name": TAG, "type": "Text", "description": "bench", "values": []})
        r.raise_for_status()
        tag_id = str(r.json()["id"])
        runner = build_runner(core_settings(bp, sn, poll_interval, 100), clock=stack.clock,
                              incident_settings=IncidentSettings(tag_mappings=(TagMapping(TAG, FIELD, "both"),)))
        if notifications:
            connect_notifications(stack.servicenow, ChangeFollower(lambda: runner), runner)
        stop = asyncio.Event()
        core = asyncio.create_task(runner.run(stop))
        try:
            tickets = await _tickets(alerts, analyst, bp.alerts_app_key, samples)
            await asyncio.sleep(poll_interval * 0.37)  # off the poll's beat
            changes = [_change(i, t, stack, runner, analyst, tag_id, samples, poll_interval)
                       for i, t in enumerate(tickets)]
            outcomes = await asyncio.gather(*changes)
        finally:
            stop.set()
            await core
            await close_runner(runner)
            for client in (user, alerts, analyst):
                await client.aclose()
    tag = [s for kind, s in outcomes if kind == "tag"]
    resolve = [s for kind, s in outcomes if kind == "resolve"]
    return ModeResult(notifications, tag, resolve)


async def _tickets(alerts: httpx.AsyncClient, analyst: httpx.AsyncClient, app_key: str,
                   samples: int) -> list[dict[str, Any]]:
    r = await alerts.post("/data/v2/alerts", json={"app_key": app_key, "alerts": [
        {"host": f"notify-bench-{i:03d}", "check": "latency", "status": "critical"} for i in range(samples)]})
    r.raise_for_status()
    rows: list[dict[str, Any]] = []

    async def all_there() -> bool:
        nonlocal rows
        got = await analyst.get("/api/now/table/incident", params={
            "sysparm_query": "correlation_display=BigPanda", "sysparm_fields": "sys_id,correlation_id",
            "sysparm_limit": str(samples * 2)})
        rows = got.json()["result"]
        return len(rows) >= samples
    await _until(all_there)
    return rows[:samples]


async def _change(i: int, ticket: dict[str, Any], stack: Stack, runner: IntegrationRunner,
                  analyst: httpx.AsyncClient, tag_id: str, samples: int, poll_interval: float) -> tuple[str, float]:
    await asyncio.sleep(poll_interval * i / samples)  # every phase of the poll interval
    org = stack.bigpanda.orgs[stack.bigpanda.settings.organization]
    incident_id = ticket["correlation_id"]
    if i % 2 == 0:
        value = f"svc-{i}"
        body: dict[str, str] = {FIELD: value}

        async def shown() -> bool:
            return org.incidents[incident_id].incident_tags.get(tag_id) == value
        kind = "tag"
    else:
        body = {"state": "6", "close_code": "Solved (Permanently)", "close_notes": "bench"}

        async def shown() -> bool:
            return not org.incidents[incident_id].active
        kind = "resolve"
    start = time.monotonic()
    r = await analyst.patch(f"/api/now/table/incident/{ticket['sys_id']}", json=body)
    r.raise_for_status()
    await _until(shown)
    return kind, time.monotonic() - start


async def main_async(samples: int, poll_interval: float) -> list[dict[str, Any]]:
    rows = []
    for notifications in (False, True):  # same run, same machine: the baseline first
        result = await measure(notifications=notifications, samples=samples, poll_interval=poll_interval)
        rows.append({"poll_interval_s": poll_interval, **result.row()})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bpsn.bench.notify", description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=40, help="changes per mode, half tag edits, half resolves")
    parser.add_argument("--poll-interval", type=float, default=15.0, help="the core's poll interval, seconds")
    parser.add_argument("--out", type=Path, default=Path("results/bench/notify.json"), help="where the rows go")
    args = parser.parse_args(argv)
    rows = asyncio.run(main_async(args.samples, args.poll_interval))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
