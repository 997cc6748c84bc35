"""`bpsn load`: the smoke profile end to end (one Locust process, then master + 2 workers),
and the summary arithmetic with fixed inputs.

The load runs are subprocesses (`python -m bpsn.cli.main load ...`): Locust never runs inside pytest.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bpsn.load.profiles import get_profile, load_profiles
from bpsn.load.report import render_markdown
from bpsn.load.summary import (
    CEILING_FORMULA,
    NO_STEADY,
    RunFacts,
    build_summary,
    ceiling,
    histogram_percentile,
    integrity,
)

pytestmark = pytest.mark.slow(seconds=17)

ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT = 90.0
LOCUST_FILES = ["locust_stats.csv", "locust_stats_history.csv", "locust_failures.csv", "locust.json", "locust.html"]
OUR_FILES = ["summary.md", "summary.json", "latency.html", "bigpanda-fixtures.json"]
LIFECYCLE_METRICS = ("tag_sync_to_servicenow", "tag_sync_to_bigpanda", "resolve_to_ticket_resolved")


def run_load(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    cmd = [sys.executable, "-m", "bpsn.cli", "load", "--profile", "smoke", "--out", str(out), *extra]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = proc.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)  # let it stop its children (they run in their own sessions)
        output, _ = proc.communicate(timeout=30)
        pytest.fail(f"bpsn load ran over {RUN_TIMEOUT:g} s:\n{output[-4000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, output, "")


def logs(out: Path) -> str:
    parts = [f"--- {f.name} ---\n{f.read_text(errors='replace')[-1500:]}" for f in sorted((out / "logs").glob("*.log"))]
    return "\n".join(parts)


def check_run(out: Path, result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    context = f"\n--- bpsn load ---\n{result.stdout[-3000:]}\n{logs(out) if (out / 'logs').is_dir() else ''}"
    assert result.returncode == 0, f"bpsn load exited {result.returncode}{context}"
    for name in LOCUST_FILES + OUR_FILES:
        assert (out / name).is_file(), f"{name} missing{context}"
    s = json.loads((out / "summary.json").read_text())
    e2e = s["latency"]["alert_to_ticket"]
    assert e2e["count"] >= 3 and e2e["failures"] == 0, context
    assert 0 < e2e["p50_ms"] <= e2e["p95_ms"] <= e2e["p99_ms"] <= e2e["max_ms"] < 5000, e2e
    assert s["integrity"]["lost"] == 0 and s["integrity"]["duplicates"] == 0, s["integrity"]
    assert s["integrity"]["bigpanda_incidents"] >= 1
    assert s["integrity"]["servicenow_tickets"] == s["integrity"]["bigpanda_incidents"]
    assert s["throughput"]["alerts_per_s"] > 0 and s["throughput"]["shares_acknowledged"] > 0
    assert s["ceiling"]["shares_per_s"] == 75.0 and 0 < s["ceiling"]["achieved_fraction"] < 1
    assert s["latency_vs_poll"]["poll_interval_ms"] == 500.0
    assert s["failures"]["total"] == 0 and s["rate_limited"]["bigpanda_429"] == 0
    assert s["servicenow"]["requests_per_incident"] >= 1
    assert s["core"]["cpu_seconds"] > 0 and s["core"]["peak_rss_mb"] > 10
    assert s["bigpanda"]["drained"] and s["ok"]
    check_lifecycle(s)
    assert {"bigpanda", "servicenow", "core"} <= set(s["processes"])
    md = (out / "summary.md").read_text()
    # the profile's ceiling, or why there is none (smoke's ramp-up and settling outlast its 5 s)
    assert ("the profile's ceiling: the core's incident actions and tag calls took" in md) != (
        f"not measured: {NO_STEADY}" in md)
    assert "None" not in md and "(-" not in md
    assert "5 / 2 * 30 = 75 shares/s" in md and "lost: **0**" in md
    page = (out / "latency.html").read_text()
    assert page.count("<svg") >= 2 and "<script" not in page and "<link" not in page  # self-contained
    for metric in LIFECYCLE_METRICS:
        assert metric in md and f"Distribution: {metric}" in page
    return s


def check_lifecycle(s: dict[str, Any]) -> None:
    """The lifecycle user's metrics: a tag each way and a resolve, timed, none failed, plausible."""
    poll_ms = s["poll_interval_s"] * 1000
    for metric in LIFECYCLE_METRICS:
        exact = s["samples"].get(metric)
        assert exact and exact["count"] >= 1 and exact["failures"] == 0, (metric, s["samples"])
        if not s["workers"]:  # a Locust master quits before workers report the tasks they finish while stopping
            assert s["latency"][metric]["count"] == exact["count"], (metric, s["latency"].get(metric))
    to_bp = s["samples"]["tag_sync_to_bigpanda"]
    # the 5 s coalesce window opens at the ticket's sys_updated_on (whole seconds, so up to 1 s before the
    # edit); the call leaves at the first watch pass after it (once per poll cycle)
    assert 4000 <= to_bp["p50_ms"] <= to_bp["max_ms"] < 5000 + 2 * poll_ms + 2000, to_bp
    for metric in ("tag_sync_to_servicenow", "resolve_to_ticket_resolved"):  # one poll and the write
        assert 0 < s["samples"][metric]["max_ms"] < poll_ms + 4000, s["samples"][metric]
    assert s["servicenow"]["requests_by_users"] >= 1  # the analyst's PATCH is not counted for the core


@pytest.mark.load
def test_smoke_profile(tmp_path: Path) -> None:
    out = tmp_path / "smoke"
    stale = out / "samples" / "samples-1.csv"  # an earlier run into the same folder
    stale.parent.mkdir(parents=True)
    stale.write_text("time,latency_ms,ok,incident_id,metric,waited\n1.0,99999,1,not-this-run,alert_to_ticket,1\n")
    s = check_run(out, run_load(out))
    assert s["workers"] == 0
    assert not stale.exists(), "the last run's samples were counted again"
    assert list((out / "samples").glob("samples-*.csv")), "the users wrote no per-sample file"


@pytest.mark.load
def test_smoke_profile_two_workers(tmp_path: Path) -> None:
    out = tmp_path / "smoke-2w"
    s = check_run(out, run_load(out, "--workers", "2"))
    assert s["workers"] == 2
    assert (out / "logs" / "locust-worker-1.log").is_file() and (out / "logs" / "locust-worker-2.log").is_file()
    stats = json.loads((out / "locust.json").read_text())  # the master's aggregate of both workers
    e2e = next(e for e in stats if e["name"] == "alert_to_ticket")
    assert e2e["num_requests"] == s["latency"]["alert_to_ticket"]["count"] >= 3
    assert sum(e2e["response_times"].values()) == e2e["num_requests"]
    assert len(list((out / "samples").glob("samples-*.csv"))) == 2, "each worker writes its own samples"


# --- the arithmetic, no processes ---------------------------------------------------------------------

def test_histogram_percentile_follows_locust() -> None:
    hist = {"10": 50, "20": 46, "500": 4}
    assert histogram_percentile(hist, 0.50) == 20.0
    assert histogram_percentile(hist, 0.95) == 20.0
    assert histogram_percentile(hist, 0.99) == 500.0
    assert histogram_percentile({}, 0.5) != histogram_percentile({}, 0.5)  # nan


def test_ceiling_and_summary_math() -> None:
    assert ceiling() == 75.0 and ceiling(5, 10) == 25.0 and ceiling(4.5, 30) == 67.5
    e2e = {"name": "alert_to_ticket", "method": "E2E", "num_requests": 100, "num_failures": 0,
           "start_time": 1000.0, "last_request_timestamp": 1010.0, "total_response_time": 30_000,
           "max_response_time": 1500, "response_times": {"100": 50, "900": 45, "1200": 4, "1500": 1}}
    post = {"name": "POST /data/v2/alerts", "method": "POST", "num_requests": 120, "num_failures": 0,
            "start_time": 1000.0, "last_request_timestamp": 1010.0, "total_response_time": 600,
            "max_response_time": 20, "response_times": {"5": 120}}
    resolve = {**post, "name": "POST /data/v2/alerts [ok]", "num_requests": 30, "response_times": {"5": 30}}
    facts = RunFacts(
        profile=get_profile("smoke").as_dict(), workers=0, poll_interval=1.0, retrieval_count=30,
        locust_stats=[post, resolve, e2e], locust_exit_code=0, bigpanda_ids=["a", "b", "c"],
        ticket_correlation_ids=["a", "b", "b"], seen_ids=["a"], shares_acknowledged=150, share_window_s=10.0,
        core_bigpanda_calls={"GET /integrations/v3/servicenow/shares": 12, "POST /integrations/v3/servicenow/callbacks": 10,
                             "POST /resources/v2.0/environments/{id}/incidents/{id}/tags": 3},
        servicenow_requests=60, bigpanda_429=2, core_usage={"cpu_seconds": 1.5, "peak_rss_mb": 60.0},
        acked_series=[(1000.0, 0), (1004.0, 200), (1010.0, 560)], steady_window=(1002.0, 1008.0),
        other_calls_series=[(1000.0, 0), (1010.0, 5)])
    s = build_summary(facts)
    lat = s["latency"]["alert_to_ticket"]
    assert (lat["p50_ms"], lat["p95_ms"], lat["p99_ms"], lat["max_ms"]) == (900.0, 1200.0, 1500.0, 1500.0)
    assert s["throughput"]["alerts"] == 150 and s["throughput"]["alerts_per_s"] == 15.0
    assert s["throughput"]["tickets_per_s"] == 10.0 and s["throughput"]["shares_per_s"] == 15.0
    c = s["ceiling"]
    assert c["shares_per_s"] == 75.0 and c["achieved_fraction"] == 0.2
    assert c["avg_batch"] == 15.0 and c["ceiling_at_avg_batch"] == 37.5 and c["core_bigpanda_rps"] == 2.5
    # steady 1002-1008 s: 100 -> 440 shares = 56.67/s; tag calls 0.5/s leave (5 - 0.5) / 2 * 30 = 67.5
    assert c["sustained_shares_per_s"] == 56.67 and c["sustained_fraction"] == round(340 / 6 / 75, 4)
    assert c["other_calls_per_s"] == 0.5 and c["profile_shares_per_s"] == 67.5
    assert c["sustained_fraction_of_profile"] == round(340 / 6 / 67.5, 4)
    short = build_summary(dataclasses.replace(facts, steady_window=(0.0, 0.0)))["ceiling"]  # no steady window
    assert short["profile_shares_per_s"] is None and short["sustained_fraction_of_profile"] is None
    assert c["formula"] == CEILING_FORMULA.format(rps=5.0, calls=2, count=30, value=75.0)
    assert s["latency_vs_poll"] == {"poll_interval_ms": 1000.0, "alert_to_ticket_p95_ms": 1200.0,
                                    "p95_minus_poll_ms": 200.0}
    assert s["servicenow"]["requests_per_incident"] == 20.0  # 60 requests / 3 incidents
    assert s["rate_limited"]["bigpanda_429"] == 2
    i = s["integrity"]
    assert (i["lost"], i["duplicates"], i["lost_ids"], i["duplicate_ids"]) == (1, 1, ["c"], {"b": 2})
    assert not i["ok"] and not s["ok"]
    md = render_markdown(s)
    assert "leaves **67.5 shares/s**" in md
    assert "5 / 2 * 30 = 75 shares/s" in md and "lost: **1**, duplicates: **1**" in md and "NOT OK" in md


def test_integrity_flags_strays_and_unlisted() -> None:
    check = integrity(["a"], ["a", "z"], seen_ids=["a", "q"])
    assert check.strays == ["z"] and check.seen_not_listed == ["q"] and not check.ok
    assert integrity(["a", "b"], ["b", "a"]).ok


def test_profiles() -> None:
    profiles = load_profiles()
    assert {"smoke", "steady", "burst", "soak"} <= set(profiles)
    smoke = profiles["smoke"]
    assert smoke.duration <= 10 and smoke.workers == 0 and smoke.mix.lifecycle_users == 1
    assert profiles["soak"].duration > profiles["steady"].duration > smoke.duration
    assert smoke.with_overrides(workers=2, poll_interval=0.25).workers == 2
