"""The users' own per-sample files (`samples/samples-<pid>.csv`): exact times of every E2E sample.

Locust's histogram rounds (10 ms buckets above 100 ms, 100 ms above 1 s); these rows keep the
tenth of a millisecond, so the goals are judged on them. Files of older runs have no `metric`
column: every row there is an alert_to_ticket sample.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ALERT_TO_TICKET = "alert_to_ticket"
NEW_TICKETS = "alert_to_ticket (new tickets)"  # samples whose ticket did not exist when the alert was accepted


@dataclass
class Sample:
    t: float  # when the timed action started, in seconds since the first sample's start
    ms: float
    ok: bool
    metric: str = ALERT_TO_TICKET
    waited: bool | None = None  # alert_to_ticket: the ticket did not exist yet when the alert was accepted

    @property
    def done(self) -> float:  # when the result was confirmed, same scale
        return self.t + self.ms / 1000


def read_samples(folder: Path) -> tuple[list[Sample], list[str]]:
    """Samples from every `samples-*.csv` the users wrote (sorted by start), and the incident ids they saw."""
    rows: list[tuple[float, float, bool, str, bool | None]] = []
    ids: list[str] = []
    for path in sorted(folder.glob("samples-*.csv")):
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                if row.get("ok") not in ("0", "1") or not row.get("incident_id"):
                    continue  # a line cut short when a process was stopped
                try:
                    waited = row.get("waited") or ""
                    rows.append((float(row["time"]), float(row["latency_ms"]), row["ok"] == "1",
                                 row.get("metric") or ALERT_TO_TICKET, None if waited == "" else waited == "1"))
                    ids.append(row["incident_id"])
                except (KeyError, TypeError, ValueError):
                    continue
    started = sorted((t - ms / 1000, ms, ok, metric, waited) for t, ms, ok, metric, waited in rows)
    t0 = started[0][0] if started else 0.0  # the files hold the time the result was seen
    return [Sample(t - t0, ms, ok, metric, waited) for t, ms, ok, metric, waited in started], ids


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of unsorted values (nan when empty)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))]


def histogram_percentile(histogram: Mapping[Any, int], q: float) -> float:
    """Percentile of Locust's bucketed {ms: count} histogram, computed as Locust computes it."""
    total = sum(histogram.values())
    if total == 0:
        return math.nan
    wanted, processed = int(total * q), 0
    for ms, n in sorted(((float(k), n) for k, n in histogram.items()), reverse=True):
        processed += n
        if total - processed <= wanted:
            return ms
    return math.nan


def _stats(group: list[Sample]) -> dict[str, Any]:
    good = [s.ms for s in group if s.ok]

    def r(x: float) -> float | None:
        return None if math.isnan(x) else round(x, 1)

    return {"count": len(group), "failures": sum(not s.ok for s in group), "p50_ms": r(percentile(good, 0.50)),
            "p95_ms": r(percentile(good, 0.95)), "p99_ms": r(percentile(good, 0.99)),
            "max_ms": r(max(good) if good else math.nan)}


def sample_stats(samples: Iterable[Sample]) -> dict[str, dict[str, Any]]:
    """Exact count, failures, p50/p95/p99/max (successful samples) per metric, and for new tickets alone."""
    by_metric: dict[str, list[Sample]] = {}
    for s in samples:
        by_metric.setdefault(s.metric, []).append(s)
        if s.metric == ALERT_TO_TICKET and s.waited:
            by_metric.setdefault(NEW_TICKETS, []).append(s)
    return {metric: _stats(group) for metric, group in by_metric.items()}
