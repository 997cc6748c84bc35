"""ServiceNow simulator: Table API throughput, table-size scaling, memory per incident.

`store_scaling` runs in a fresh subprocess (`python -m bpsn.bench.servicenow store SIZES`) so
the resident-memory figure is clean; it fills the large table once and uses it for the memory,
in-process and HTTP measurements. With inproc servers (--quick, tests) it runs in this process.
"""

from __future__ import annotations

import base64
import gc
import json
import random
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from bpsn.simulator.servicenow.app import create_app
from bpsn.simulator.servicenow.backend import ServiceNowBackend
from bpsn.simulator.servicenow.records.store import Where
from bpsn.simulator.servicenow.settings import ServiceNowSettings

from .common import (
    Rate,
    Request,
    Sender,
    Sizes,
    compare,
    interleaved,
    median,
    rate_summary,
    ratio,
    request_rate,
    rss_bytes,
)
from .data import correlation_id, fill_incidents, number, sys_id
from .paging import sequential_pages
from .serve import Served, server, threaded

AUTH = {"Authorization": "Basic " + base64.b64encode(b"admin:admin").decode()}
TABLE = "/api/now/table/incident"
PAGE_CREATED = "active=true^ORDERBYsys_created_on"
PAGE_UPDATED = "active=true^ORDERBYsys_updated_on"
GOAL = 1.5  # 100k/1k


def new_incident(i: int) -> dict[str, str]:
    return {"short_description": f"[BigPanda] CPU load on web-bench-{i}", "correlation_id": f"bench-post-{i}",
            "description": "CPU above 95% for 5 minutes on web-bench; opened by the benchmark.",
            "impact": "2", "urgency": "2", "category": "software", "correlation_display": "BigPanda"}


# --- 1. requests per second over HTTP -----------------------------------------------------------
def http_rates(sizes: Sizes) -> dict[str, Any]:
    n, small = sizes.http_requests, sizes.small
    with server("bare", inproc=sizes.inproc_servers) as bare, \
            server("servicenow", sizes.small, inproc=sizes.inproc_servers) as sn:
        cases: dict[str, tuple[Served, Callable[[int], Request]]] = {
            "bare_get": (bare, lambda i: ("GET", f"/bare/item/{sys_id(i % small)}", {})),
            "incident_get": (sn, lambda i: ("GET", f"{TABLE}/{sys_id(i % small)}", {"headers": AUTH})),
            "bare_post": (bare, lambda i: ("POST", "/bare/item", {"json": new_incident(i)})),
            "incident_post": (sn, lambda i: ("POST", TABLE, {"json": new_incident(i), "headers": AUTH})),
        }
        samples: dict[str, list[Rate]] = {name: [] for name in cases}
        for rep in range(sizes.repeats):  # interleaved, so a noisy moment hits every case
            for name, (srv, make) in cases.items():
                samples[name].append(request_rate(srv.url, make, n, sizes.concurrency, rep * 2 * n, srv.pid))
    out: dict[str, Any] = {name: rate_summary(s) for name, s in samples.items()}
    compare(out, "incident_get", "bare_get")
    compare(out, "incident_post", "bare_post")
    out["requests"], out["concurrency"] = n, sizes.concurrency
    return out


# --- 2 + 3. table-size scaling and memory ----------------------------------------------------------
def _backend() -> ServiceNowBackend:
    return ServiceNowBackend(ServiceNowSettings(journal_max_entries=1_000))


def _operations(b: ServiceNowBackend, n: int, reps: int) -> dict[str, Callable[[int], object]]:
    mid = b.store.count("incident", Where('"active" = ?', ["true"])) // 2
    rng = random.Random(n)
    keys = [rng.randrange(n) for _ in range(reps)]

    def query(text: str, limit: int = 1, offset: int = 0) -> object:
        rows, _ = b.query("incident", text, limit=limit, offset=offset, count=False)
        if not rows:
            raise RuntimeError(f"no incident matched {text!r}: the benchmark data is not what it expects")
        return rows

    return {
        "lookup_correlation_id": lambda k: query(f"correlation_id={correlation_id(keys[k])}"),
        "lookup_number": lambda k: query(f"number={number(keys[k])}"),
        "page_created_on_middle": lambda k: query(PAGE_CREATED, 100, mid),
        "page_updated_on_middle": lambda k: query(PAGE_UPDATED, 100, mid),
        "page_updated_on_first": lambda k: query(PAGE_UPDATED, 100, 0),
        "count_active": lambda k: b.store.count("incident", Where('"active" = ?', ["true"])),
    }


def _plans(b: ServiceNowBackend, ops: dict[str, Callable[[int], object]]) -> dict[str, list[str]]:
    """SQLite's plan of every statement an operation runs (captured through a trace callback)."""
    plans = {}
    for name, op in ops.items():
        statements: list[str] = []
        b.store.conn.set_trace_callback(statements.append)
        b.store.results.enabled = False  # the statements of the plain path (a cache hit runs none)
        try:
            op(0)
        finally:
            b.store.conn.set_trace_callback(None)
            b.store.results.enabled = True
        plans[name] = [f"{s.split(' LIMIT ')[0][:160]} -> " + "; ".join(
            r["detail"] for r in b.store.execute("EXPLAIN QUERY PLAN " + s))
            for s in statements if s.lstrip().upper().startswith("SELECT")]
    return plans


def _http_cases(mid: int, n: int, reps: int) -> dict[str, list[Request]]:
    rng = random.Random(n + 1)
    keys = [rng.randrange(n) for _ in range(reps)]

    def get(params: dict[str, str], no_count: bool) -> Request:
        extra = {"sysparm_no_count": "true"} if no_count else {}
        return ("GET", TABLE, {"headers": AUTH, "params": {**params, **extra}})

    page = {"sysparm_query": PAGE_CREATED, "sysparm_limit": "100", "sysparm_offset": str(mid)}
    return {f"{what}_{'no_count' if nc else 'count'}": [
        get({"sysparm_query": f"correlation_id={correlation_id(k)}", "sysparm_limit": "1"} if what == "lookup"
            else page, nc) for k in keys]
        for what in ("lookup", "page") for nc in (False, True)}


def _memory(sizes: Sizes) -> tuple[ServiceNowBackend, dict[str, Any]]:
    large = _backend()
    gc.collect()
    before = rss_bytes()
    t = time.perf_counter()
    fill_incidents(large, sizes.large)
    fill_s = time.perf_counter() - t
    gc.collect()
    after = rss_bytes()
    db = large.store.execute("PRAGMA page_count")[0][0] * large.store.execute("PRAGMA page_size")[0][0]
    return large, {"incidents": sizes.large, "rss_before_mb": round(before / 2**20, 1),
                   "rss_after_mb": round(after / 2**20, 1), "delta_mb": round((after - before) / 2**20, 1),
                   "bytes_per_incident": round((after - before) / sizes.large),
                   "sqlite_bytes_per_incident": round(db / sizes.large),
                   "fill_incidents_per_s": round(sizes.large / fill_s)}


def _scaled(samples: dict[tuple[str, int], list[float]], sizes: Sizes, unit: float) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for (name, n), values in samples.items():
        out.setdefault(name, {})[str(n)] = round(median(values) * unit, 2)
        out[name].setdefault("samples", {})[str(n)] = len(values)
    for row in out.values():
        row["ratio"] = ratio(row[str(sizes.large)], row[str(sizes.small)])
        row["goal_met"] = row["ratio"] <= GOAL
    return out


def measure_store(sizes: Sizes) -> dict[str, Any]:
    """Memory of the large table, then in-process and HTTP timings on both tables; the two
    tables are measured in alternating rounds, so the machine's drift hits both alike."""
    large, memory = _memory(sizes)
    small = _backend()
    fill_incidents(small, sizes.small)
    backends = {sizes.small: small, sizes.large: large}

    ops = {n: _operations(b, n, sizes.lookup_reps + sizes.repeats) for n, b in backends.items()}
    inproc: dict[tuple[str, int], list[float]] = {}
    for name in ops[sizes.small]:
        reps = sizes.lookup_reps if name.startswith("lookup") else sizes.page_reps
        timed = interleaved({n: ops[n][name] for n in backends}, reps, sizes.repeats, sizes.budget)
        inproc.update({(name, n): v for n, v in timed.items()})
    plans = _plans(large, _operations(large, sizes.large, 1))
    pages = sequential_pages(backends, GOAL)

    http: dict[tuple[str, int], list[float]] = {}
    with threaded(create_app(small)) as url_small, threaded(create_app(large)) as url_large:
        # one request at a time, so the client and the server thread do not contend for the GIL
        urls = {sizes.small: url_small, sizes.large: url_large}
        senders = {n: Sender(url) for n, url in urls.items()}
        try:
            cases = {n: _http_cases(b.store.count("incident", Where('"active" = ?', ["true"])) // 2, n,
                                    sizes.http_query_reps + sizes.repeats + 1) for n, b in backends.items()}
            for name in cases[sizes.small]:
                for n in backends:
                    senders[n](cases[n][name][-1])  # warm-up
                timed = interleaved({n: (lambda i, n=n, name=name: senders[n](cases[n][name][i]))
                                     for n in backends}, sizes.http_query_reps, sizes.repeats, sizes.budget)
                http.update({(name, n): v for n, v in timed.items()})
        finally:
            for sender in senders.values():
                sender.close()
    indexes = sorted(r["name"] for r in large.store.execute("PRAGMA index_list(task)"))
    return {"sizes": [sizes.small, sizes.large], "inproc_us": _scaled(inproc, sizes, 1e6),
            "http_ms": _scaled(http, sizes, 1e3), "sequential_pages": pages, "plans": plans,
            "task_indexes": indexes, "memory": memory,
            "goal": GOAL, "sys_created_on_indexed": bool(large.dictionary.fields("incident")["sys_created_on"].index)}


def store_scaling(sizes: Sizes) -> dict[str, Any]:
    if sizes.inproc_servers:
        return {**measure_store(sizes), "fresh_process": False}
    proc = subprocess.run([sys.executable, "-m", "bpsn.bench.servicenow", "store", json.dumps(sizes.as_dict())],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"store benchmark failed:\n{proc.stderr[-3000:]}")
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "fresh_process": True}


def run(sizes: Sizes, progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    progress("ServiceNow: requests per second over HTTP")
    rates = http_rates(sizes)
    progress("ServiceNow: table-size scaling and memory (fresh process)")
    return {"http_rps": rates, "scaling": store_scaling(sizes)}


if __name__ == "__main__":
    if sys.argv[1:2] == ["store"]:
        print(json.dumps(measure_store(Sizes(**json.loads(sys.argv[2])))))
    else:
        raise SystemExit("usage: python -m bpsn.bench.servicenow store SIZES_JSON")
