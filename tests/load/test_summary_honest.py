"""The load summary never prints a figure it could not measure: no `None`, no NaN, no negative span
or difference, no rate from a single sample, no stand-in 0 ("0.0 % of 0/s"). Each such figure says
why it is missing. Summaries are built from crafted RunFacts (no processes, no Locust), one per
case seen in real runs, and rendered three ways: summary.md, latency.html and the console lines.
"""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from bpsn.load import chart
from bpsn.load.report import console_lines, render_markdown
from bpsn.load.summary import NO_STEADY, RunFacts, build_summary

T0 = 1_765_000_000.0  # unix time the load started
PROFILE = {"name": "crafted", "description": "crafted facts", "users": 10, "spawn_rate": 1.0, "duration": 60.0,
           "poll_interval": 1.0}
NEGATIVE = re.compile(r"(?<![\w.-])[-−]\d")  # -1 or −1; not 2026-12-06, a "- " bullet, "p95 − poll"


def entry(name: str, n: int, span_s: float, method: str = "POST", ms: float = 20.0, failures: int = 0,
          ) -> dict[str, Any]:
    """One row of Locust's stats JSON: n requests from T0 to T0 + span_s."""
    return {"method": method, "name": name, "num_requests": n, "num_failures": failures,
            "response_times": {str(int(ms)): n} if n else {}, "max_response_time": ms if n else 0,
            "total_response_time": ms * n, "start_time": T0, "last_request_timestamp": T0 + span_s}


def healthy(**changes: Any) -> RunFacts:
    """A run where everything could be measured; each test breaks one part."""
    facts = RunFacts(
        profile=dict(PROFILE), workers=0, poll_interval=1.0, retrieval_count=30,
        locust_stats=[entry("POST /data/v2/alerts", 600, 60.0), entry("alert_to_ticket", 600, 60.0, "E2E", 1500),
                      entry("PATCH /api/now/table/incident", 40, 50.0, "PATCH")],
        locust_exit_code=0, bigpanda_ids=["i1", "i2"], ticket_correlation_ids=["i1", "i2"],
        shares_acknowledged=300, share_window_s=65.0,
        core_bigpanda_calls={"GET /integrations/v3/servicenow/shares": 60,
                             "POST /integrations/v3/servicenow/callbacks": 60},
        servicenow_requests=100, started="2026-12-06T15:00:00+00:00", wall_time_s=90.0,
        sample_stats={"alert_to_ticket": {"count": 600, "failures": 0, "p50_ms": 800.0, "p95_ms": 1600.0,
                                          "p99_ms": 1900.0, "max_ms": 2000.0}},
        acked_series=[(T0 + t, 5 * t) for t in range(0, 61, 5)],
        other_calls_series=[(T0 + t, t // 2) for t in range(0, 61, 5)],
        steady_window=(T0 + 20, T0 + 60), core_usage={"cpu_seconds": 3.5, "peak_rss_mb": 80.0})
    for key, value in changes.items():
        setattr(facts, key, value)
    return facts


def rendered(facts: RunFacts) -> tuple[dict[str, Any], str, str, str]:
    s = build_summary(facts)
    return s, render_markdown(s), html.unescape(chart.render(s, {}, [], [])), "\n".join(console_lines(s))


def assert_honest(*texts: str) -> None:
    for text in texts:
        assert "None" not in text and "nan" not in text.lower().replace("nanosec", "")
        assert not NEGATIVE.search(text), NEGATIVE.search(text)
        assert "0.0 % of 0/s" not in text


def test_a_healthy_run_shows_every_figure() -> None:
    s, md, page, console = rendered(healthy())
    assert_honest(md, page, console)
    assert s["not_measured"] == {}
    assert "not measured" not in md + page + console
    assert s["ceiling"]["sustained_shares_per_s"] == 5.0 and s["latency_vs_poll"]["p95_minus_poll_ms"] == 600.0
    assert "**600 ms**" in md and "(40 s)" in md and "5 shares/s" in md
    assert "| 10 |" in md  # 600 alerts over 60 s


def test_no_steady_window_says_so_instead_of_none_or_a_negative_span() -> None:
    """The ramp-up outlasted a short run: `sustained None shares/s = 0.0 % of ... None`, `(-1 s)`."""
    s, md, page, console = rendered(healthy(steady_window=(T0 + 61, T0 + 60)))
    assert_honest(md, page, console)
    c = s["ceiling"]
    assert c["steady_window_s"] is None and c["sustained_shares_per_s"] is None and c["sustained_fraction"] is None
    assert c["profile_shares_per_s"] is None and c["sustained_fraction_of_profile"] is None
    assert s["not_measured"]["ceiling.sustained_fraction"] == NO_STEADY
    for text in (md, page, console):
        assert f"not measured: {NO_STEADY}" in text
    assert "until Locust stopped" not in md


def test_p95_under_the_poll_interval_gives_no_negative_difference() -> None:
    """Alerts joining incidents that already had a ticket: `p95 − poll = -99.8 ms`."""
    stats = {"alert_to_ticket": {"count": 50, "failures": 0, "p50_ms": 0.1, "p95_ms": 0.2, "p99_ms": 90.0,
                                 "max_ms": 95.0}}
    s, md, page, console = rendered(healthy(poll_interval=0.1, sample_stats=stats))
    assert_honest(md, page, console)
    assert s["latency_vs_poll"]["p95_minus_poll_ms"] is None
    why = s["not_measured"]["latency_vs_poll.p95_minus_poll_ms"]
    assert "below one poll interval" in why and "100 ms" in why
    for text in (md, page, console):
        assert "not measured: p95 is 100 ms below one poll interval" in text


def test_no_rate_from_a_single_sample_or_an_instant() -> None:
    """A row with one request 22 µs after its start time: `per s` 44,620."""
    rows = [*healthy().locust_stats, entry("POST /api/now/table/incident", 1, 0.0000224),
            entry("GET /_sim/wait [incident]", 3, 0.002, "GET")]
    s, md, page, console = rendered(healthy(locust_stats=rows))
    assert_honest(md, page, console)
    by_name = {r["name"]: r for r in s["requests"]}
    one, instant = by_name["POST /api/now/table/incident"], by_name["GET /_sim/wait [incident]"]
    assert one["per_s"] is None and one["per_s_not_measured"] == "one sample: no rate"
    assert instant["per_s"] is None and "within 1 s: no rate" in instant["per_s_not_measured"]
    assert by_name["POST /data/v2/alerts"]["per_s"] == 10.0
    assert "44,6" not in md and "| one sample: no rate |" in md and "3 samples within 1 s: no rate" in md


def test_a_profile_that_takes_the_whole_limit_has_no_fraction_of_zero() -> None:
    """The core's other calls used all 5 requests/s: the chart tile read `0.0 % of 0/s`."""
    busy = [(T0 + t, 6 * t) for t in range(0, 61, 5)]
    s, md, page, console = rendered(healthy(other_calls_series=busy))
    assert_honest(md, page, console)
    c = s["ceiling"]
    assert c["profile_shares_per_s"] == 0.0 and c["sustained_fraction_of_profile"] is None
    why = s["not_measured"]["ceiling.sustained_fraction_of_profile"]
    assert "take all of BigPanda's 5 requests/s" in why
    for text in (md, page, console):
        assert f"not measured: {why}" in text


def test_nothing_measured_at_all_still_prints_no_none() -> None:
    """Locust ran no request, the core did nothing, the exit code was never read."""
    facts = healthy(locust_stats=[], locust_exit_code=None, bigpanda_ids=[], ticket_correlation_ids=[],
                    shares_acknowledged=0, share_window_s=0.0, core_bigpanda_calls={}, sample_stats={},
                    acked_series=[], other_calls_series=[], steady_window=(0.0, 0.0), core_usage={},
                    servicenow_requests=0, wall_time_s=0.0)
    s, md, page, console = rendered(facts)
    assert_honest(md, page, console)
    for key in ("throughput.alerts_per_s", "throughput.shares_per_s", "ceiling.avg_batch",
                "latency_vs_poll.p95_minus_poll_ms", "servicenow.requests_per_incident", "ceiling.steady_window_s"):
        assert key in s["not_measured"], key
    assert "Locust exit code: not read" in md
    assert "not measured: the core sent no callbacks" in md


def test_the_counts_going_backwards_give_no_negative_rate() -> None:
    backwards = [(T0 + t, 300 - 5 * t) for t in range(0, 61, 5)]  # a restarted simulator's counter
    s, md, page, console = rendered(healthy(acked_series=backwards))
    assert_honest(md, page, console)
    assert s["ceiling"]["sustained_shares_per_s"] is None
    assert "went backwards" in s["not_measured"]["ceiling.sustained_shares_per_s"]


@pytest.mark.parametrize(("code", "shown"), [(-15, "killed by SIGTERM"), (-99, "killed by signal 99"), (1, "1")])
def test_locust_exit_code_is_never_a_negative_number(code: int, shown: str) -> None:
    _, md, _, _ = rendered(healthy(locust_exit_code=code))
    assert f"Locust exit code: {shown}" in md
    assert_honest(md)
