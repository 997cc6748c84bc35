"""BigPanda simulator: alerts ingested per second over HTTP, and correlation cost per alert
as the number of open alerts grows (in-process, Organization.ingest only)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from bpsn.simulator.bigpanda.alerts.normalize import normalize
from bpsn.simulator.bigpanda.backend import BigPandaBackend
from bpsn.simulator.bigpanda.models import AlertEvent
from bpsn.simulator.bigpanda.organization import Organization
from bpsn.simulator.bigpanda.settings import BigPandaSettings

from .common import Rate, Request, Sizes, compare, interleaved, median, rate_summary, ratio, request_rate, warmup_count
from .data import ORG_TOKEN, alert, alert_batch
from .serve import disable_rate_limits, server

BATCH = 100
GOAL = 1.5  # large/small
SERVICES = 28  # the shared-service case: as many services as alertgen draws (7 roles x 4)
HEADERS = {"Authorization": f"Bearer {ORG_TOKEN}", "Content-Type": "application/json"}


# --- 4. alerts per second over HTTP -------------------------------------------------------------
def http_ingest(sizes: Sizes) -> dict[str, Any]:
    n = sizes.bp_batches
    stride = n + warmup_count(n, sizes.concurrency)
    bodies = [json.dumps(alert_batch(i, BATCH)).encode() for i in range(sizes.repeats * stride)]

    def make(i: int) -> Request:  # bodies are encoded beforehand: the client stays cheap
        return ("POST", "/data/v2/alerts", {"content": bodies[i], "headers": HEADERS})

    samples: dict[str, list[Rate]] = {"bare": [], "bigpanda": []}
    with server("bare", inproc=sizes.inproc_servers) as bare, \
            server("bigpanda", inproc=sizes.inproc_servers) as bp:
        for rep in range(sizes.repeats):  # every batch holds new hosts: new alerts, new incidents
            for name, srv in (("bare", bare), ("bigpanda", bp)):
                samples[name].append(request_rate(srv.url, make, n, sizes.concurrency, rep * stride, srv.pid))
    out: dict[str, Any] = {name: rate_summary(s) for name, s in samples.items()}
    for name in out:  # a request carries BATCH alerts
        out[name]["alerts_per_s"] = round(out[name]["per_s"] * BATCH, 1)
    compare(out, "bigpanda", "bare")
    out.update(batch=BATCH, batches=n, concurrency=sizes.concurrency)
    return out


# --- 5. correlation cost per alert with N open alerts ---------------------------------------------
def _event(raw: dict[str, Any], now: float) -> AlertEvent:
    return normalize(raw, now=now, source_system="api.demo_monitoring")


def _organization(n: int, service: Callable[[int], str | None]) -> tuple[Organization, float]:
    backend = BigPandaBackend(BigPandaSettings(journal_max_entries=1_000))
    disable_rate_limits(backend)
    org, now = backend.orgs[backend.settings.organization], backend.clock.now()
    for i in range(n):
        org.ingest(_event(alert(f"pre-{i}", check=i % 7, timestamp=now - 600, service=service(i)), now), now)
    return org, now


def _events(n: int, now: float, sizes: Sizes, service: Callable[[int], str | None]) -> dict[str, list[AlertEvent]]:
    """New alerts on new hosts, and updates of prefilled alerts (a new description changes the
    fingerprint, so each is a real update), enough for every round."""
    count = sizes.bp_new + sizes.repeats
    new = [_event(alert(f"new-{j}", check=j % 7, timestamp=now - 300, service=service(j)), now) for j in range(count)]
    updates = []
    for j in range(sizes.bp_updates + sizes.repeats):
        i = (j * 104_729) % n
        raw = alert(f"pre-{i}", check=i % 7, status="warning", timestamp=now - 300 + j, service=service(i))
        raw["description"] = f"update {j}: {raw['description']}"
        updates.append(_event(raw, now))
    return {"new_alert": new, "update_alert": updates}


def correlation_scaling(sizes: Sizes) -> dict[str, Any]:
    cases: dict[str, tuple[Callable[[int], str | None], list[int]]] = {
        "distinct_hosts": (lambda i: None, [sizes.small, sizes.large]),
        # alertgen's shape: every alert also carries one of 28 services, so alerts pile into
        # 28 incidents; the incident's size, not the number of open alerts, is what grows
        "shared_service": (lambda i: f"svc-{i % SERVICES}", [sizes.small, sizes.bp_shared_large]),
    }
    out: dict[str, Any] = {}
    for case, (service, ns) in cases.items():
        orgs = {n: _organization(n, service) for n in ns}
        result: dict[str, Any] = {"sizes": ns, "incidents": {str(n): len(o.incidents) for n, (o, _) in orgs.items()}}
        events = {n: _events(n, now, sizes, service) for n, (_, now) in orgs.items()}
        for kind in ("new_alert", "update_alert"):
            # both sizes in alternating rounds: the machine's drift hits both alike
            timed = interleaved({n: (lambda i, n=n, kind=kind: orgs[n][0].ingest(events[n][kind][i], orgs[n][1]))
                                 for n in ns}, len(events[ns[0]][kind]) - sizes.repeats, sizes.repeats)
            row: dict[str, Any] = {str(n): round(median(v) * 1e6, 1) for n, v in timed.items()}
            row["ratio"] = ratio(row[str(ns[1])], row[str(ns[0])])
            row["goal_met"] = row["ratio"] <= GOAL
            result[kind] = row
        out[case] = result
        del orgs, events
    out["goal"] = GOAL
    return out


def run(sizes: Sizes, progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    progress("BigPanda: alerts per second over HTTP")
    ingest = http_ingest(sizes)
    progress("BigPanda: correlation cost per alert")
    return {"http_ingest": ingest, "correlation": correlation_scaling(sizes)}
