"""The numbers of a load run, from what was collected (pure functions; no I/O, no Locust import).

A figure that cannot be measured (no steady window, one sample, nothing to divide by) is None in
summary.json with its reason in `not_measured`; summary.md, latency.html and the console show the
reason, never None, NaN, a negative span or a stand-in 0.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .samples import histogram_percentile

BIGPANDA_RPS = 5.0  # BigPanda's documented limit per organisation (token) for the core's own calls
CALLS_PER_BATCH = 2  # one share retrieval + one callback call per batch
CEILING_FORMULA = "ceiling = rps / calls_per_batch * retrieval_count = {rps:g} / {calls} * {count} = {value:g} shares/s"
ALERT_POST = "POST /data/v2/alerts"
CALLBACKS = "POST /integrations/v3/servicenow/callbacks"
USER_SERVICENOW_ROWS = ("PATCH /api/now/table/incident",)  # the users' own Table API calls (analyst edits)


def ceiling(rps: float = BIGPANDA_RPS, retrieval_count: int = 30, calls_per_batch: int = CALLS_PER_BATCH) -> float:
    """Shares (incident updates) per second the core can take under BigPanda's request limit, full batches."""
    return rps / calls_per_batch * retrieval_count


def profile_ceiling(other_rps: float, retrieval_count: int = 30, rps: float = BIGPANDA_RPS) -> float:
    """The ceiling left for shares once the profile's other calls (incident actions, tag calls:
    per second, in the steady window) have taken their part of the limit."""
    if math.isnan(other_rps):  # no steady window (a short run)
        return math.nan
    return ceiling(max(0.0, rps - other_rps), retrieval_count)


@dataclass
class Integrity:
    bigpanda_incidents: int
    servicenow_tickets: int
    lost: list[str]
    duplicates: dict[str, int]
    strays: list[str]
    seen_not_listed: list[str]

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicates or self.strays or self.seen_not_listed)

    def as_dict(self, show: int = 20) -> dict[str, Any]:
        return {"ok": self.ok, "bigpanda_incidents": self.bigpanda_incidents,
                "servicenow_tickets": self.servicenow_tickets, "lost": len(self.lost),
                "duplicates": len(self.duplicates), "strays": len(self.strays),
                "seen_not_listed": len(self.seen_not_listed), "lost_ids": sorted(self.lost)[:show],
                "duplicate_ids": dict(sorted(self.duplicates.items())[:show]), "stray_ids": sorted(self.strays)[:show]}


def integrity(bigpanda_ids: Iterable[str], ticket_correlation_ids: Iterable[str],
              seen_ids: Iterable[str] = ()) -> Integrity:
    """Every BigPanda incident has exactly one ticket; no ticket without an incident; users saw only real ones."""
    incidents, tickets = set(bigpanda_ids), Counter(ticket_correlation_ids)
    return Integrity(
        bigpanda_incidents=len(incidents), servicenow_tickets=sum(tickets.values()),
        lost=[i for i in incidents if tickets[i] == 0],
        duplicates={i: n for i, n in tickets.items() if n > 1},
        strays=[i for i in tickets if i not in incidents],
        seen_not_listed=sorted(set(seen_ids) - incidents))


@dataclass
class RunFacts:
    """What the runner collected; everything the summary needs."""

    profile: dict[str, Any]
    workers: int
    poll_interval: float
    retrieval_count: int
    locust_stats: list[dict[str, Any]]
    locust_exit_code: int | None
    bigpanda_ids: list[str]
    ticket_correlation_ids: list[str]
    seen_ids: list[str] = field(default_factory=list)
    shares_acknowledged: int = 0
    dead_letters: int = 0
    drained: bool = True
    share_window_s: float = 0.0  # from the start of load until the share queue was empty
    core_bigpanda_calls: dict[str, int] = field(default_factory=dict)  # "GET /...shares" -> n
    bigpanda_429: int = 0
    bigpanda_429_by_route: dict[str, int] = field(default_factory=dict)
    bigpanda_requests: int = 0
    servicenow_requests: int = 0
    servicenow_429: int = 0
    unshared_incidents: int = 0  # listed by BigPanda but never shared (none expected: the demo autoshares)
    core_usage: dict[str, float] = field(default_factory=dict)
    core_totals: str = ""
    started: str = ""
    wall_time_s: float = 0.0
    sample_stats: dict[str, dict[str, Any]] = field(default_factory=dict)  # exact, from the users' files
    acked_series: list[tuple[float, int]] = field(default_factory=list)  # (unix time, shares acknowledged)
    other_calls_series: list[tuple[float, int]] = field(default_factory=list)  # (unix time, the core's other calls)
    steady_window: tuple[float, float] = (0.0, 0.0)  # unix times: the load after the ramp-up, before the stop
    process_usage: dict[str, dict[str, float]] = field(default_factory=dict)  # child name -> CPU s, peak RSS


MIN_RATE_WINDOW_S = 1.0  # a rate over less time than this is noise (2 samples 1 ms apart: 2,000/s)
NO_STEADY = "no steady window (the ramp-up and settling took the whole run)"
NOT_MEASURED = "not measured"


def _r(x: float | None, digits: int = 1) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(x, digits)


def _rate(n: int, seconds: float) -> tuple[float | None, str]:
    """n events over a time span, per second; or None and why no rate can be given."""
    if n < 2:
        return None, "one sample: no rate" if n == 1 else "no samples: no rate"
    if seconds < MIN_RATE_WINDOW_S:
        return None, f"{n} samples within {MIN_RATE_WINDOW_S:g} s: no rate"
    return round(n / seconds, 2), ""


def _row(entry: dict[str, Any]) -> dict[str, Any]:
    hist = entry.get("response_times") or {}
    window = (entry.get("last_request_timestamp") or 0) - (entry.get("start_time") or 0)
    n, top = entry.get("num_requests", 0), float(entry.get("max_response_time") or 0)

    def pct(q: float) -> float | None:  # Locust's buckets round up (775 -> 780): never above the max seen
        return _r(min(histogram_percentile(hist, q), top) if top else histogram_percentile(hist, q))

    per_s, why = _rate(n, window)
    row = {"type": entry.get("method"), "name": entry.get("name"), "count": n,
           "failures": entry.get("num_failures", 0),
           "p50_ms": pct(0.50), "p95_ms": pct(0.95), "p99_ms": pct(0.99), "max_ms": _r(top),
           "avg_ms": _r(entry.get("total_response_time", 0) / n if n else math.nan), "per_s": per_s}
    return {**row, "per_s_not_measured": why} if why else row


def load_window(stats: list[dict[str, Any]]) -> float:
    """Seconds from Locust's first request to its last, over every row."""
    starts = [e["start_time"] for e in stats if e.get("start_time")]
    ends = [e["last_request_timestamp"] for e in stats if e.get("last_request_timestamp")]
    return max(0.0, max(ends) - min(starts)) if starts and ends else 0.0


def rate_between(series: list[tuple[float, int]], start: float, end: float) -> float:
    """Counts per second between two times of a (time, running count) series, interpolated linearly."""
    if end <= start or len(series) < 2 or start < series[0][0] or end > series[-1][0]:
        return math.nan

    def at(t: float) -> float:
        for (t0, n0), (t1, n1) in itertools.pairwise(series):
            if t0 <= t <= t1:
                return n0 + (n1 - n0) * ((t - t0) / (t1 - t0) if t1 > t0 else 1.0)
        return math.nan

    return (at(end) - at(start)) / (end - start)


def _processes(usage: dict[str, dict[str, float]], wall: float) -> dict[str, dict[str, Any]]:
    return {name: {**u, "cpu_share": _r(u["cpu_seconds"] / wall if wall else math.nan, 3)}
            for name, u in usage.items() if u.get("cpu_seconds") is not None}


class _Figures:
    """Rounds each figure, or keeps None and the reason it could not be measured (`not_measured`,
    by dotted key): a reader sees why, never a None, a NaN or a negative span."""

    def __init__(self) -> None:
        self.why: dict[str, str] = {}

    def __call__(self, key: str, value: float | None, reason: str, digits: int = 2) -> float | None:
        out = _r(value, digits)
        if out is not None and out < 0:  # rates, fractions and spans: a counter went backwards
            out, reason = None, "the counts went backwards during the run (a simulator restarted?)"
        if out is None:
            self.why[key] = reason
        return out


def _p95_minus_poll(fig: _Figures, p95: float | None, poll_ms: float) -> float | None:
    key = "latency_vs_poll.p95_minus_poll_ms"
    if p95 is None:
        return fig(key, None, "no alert_to_ticket samples")
    if p95 < poll_ms:  # a negative difference reads as time saved; it is the share of alerts that waited less
        return fig(key, None, f"p95 is {poll_ms - p95:,.0f} ms below one poll interval: most samples waited "
                              "less than a poll (alerts joining incidents that already had a ticket)")
    return fig(key, p95 - poll_ms, "", 1)


def build_summary(f: RunFacts) -> dict[str, Any]:
    fig = _Figures()
    rows = [_row(e) for e in f.locust_stats]
    e2e = {r["name"]: {k: r[k] for k in ("count", "failures", "p50_ms", "p95_ms", "p99_ms", "max_ms", "avg_ms")}
           for r in rows if r["type"] == "E2E"}
    window = load_window(f.locust_stats)
    no_window = "Locust recorded no request times"
    alerts = sum(r["count"] - r["failures"] for r in rows if str(r["name"]).startswith(ALERT_POST))
    tickets = (e2e.get("alert_to_ticket") or {}).get("count", 0)
    check = integrity(f.bigpanda_ids, f.ticket_correlation_ids, f.seen_ids)
    top = ceiling(BIGPANDA_RPS, f.retrieval_count)
    share_s = f.share_window_s if f.share_window_s > 0 else math.nan
    no_shares = "no share window (the load never started or ended at once)"
    shares_per_s = fig("throughput.shares_per_s", f.shares_acknowledged / share_s, no_shares)
    callbacks = f.core_bigpanda_calls.get(CALLBACKS, 0)
    core_calls = sum(f.core_bigpanda_calls.values())
    avg_batch = f.shares_acknowledged / callbacks if callbacks else math.nan
    no_batch = "the core sent no callbacks"
    exact = f.sample_stats.get("alert_to_ticket") or {}
    p95 = exact.get("p95_ms", (e2e.get("alert_to_ticket") or {}).get("p95_ms"))
    failures = {r["name"]: r["failures"] for r in rows if r["failures"]}
    steady = f.steady_window[1] - f.steady_window[0]
    sustained = rate_between(f.acked_series, *f.steady_window)
    other_rps = rate_between(f.other_calls_series, *f.steady_window)  # incident actions and tag calls
    profile_top = profile_ceiling(other_rps, f.retrieval_count)
    no_rate = NO_STEADY if steady <= 0 else "the counts read during the run do not cover the steady window"
    no_profile = no_rate if math.isnan(profile_top) else (
        f"the profile's other calls ({other_rps:.2f}/s) take all of BigPanda's {BIGPANDA_RPS:g} requests/s")
    user_sn = sum(r["count"] for r in rows if str(r["name"]).startswith(USER_SERVICENOW_ROWS))
    core_sn = f.servicenow_requests - user_sn
    summary: dict[str, Any] = {
        "profile": f.profile, "started": f.started, "workers": f.workers, "poll_interval_s": f.poll_interval,
        "wall_time_s": _r(f.wall_time_s), "locust_exit_code": f.locust_exit_code,
        "latency": e2e, "samples": f.sample_stats, "requests": rows,
        "throughput": {"load_window_s": _r(window, 2), "alerts": alerts,
                       "alerts_per_s": fig("throughput.alerts_per_s", alerts / window if window else None,
                                           no_window),
                       "tickets_per_s": fig("throughput.tickets_per_s", tickets / window if window else None,
                                            no_window),
                       "shares_acknowledged": f.shares_acknowledged, "share_window_s": _r(max(f.share_window_s, 0), 2),
                       "shares_per_s": shares_per_s},
        "ceiling": {"formula": CEILING_FORMULA.format(rps=BIGPANDA_RPS, calls=CALLS_PER_BATCH,
                                                      count=f.retrieval_count, value=top),
                    "bigpanda_rps": BIGPANDA_RPS, "calls_per_batch": CALLS_PER_BATCH,
                    "retrieval_count": f.retrieval_count, "shares_per_s": _r(top, 2),
                    "achieved_shares_per_s": shares_per_s,
                    "achieved_fraction": fig("ceiling.achieved_fraction",
                                             None if shares_per_s is None else shares_per_s / top, no_shares, 4),
                    "avg_batch": fig("ceiling.avg_batch", avg_batch, no_batch),
                    "ceiling_at_avg_batch": fig("ceiling.ceiling_at_avg_batch",
                                                BIGPANDA_RPS / CALLS_PER_BATCH * avg_batch, no_batch),
                    "core_bigpanda_calls": dict(f.core_bigpanda_calls),
                    "core_bigpanda_rps": fig("ceiling.core_bigpanda_rps", core_calls / share_s, no_shares),
                    "steady_window_s": fig("ceiling.steady_window_s", steady if steady > 0 else None, NO_STEADY, 1),
                    "sustained_shares_per_s": fig("ceiling.sustained_shares_per_s", sustained, no_rate),
                    "sustained_fraction": fig("ceiling.sustained_fraction", sustained / top, no_rate, 4),
                    "other_calls_per_s": fig("ceiling.other_calls_per_s", other_rps, no_rate),
                    "profile_shares_per_s": fig("ceiling.profile_shares_per_s", profile_top, no_rate),
                    "sustained_fraction_of_profile": fig(
                        "ceiling.sustained_fraction_of_profile",
                        sustained / profile_top if profile_top else math.nan,
                        no_rate if math.isnan(sustained) else no_profile, 4)},
        "latency_vs_poll": {"poll_interval_ms": _r(f.poll_interval * 1000), "alert_to_ticket_p95_ms": p95,
                            "p95_minus_poll_ms": _p95_minus_poll(fig, p95, f.poll_interval * 1000)},
        "failures": {"total": sum(failures.values()), "by_row": failures},
        "rate_limited": {"bigpanda_429": f.bigpanda_429, "bigpanda_429_by_route": f.bigpanda_429_by_route,
                         "servicenow_429": f.servicenow_429},
        "servicenow": {"requests": f.servicenow_requests, "requests_by_users": user_sn, "requests_by_core": core_sn,
                       "requests_per_incident": fig("servicenow.requests_per_incident",
                                                    core_sn / check.bigpanda_incidents
                                                    if check.bigpanda_incidents else None, "no BigPanda incidents")},
        "bigpanda": {"requests": f.bigpanda_requests, "dead_letters": f.dead_letters, "drained": f.drained},
        "core": {**f.core_usage, "totals": f.core_totals},
        "processes": _processes(f.process_usage, f.wall_time_s),
        "integrity": {**check.as_dict(), "unshared_incidents": f.unshared_incidents},
        "not_measured": fig.why,
    }
    summary["ok"] = bool(check.ok and f.drained and not f.dead_letters and not summary["failures"]["total"]
                         and f.locust_exit_code == 0 and e2e.get("alert_to_ticket", {}).get("count", 0) > 0)
    return summary
