"""The benchmark's quick mode runs end to end and reports every figure (no timing assertions:
speed goals live in the benchmark, never in tests)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bpsn.bench.common import Sizes
from bpsn.bench.report import rows, write
from bpsn.bench.run import run_all
from bpsn.bench.serve import disable_rate_limits

pytestmark = [pytest.mark.bench_check, pytest.mark.slow(seconds=20)]


# The fixtures section times a pytest session in a subprocess (four in the full benchmark). Without the
# installed plugins it never uses, it starts on half the CPU; the section's code path is the same.
UNUSED_PLUGINS = "-p no:faker -p no:hypothesispytest -p no:schemathesis -p no:anyio -p no:locust"


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTEST_ADDOPTS", f"{os.environ.get('PYTEST_ADDOPTS', '')} {UNUSED_PLUGINS}")
        return run_all(Sizes.tiny())


def positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def test_servicenow_figures(results: dict[str, Any]) -> None:
    rps = results["servicenow"]["http_rps"]
    for case in ("bare_get", "incident_get", "bare_post", "incident_post"):
        assert positive(rps[case]["per_s"])
    assert positive(rps["incident_get"]["ratio_to_bare"]) and positive(rps["incident_post"]["ratio_to_bare"])
    sc = results["servicenow"]["scaling"]
    small, large = (str(n) for n in sc["sizes"])
    for table, keys in (("inproc_us", ["lookup_correlation_id", "lookup_number", "page_created_on_middle",
                                       "page_updated_on_middle", "page_updated_on_first", "count_active"]),
                        ("http_ms", ["lookup_count", "lookup_no_count", "page_count", "page_no_count"])):
        for key in keys:
            row = sc[table][key]
            assert positive(row[small]) and positive(row[large]) and positive(row["ratio"])
            assert isinstance(row["goal_met"], bool)
    assert set(sc["plans"]) >= {"lookup_correlation_id", "page_created_on_middle"}
    mem = sc["memory"]
    assert mem["incidents"] == int(large) and positive(mem["rss_after_mb"]) and positive(mem["sqlite_bytes_per_incident"])


def test_sequential_page_figures(results: dict[str, Any]) -> None:
    sc = results["servicenow"]["scaling"]
    pages, (small, large) = sc["sequential_pages"], (str(n) for n in sc["sizes"])
    for path in ("cached", "plain"):
        for n in (small, large):
            walk = pages[path][n]
            assert positive(walk["mean_ms"]) and walk["rows"] > 0 and 1 <= walk["pages_timed"] <= walk["pages"]
        assert positive(pages[path]["ratio"])
    assert isinstance(pages["cached"]["goal_met"], bool) and positive(pages["plain_over_cached_large"])
    assert sum(r.area == "ServiceNow paging" for r in rows(results)) == 2


def test_bigpanda_figures(results: dict[str, Any]) -> None:
    ingest = results["bigpanda"]["http_ingest"]
    assert positive(ingest["bare"]["alerts_per_s"]) and positive(ingest["bigpanda"]["alerts_per_s"])
    assert positive(ingest["bigpanda"]["ratio_to_bare"]) and positive(ingest["bigpanda"]["per_s"])
    corr = results["bigpanda"]["correlation"]
    for case in ("distinct_hosts", "shared_service"):
        a, b = (str(n) for n in corr[case]["sizes"])
        for kind in ("new_alert", "update_alert"):
            row = corr[case][kind]
            assert positive(row[a]) and positive(row[b]) and positive(row["ratio"])
        assert corr[case]["incidents"][b] >= 1


def test_report_files(results: dict[str, Any], tmp_path: Path) -> None:
    assert results["machine"]["cores"] and results["machine"]["python"] and positive(results["runtime_s"])
    js, md = write(results, tmp_path)
    assert json.loads(js.read_text())["quick"] is True
    text = md.read_text()
    assert "| Area |" in text and "Reproduce" in text
    assert len(rows(results)) == text.count("\n| ") - 1  # every row made it into the Markdown table


def test_rate_limits_switched_off_when_present() -> None:
    with_limits = SimpleNamespace(orgs={"a": SimpleNamespace(rate_limits=SimpleNamespace(enabled=True))})
    disable_rate_limits(with_limits)
    assert with_limits.orgs["a"].rate_limits.enabled is False
    disable_rate_limits(SimpleNamespace(orgs={"b": SimpleNamespace()}))  # before the limiter existed


def test_versus_refuses_what_is_not_a_bpsn_tree(tmp_path: Path) -> None:
    from bpsn.bench import versus
    from bpsn.bench.serve import server
    with pytest.raises(SystemExit, match="not a bpsn source tree"):
        versus.main([str(tmp_path)])
    with pytest.raises(ValueError, match="do not combine"), server("bare", inproc=True, tree=str(tmp_path)):
        pass
