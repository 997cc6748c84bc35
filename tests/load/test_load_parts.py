"""The pure parts of `bpsn load` and of the load benchmarks: no processes, no Locust.

The sample files, the steady-window rate, the BigPanda seed, the core's BPSN_TAG_MAPPINGS,
profile checks, and the goals of issue #6 judged on fixed summaries.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from pathlib import Path
from typing import Any

import pytest

from bpsn.bench.load import _row, ceiling_goal, judge, latency_goal, markdown
from bpsn.cli.main import _incident_settings_from_env
from bpsn.load.profiles import ProfileError, get_profile
from bpsn.load.samples import NEW_TICKETS, percentile, read_samples, sample_stats
from bpsn.load.seed import ANALYST_KEY, TAG, bigpanda_fixture, core_tag_mappings
from bpsn.load.summary import rate_between
from bpsn.simulator.bigpanda.admin.fixtures import load_fixtures
from bpsn.simulator.bigpanda.backend import BigPandaBackend
from bpsn.simulator.bigpanda.settings import BigPandaSettings


def test_samples_exact_per_metric_and_new_tickets(tmp_path: Path) -> None:
    (tmp_path / "samples-1.csv").write_text(
        "time,metric,latency_ms,ok,incident_id,waited\n"
        "100.0,alert_to_ticket,1000.0,1,a,1\n"
        "101.0,alert_to_ticket,5.5,1,a,0\n"
        "102.0,alert_to_ticket,30000.0,0,b,\n"
        "110.0,tag_sync_to_bigpanda,6123.4,1,a,\n"
        "111.0,resolve_to_ticket_resolved,80")  # cut short when the process stopped
    (tmp_path / "samples-2.csv").write_text(  # an older run's file: no metric, no waited
        "time,latency_ms,ok,incident_id\n99.0,250.0,1,c\n")
    samples, seen = read_samples(tmp_path)
    assert [s.metric for s in samples].count("alert_to_ticket") == 4 and seen.count("a") == 3
    assert samples[0].t == 0.0 and min(s.t for s in samples) == 0.0  # times from the first start
    stats = sample_stats(samples)
    a2t = stats["alert_to_ticket"]
    assert (a2t["count"], a2t["failures"], a2t["max_ms"]) == (4, 1, 1000.0)  # percentiles of the good ones
    assert stats[NEW_TICKETS]["count"] == 1 and stats[NEW_TICKETS]["p95_ms"] == 1000.0
    assert stats["tag_sync_to_bigpanda"]["p50_ms"] == 6123.4
    assert "resolve_to_ticket_resolved" not in stats


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.95) == 95.0 and percentile(values, 0.5) == 50.0 and percentile(values, 1.0) == 100.0
    assert math.isnan(percentile([], 0.5))


def test_rate_between_interpolates() -> None:
    series = [(0.0, 0), (10.0, 100), (20.0, 300)]
    assert rate_between(series, 0.0, 10.0) == 10.0
    assert rate_between(series, 5.0, 15.0) == 15.0  # 50 -> 200
    assert math.isnan(rate_between(series, 15.0, 25.0))  # past the last reading
    assert math.isnan(rate_between(series, 8.0, 8.0))


def test_bigpanda_fixture_seeds_the_demo_org_with_an_analyst_and_the_tag() -> None:
    settings = BigPandaSettings()
    backend = BigPandaBackend(settings)
    loaded = load_fixtures(backend, bigpanda_fixture(settings))
    assert loaded["tag_definitions"] == 1 and loaded["environments"] == 1
    org = backend.org_named(settings.organization)
    assert set(org.user_api_keys) == {settings.user_api_key, ANALYST_KEY}
    assert [(t.name, t.type) for t in org.tag_definitions.values()] == [(TAG, "Text")]
    env = next(iter(org.environments.values()))
    assert env.name == settings.environment and env.autoshare_targets == ["servicenow"]
    assert backend.resolve_token(settings.org_token).org is org
    with pytest.raises(ValueError, match="must differ"):
        bigpanda_fixture(settings, analyst_key=settings.user_api_key)


def test_core_reads_tag_mappings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BPSN_TAG_MAPPINGS", core_tag_mappings())
    settings = _incident_settings_from_env()
    assert [(m.tag, m.field, m.direction) for m in settings.tag_mappings] == [("component", "subcategory", "both")]
    monkeypatch.setenv("BPSN_TAG_MAPPINGS", '[{"tag": "component", "field": "subcategory", "direction": "up"}]')
    with pytest.raises(ValueError, match="BPSN_TAG_MAPPINGS: .*direction must be one of"):
        _incident_settings_from_env()
    monkeypatch.setenv("BPSN_TAG_MAPPINGS", '{"tag": "component"}')
    with pytest.raises(ValueError, match="expected a JSON list"):
        _incident_settings_from_env()
    monkeypatch.delenv("BPSN_TAG_MAPPINGS")
    assert _incident_settings_from_env() is None


def test_profile_checks_name_what_is_wrong() -> None:
    smoke = get_profile("smoke")
    with pytest.raises(ProfileError, match="core_bigpanda_rps"):
        dataclasses.replace(smoke, core_bigpanda_rps=6.0).with_overrides()  # above BigPanda's 5/s
    with pytest.raises(ProfileError, match="lifecycle_users"):
        dataclasses.replace(smoke, mix=dataclasses.replace(smoke.mix, lifecycle_users=99)).with_overrides()
    with pytest.raises(ProfileError, match="duration must be > 0"):
        smoke.with_overrides(duration=0)
    assert smoke.with_overrides(duration=3).duration == 3
    assert smoke.tag_timeout == smoke.ticket_timeout + 2 * smoke.poll_interval + 5


def _summary(name: str, poll_s: float, p95_ms: float, fraction: float | None, lost: int = 0) -> dict[str, Any]:
    return {"profile": {"name": name, "users": 10, "duration": 60.0, "poll_interval": poll_s},
            "poll_interval_s": poll_s, "ok": lost == 0, "wall_time_s": 70.0,
            "latency": {"alert_to_ticket": {"count": 100, "failures": 0, "p50_ms": 1.0, "p95_ms": p95_ms + 50,
                                            "p99_ms": p95_ms + 60}},
            "samples": {"alert_to_ticket": {"count": 100, "failures": 0, "p50_ms": 1.0, "p95_ms": p95_ms / 2,
                                            "p99_ms": p95_ms + 10},
                        NEW_TICKETS: {"count": 30, "failures": 0, "p50_ms": 5.0, "p95_ms": p95_ms,
                                      "p99_ms": p95_ms + 10}},
            "ceiling": {"shares_per_s": 75.0, "other_calls_per_s": 0.4, "profile_shares_per_s": 69.0,
                        "sustained_fraction": None if fraction is None else round(fraction * 69 / 75, 4),
                        "sustained_fraction_of_profile": fraction,
                        "sustained_shares_per_s": None if fraction is None else round(69 * fraction, 2)},
            "throughput": {"alerts_per_s": 50.0}, "servicenow": {"requests_per_incident": 2.0},
            "rate_limited": {"bigpanda_429": 0}, "processes": {"core": {"cpu_seconds": 3.0}},
            "integrity": {"ok": lost == 0, "lost": lost, "duplicates": 0, "bigpanda_incidents": 10}}


def test_goals_judged_on_exact_p95_and_sustained_fraction() -> None:
    steady, burst, soak = _summary("steady", 15, 15_990, 0.1), _summary("burst", 1, 1_900, 0.92), \
        _summary("soak", 2, 9_000, 0.2, lost=1)
    goals = {(g.goal[:3], g.profile): g for g in judge({"steady": steady, "burst": burst, "soak": soak})}
    assert goals[("(a)", "steady")].met and "16,000 ms" in goals[("(a)", "steady")].target
    assert goals[("(b)", "burst")].met  # both (b) goals: latency and ceiling
    assert [g.met for k, g in goals.items() if k[0] == "(c)"] == [True, True, False]
    assert not latency_goal(_summary("burst", 1, 2_001, 0.95), 2000, "b").met
    assert not ceiling_goal(_summary("burst", 1, 100, 0.899)).met  # of the profile's 69, not of 75
    assert "of the profile's 69" in ceiling_goal(_summary("burst", 1, 100, 0.95)).measured
    assert not ceiling_goal(_summary("burst", 1, 100, None)).met
    slower = copy.deepcopy(steady)
    slower["samples"][NEW_TICKETS]["p95_ms"] = 16_001  # judged on the new tickets, not on every alert
    assert not judge({"steady": slower})[0].met and "all alerts 7,995 ms" in judge({"steady": slower})[0].measured
    del slower["samples"][NEW_TICKETS]  # none waited: every alert's p95
    assert judge({"steady": slower})[0].met


def test_bench_markdown_lists_goals_and_runs() -> None:
    summaries = {"burst": _summary("burst", 1, 1_900, 0.92)}
    report = {"started": "2026-01-01T00:00:00+00:00", "runtime_s": 80.0, "command": "make bench",
              "machine": {"cpu": "CPU", "cores": 2, "python": "3.11"},
              "load_average": {"before": [1, 1, 1], "after": [2, 2, 2]},
              "goals": [dataclasses.asdict(g) for g in judge(summaries)],
              "runs": {"burst": _row(summaries["burst"])}}
    md = markdown(report)
    assert ("| (b) sustained share rate | burst | >= 90% of the profile's ceiling | 63.48 shares/s = 92.0% of the "
            "profile's 69 (84.6% of the share-only 75) | met |") in md
    assert "| burst | 10 users, 60 s, 1 s | alert_to_ticket | 100 | 0 | 1 ms | 950 ms | 1,910 ms |" in md
    assert "| burst | 10 users, 60 s, 1 s | alert_to_ticket (new tickets) | 30 | 0 | 5 ms | 1,900 ms |" in md
