"""Per-test overhead of the pytest plugin's fixtures (issue #14 item 2), as users pay it.

Four pytest sessions, each in its own process, each of N tests that do the same small thing
(read ServiceNow's ticket list): with `bpsn_bench`, with `bpsn_stack`, with a new
InProcessBench built and closed per test (how a test got a fresh state before the plugin), and
with no bench at all (the baseline that pytest itself costs). A fixture's per-test overhead is
(its session - the baseline session) / N; the ratio is the new-bench overhead over it.

Quick mode (the suite's smoke test of the benchmark) runs the four files in one pytest session and
takes each file's summed test times (setup, call, teardown: from the JUnit report) for its session
time: one interpreter start and one plugin import instead of four; the same formula, the same keys.
The numbers are not the benchmark's: start-up cost is left out, and the first fixture file pays for
what the plugin builds once.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import textwrap
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .common import Sizes

GOAL = 20.0  # the fixtures are at least this many times cheaper per test than a new bench

BODIES = {
    "none": "def test_{i}():\n    assert True\n",
    "new_bench": ("def test_{i}():\n    bench = InProcessBench()\n    try:\n        assert bench.tickets() == []\n"
                  "    finally:\n        bench.close()\n"),
    "bpsn_bench": "def test_{i}(bpsn_bench):\n    assert bpsn_bench.tickets() == []\n",
    "bpsn_stack": "def test_{i}(bpsn_stack):\n    assert bpsn_stack.tickets() == []\n",
}


def _suite(kind: str, n: int, folder: Path) -> Path:
    path = folder / f"test_{kind}.py"
    head = "from bpsn.testing import InProcessBench\n\n\n" if kind == "new_bench" else ""
    path.write_text(head + "\n\n".join(BODIES[kind].format(i=i) for i in range(n)))
    return path


def _session_seconds(path: Path) -> float:
    """Wall time of one pytest session over the file; the same plugin set every time."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                           str(path)], cwd=path.parent, capture_output=True, text=True, check=False)
    took = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{path.name} failed:\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}")
    return took


def _file_seconds(paths: list[Path]) -> dict[str, float]:
    """Quick mode: one pytest session over every file; each file's summed test times, by kind."""
    folder = paths[0].parent
    report = folder / "junit.xml"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                           f"--junitxml={report}", *map(str, paths)],
                          cwd=folder, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"the fixture files failed:\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}")
    took = {path.stem.removeprefix("test_"): 0.0 for path in paths}
    for case in ET.parse(report).getroot().iter("testcase"):
        kind = str(case.get("classname", "")).rpartition(".")[2].removeprefix("test_")
        took[kind] += float(case.get("time", 0))
    return took


def run(sizes: Sizes, progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    n = 5 if sizes.quick else 200
    baseline_n = 3 if sizes.quick else 50  # a new bench per test is slow: fewer of them, per test all the same
    progress(f"Fixtures: per-test overhead over {n} tests (bpsn_bench, bpsn_stack) and {baseline_n} new benches")
    with tempfile.TemporaryDirectory(prefix="bpsn-fixture-bench-") as tmp:
        folder = Path(tmp)
        counts = {"none": n, "bpsn_bench": n, "bpsn_stack": n, "new_bench": baseline_n}
        seconds: dict[str, list[float]] = {k: [] for k in counts}
        if sizes.quick:
            for kind, took in _file_seconds([_suite(kind, count, folder) for kind, count in counts.items()]).items():
                seconds[kind].append(took)
        for _ in range(0 if sizes.quick else max(1, sizes.repeats)):  # alternate the kinds: drift hits all alike
            for kind, count in counts.items():
                seconds[kind].append(_session_seconds(_suite(kind, count, folder)))
        best = {k: min(v) for k, v in seconds.items()}
        # what a session costs beyond pytest's own start-up and empty tests, per test: a fixture's
        # one-time cost (building its bench or stack) is spread over its tests
        per_test_ms = {k: round((best[k] - best["none"]) / counts[k] * 1000, 2)
                       for k in ("bpsn_bench", "bpsn_stack", "new_bench")}
    out: dict[str, Any] = {"tests": n, "new_bench_tests": baseline_n, "session_s": {k: round(v, 2) for k, v in best.items()},
                           "per_test_ms": per_test_ms}
    for kind in ("bpsn_bench", "bpsn_stack"):
        out[f"{kind}_times_cheaper"] = round(per_test_ms["new_bench"] / max(per_test_ms[kind], 0.01), 1)
        out[f"{kind}_goal_met"] = out[f"{kind}_times_cheaper"] >= GOAL
    return out


def report_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    r = results["fixtures"]
    base = f"new InProcessBench per test: {r['per_test_ms']['new_bench']:.0f} ms"
    return [("Fixtures (pytest sessions)", f"per-test overhead, {kind} ({r['tests']} tests)", base,
             f"{r['per_test_ms'][kind]:.1f} ms", f"{r[f'{kind}_times_cheaper']:.0f}× cheaper",
             f"≥ {GOAL:.0f}× {'met' if r[f'{kind}_goal_met'] else 'MISSED'}")
            for kind in ("bpsn_bench", "bpsn_stack")]


def method_note(results: dict[str, Any]) -> str:
    r = results["fixtures"]
    if results.get("quick"):
        return textwrap.dedent(f"""\
            * Fixtures (quick mode): one pytest session over {r['tests']} tests with `bpsn_bench`, {r['tests']}
              with `bpsn_stack`, {r['new_bench_tests']} that each build a new InProcessBench and {r['tests']} empty
              tests; each file's summed test times stand for its session. Per-test overhead = (file - the
              empty file) / tests. Start-up is left out: run the full benchmark for the real figures.""")
    return textwrap.dedent(f"""\
        * Fixtures: pytest sessions in subprocesses, each test reading ServiceNow's ticket list:
          {r['tests']} tests with `bpsn_bench`, {r['tests']} with `bpsn_stack`, {r['new_bench_tests']} that
          each build and close a new InProcessBench (the way before the plugin), and {r['tests']} empty tests
          (what pytest and its start-up cost). Per-test overhead = (session - the empty session) / tests, so
          a fixture's one-time cost (its bench or stack) is spread over its tests; best of the repetitions.""")
