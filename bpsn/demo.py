"""`bpsn demo`: a storm of alerts through the whole stack, then a summary a person can read.

Everything runs in this process over real HTTP on loopback: both simulators, the core,
and the alert source. It exits 0 only if every BigPanda incident became exactly one
ServiceNow incident and BigPanda got the ticket back.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bpsn.integration.clients.http import ApiClient, Pacer

from .alertgen import AlertGenerator
from .stack import Stack, run_stack


@dataclass
class DemoResult:
    alerts_sent: int = 0
    bigpanda_incidents: set[str] = field(default_factory=set)
    servicenow_tickets: Counter[str] = field(default_factory=Counter)
    callbacks: int = 0
    ticketed: int = 0
    latencies_ms: dict[str, float] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    servicenow_requests: int = 0
    bigpanda_requests: int = 0
    throttled: int = 0
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        one_each = all(self.servicenow_tickets.get(i, 0) == 1 for i in self.bigpanda_incidents)
        no_strays = set(self.servicenow_tickets) <= self.bigpanda_incidents
        return bool(self.bigpanda_incidents) and one_each and no_strays and self.ticketed == len(self.bigpanda_incidents)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def _wait_ticket(sn: httpx.AsyncClient, bp: httpx.AsyncClient, incident_id: str, t0: float,
                       result: DemoResult, timeout: float) -> None:
    r = await sn.get("/_sim/wait", params={"table": "incident", "sysparm_query": f"correlation_id={incident_id}",
                                           "timeout": timeout}, timeout=timeout + 5)
    if r.status_code == 200 and r.json()["matched"]:
        result.latencies_ms[incident_id] = (time.perf_counter() - t0) * 1000
    r = await bp.get("/_sim/wait", params={"incident_id": incident_id, "condition": "ticketed", "timeout": timeout},
                     timeout=timeout + 5)
    if r.status_code == 200 and r.json()["matched"]:
        result.ticketed += 1
    else:
        result.missing.append(incident_id)


async def run_demo(*, hosts: int = 40, batch_size: int = 10, seed: int = 7, poll_interval: float = 1.0,
                   timeout: float = 60.0, console: Console | None = None) -> DemoResult:
    console = console or Console()
    result = DemoResult()
    started = time.perf_counter()
    async with run_stack(poll_interval=poll_interval, seed=seed) as stack:
        # the alerts carry the app key the simulator was started with (BPSN_BP_ALERTS_APP_KEY)
        gen = AlertGenerator(seed, app_key=stack.bigpanda.settings.alerts_app_key)
        alerts = gen.burst(hosts)
        console.print(f"[bold]BigPanda simulator[/] {stack.bigpanda_url}   [bold]ServiceNow simulator[/] "
                      f"{stack.servicenow_url}   core polling every {poll_interval:g} s")
        limits = httpx.Limits(max_connections=500, max_keepalive_connections=100)
        async with httpx.AsyncClient(base_url=stack.bigpanda_url, limits=limits,
                                     headers={"Authorization": f"Bearer {stack.bigpanda.settings.org_token}",
                                              "X-Bpsn-Admin-Token":  # /_sim/wait
                                                  stack.bigpanda.settings.admin_token.get_secret_value()}) as bp, \
                httpx.AsyncClient(base_url=stack.servicenow_url, limits=limits,
                                  auth=("admin", stack.servicenow.settings.admin_password)) as sn:
            waiters: list[asyncio.Task[None]] = []
            # a well-behaved source: paced under BigPanda's 5 requests per second, and when the
            # server still answers 429 (arrivals bunch up on the way), it waits as told and retries
            source = ApiClient(bp, pacer=Pacer(4.5))
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          console=console, transient=False) as progress:
                sending = progress.add_task("sending alerts", total=len(alerts))
                for i in range(0, len(alerts), batch_size):
                    chunk = alerts[i:i + batch_size]
                    t0 = time.perf_counter()
                    r = await source.request("POST", "/data/v2/alerts", json=gen.batch(chunk))
                    r.raise_for_status()
                    for accepted in r.json()["alerts"]:
                        incident_id = accepted["incident_id"]
                        if incident_id not in result.bigpanda_incidents:
                            result.bigpanda_incidents.add(incident_id)
                            waiters.append(asyncio.create_task(_wait_ticket(sn, bp, incident_id, t0, result, timeout)))
                    result.alerts_sent += len(chunk)
                    progress.advance(sending, len(chunk))
                ticketing = progress.add_task("tickets and callbacks", total=len(waiters))
                for done in asyncio.as_completed(waiters):
                    await done
                    progress.advance(ticketing)
            await _collect(stack, sn, result)
            result.throttled = stack.bigpanda.journal.totals["status:429"]
    result.elapsed_s = time.perf_counter() - started
    return result


async def _collect(stack: Stack, sn: httpx.AsyncClient, result: DemoResult) -> None:
    r = await sn.get("/api/now/table/incident", params={"sysparm_query": "correlation_display=BigPanda",
                                                        "sysparm_fields": "correlation_id", "sysparm_limit": 100_000})
    r.raise_for_status()
    result.servicenow_tickets = Counter(row["correlation_id"] for row in r.json()["result"])
    org = stack.bigpanda.orgs[stack.bigpanda.settings.organization]
    result.callbacks = org.shares.acknowledged
    result.servicenow_requests = stack.servicenow.journal.network_requests  # a batch counts once
    result.bigpanda_requests = stack.bigpanda.journal.totals["requests"]


def summary_table(result: DemoResult) -> Table:
    lat = list(result.latencies_ms.values())
    table = Table(title="bpsn demo: alerts to ServiceNow tickets", show_header=True, header_style="bold")
    table.add_column("measure")
    table.add_column("value", justify="right")
    n_tickets = sum(result.servicenow_tickets.values())
    rows = [
        ("alerts sent", str(result.alerts_sent)),
        ("BigPanda incidents", str(len(result.bigpanda_incidents))),
        ("ServiceNow incidents", str(n_tickets)),
        ("callbacks acknowledged", str(result.callbacks)),
        ("incidents showing their ticket in BigPanda", str(result.ticketed)),
        ("alert-to-ticket p50", f"{percentile(lat, 0.50):.0f} ms"),
        ("alert-to-ticket p95", f"{percentile(lat, 0.95):.0f} ms"),
        ("alert-to-ticket max", f"{max(lat) if lat else float('nan'):.0f} ms"),
        ("ServiceNow requests (all clients)", str(result.servicenow_requests)),
        ("ServiceNow requests per incident", f"{result.servicenow_requests / max(1, len(result.bigpanda_incidents)):.2f}"),
        ("BigPanda requests (all clients)", str(result.bigpanda_requests)),
        ("429s from BigPanda (honoured with Retry-After)", str(result.throttled)),
        ("wall time", f"{result.elapsed_s:.1f} s"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def main(hosts: int = 40, seed: int = 7, poll_interval: float = 1.0, timeout: float = 60.0) -> int:
    console = Console()
    result = asyncio.run(run_demo(hosts=hosts, seed=seed, poll_interval=poll_interval, timeout=timeout,
                                  console=console))
    console.print(summary_table(result))
    if result.ok:
        console.print("[bold green]OK[/]: every BigPanda incident became exactly one ServiceNow incident, "
                      "and BigPanda shows its ticket.")
        return 0
    dupes = [i for i, n in result.servicenow_tickets.items() if n > 1]
    lost = [i for i in result.bigpanda_incidents if i not in result.servicenow_tickets]
    console.print(f"[bold red]FAILED[/]: {len(lost)} incidents without a ticket, {len(dupes)} with duplicates, "
                  f"{len(result.missing)} without the callback.")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
