"""Sequential pages with X-Total-Count, from the store's result cache and from the plain path.

A client reading a whole result pages with `sysparm_offset` advancing by `sysparm_limit` and the
same query, and reads the total each time. Issue #19 asks for that to cost at 100,000 rows at
most 1.5x what it costs at 1,000. Both paths run in the same process on the same tables:
`cached` is the Store as it serves requests; `plain` turns the result cache off (an OFFSET walk
and a COUNT(*) per page), the path every page took before it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from bpsn.simulator.servicenow.backend import ServiceNowBackend

from .common import ratio

QUERY = "active=true^ORDERBYsys_created_on"
LIMIT = 100
MAX_PLAIN_PAGES = 40  # the plain path at 100k takes ~50 ms a page: a uniform sample of the walk


def _walk(b: ServiceNowBackend, offsets: list[int]) -> list[float]:
    """Seconds per page, each read with its total, in the order given."""
    out = []
    for offset in offsets:
        t = time.perf_counter()
        rows, total = b.query("incident", QUERY, limit=LIMIT, offset=offset, count=True)
        out.append(time.perf_counter() - t)
        if total is None or (offset < total and not rows):
            raise RuntimeError(f"page at {offset} of {total}: the benchmark data is not what it expects")
    return out


def _measure(b: ServiceNowBackend, cached: bool) -> dict[str, Any]:
    """Mean ms per page over a walk of the whole result from a cold cache: every page for the
    cached path (so the one walk that builds the order is paid for once, as a client pays it),
    a uniform sample of the pages for the plain one (its mean is the walk's mean)."""
    _, total = b.query("incident", QUERY, limit=1, offset=0, count=True)
    pages = math.ceil((total or 0) / LIMIT)
    step = 1 if cached else max(1, math.ceil(pages / MAX_PLAIN_PAGES))
    offsets = [p * LIMIT for p in range(0, pages, step)]
    b.store.results.enabled = cached
    b.store.results.invalidate()  # cold: nothing from the call above or an earlier walk
    try:
        times = _walk(b, offsets)
    finally:
        b.store.results.enabled = True
    return {"mean_ms": round(sum(times) / len(times) * 1e3, 3), "max_ms": round(max(times) * 1e3, 3),
            "pages": pages, "pages_timed": len(times), "rows": total}


def sequential_pages(backends: dict[int, ServiceNowBackend], goal: float,
                     progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Per table size and path, the mean cost of a page; ratios large/small and plain/cached."""
    small, large = sorted(backends)
    out: dict[str, Any] = {"query": QUERY, "limit": LIMIT, "goal": goal}
    for path in ("cached", "plain"):
        progress(f"ServiceNow: sequential pages, {path} path")
        out[path] = {str(n): _measure(b, path == "cached") for n, b in backends.items()}
        out[path]["ratio"] = ratio(out[path][str(large)]["mean_ms"], out[path][str(small)]["mean_ms"])
    out["cached"]["goal_met"] = out["cached"]["ratio"] <= goal
    out["plain_over_cached_large"] = ratio(out["plain"][str(large)]["mean_ms"], out["cached"][str(large)]["mean_ms"])
    return out
