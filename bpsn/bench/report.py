"""The results as a rich table on the terminal, and as results/bench/simulators.{json,md}."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bpsn.bench import cmdb, core_requests, fixtures, rules


@dataclass
class Row:
    area: str
    measure: str
    baseline: str
    value: str
    ratio: str
    goal: str = ""


def _goal(row: dict[str, Any], goal: float, informative: bool = False) -> str:
    if informative:
        return "info"
    return f"≤ {goal} {'met' if row['goal_met'] else 'MISSED'}"


def _k(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def _http_row(area: str, measure: str, bare: dict[str, Any], sim: dict[str, Any], key: str = "per_s",
              per: int = 1) -> Row:
    """Throughput against the bare app; server CPU per request (per alert) when measured."""
    base, value, rat = f"bare {bare[key]:.0f}", f"{sim[key]:.0f}", f"{sim['ratio_to_bare']:.2f}× bare throughput"
    if sim.get("cpu_ratio_to_bare"):  # the robust figure: the client does not blur it
        unit = "alert" if per > 1 else "req"
        base += f"; {bare['server_cpu_ms'] * 1e3 / per:.0f} µs CPU/{unit}"
        value += f"; {sim['server_cpu_ms'] * 1e3 / per:.0f} µs CPU/{unit}"
        rat = f"CPU/{unit} {sim['cpu_ratio_to_bare']:.1f}× bare; {rat}"
    return Row(area, measure, base, value, rat, "info")


INPROC = {
    "lookup_correlation_id": "lookup correlation_id=<x> (limit 1)",
    "lookup_number": "lookup number=INC… (limit 1)",
    "page_created_on_middle": "page of 100, active=true^ORDERBYsys_created_on, middle offset",
    "page_updated_on_middle": "page of 100, ORDERBYsys_updated_on (indexed col), middle offset",
    "page_updated_on_first": "page of 100, ORDERBYsys_updated_on, offset 0",
    "count_active": "count active=true",
}
HTTP = {
    "lookup_count": "GET lookup correlation_id, with X-Total-Count",
    "lookup_no_count": "GET lookup correlation_id, sysparm_no_count=true",
    "page_count": "GET page of 100 (created_on, middle), with X-Total-Count",
    "page_no_count": "GET page of 100 (created_on, middle), sysparm_no_count=true",
}


def rows(results: dict[str, Any]) -> list[Row]:
    sn, bp = results["servicenow"], results["bigpanda"]
    out = []
    rps = sn["http_rps"]
    for op, label in (("get", "GET /api/now/table/incident/{sys_id}"), ("post", "POST /api/now/table/incident")):
        out.append(_http_row("ServiceNow HTTP", f"{label} (req/s)", rps[f"bare_{op}"], rps[f"incident_{op}"]))
    sc = sn["scaling"]
    small, large = sc["sizes"]
    for key, label in INPROC.items():
        row = sc["inproc_us"][key]
        out.append(Row("ServiceNow store (in-process)", f"{label} (µs)", f"{_k(small)}: {row[str(small)]:.0f}",
                       f"{_k(large)}: {row[str(large)]:.0f}", f"{row['ratio']:.2f}×", _goal(row, sc["goal"])))
    for key, label in HTTP.items():
        row = sc["http_ms"][key]
        out.append(Row("ServiceNow query (HTTP)", f"{label} (ms)", f"{_k(small)}: {row[str(small)]:.1f}",
                       f"{_k(large)}: {row[str(large)]:.1f}", f"{row['ratio']:.2f}×",
                       _goal(row, sc["goal"], informative="_count" in key and "no_count" not in key)))
    pages = sc.get("sequential_pages")
    if pages:  # every page of a result in turn, each with its total (issue #19)
        for path in ("cached", "plain"):
            row = pages[path]
            out.append(Row("ServiceNow paging", f"sequential pages of {pages['limit']} with X-Total-Count, "
                           f"{path} path (mean ms/page)", f"{_k(small)}: {row[str(small)]['mean_ms']:.2f}",
                           f"{_k(large)}: {row[str(large)]['mean_ms']:.2f}", f"{row['ratio']:.2f}×",
                           _goal({"ratio": row["ratio"], "goal_met": row["ratio"] <= pages["goal"]}, pages["goal"],
                                 informative=path == "plain")))
    mem = sc["memory"]
    out.append(Row("ServiceNow memory", f"RSS, {_k(mem['incidents'])} incidents",
                   f"before {mem['rss_before_mb']} MB", f"after {mem['rss_after_mb']} MB",
                   f"+{mem['delta_mb']} MB = {mem['bytes_per_incident']} B/incident",
                   f"SQLite pages {mem['sqlite_bytes_per_incident']} B/incident"))
    ing = bp["http_ingest"]
    out.append(_http_row("BigPanda HTTP", f"alerts/s, batches of {ing['batch']}", ing["bare"], ing["bigpanda"],
                         key="alerts_per_s", per=ing["batch"]))
    corr = bp["correlation"]
    for case, label in (("distinct_hosts", "distinct hosts"), ("shared_service", "28 shared services")):
        c = corr[case]
        a, b = c["sizes"]
        for kind in ("new_alert", "update_alert"):
            row = c[kind]
            out.append(Row("BigPanda correlation", f"{kind.replace('_', ' ')}, open alerts on {label} (µs/alert)",
                           f"{_k(a)}: {row[str(a)]:.1f}", f"{_k(b)}: {row[str(b)]:.1f}", f"{row['ratio']:.2f}×",
                           _goal(row, corr["goal"], informative=case != "distinct_hosts")))
    if "cmdb" in results:
        out += [Row(*r) for r in cmdb.report_rows(results)]
    if "rules" in results:
        out += [Row(*r) for r in rules.report_rows(results)]
    if "core_requests" in results:
        out += [Row(*r) for r in core_requests.report_rows(results)]
    if "fixtures" in results:
        out += [Row(*r) for r in fixtures.report_rows(results)]
    return out


def table(results: dict[str, Any]) -> Table:
    t = Table(title=f"Simulator benchmarks ({'quick' if results['quick'] else 'full'}; "
                    f"{results['runtime_s']:.0f} s) — ratios against baselines of the same run")
    for col in ("Area", "Measure", "Baseline", "Measured", "Ratio", "Goal"):
        t.add_column(col, overflow="fold")
    for r in rows(results):
        style = "red" if "MISSED" in r.goal else None
        t.add_row(r.area, r.measure, r.baseline, r.value, r.ratio, r.goal, style=style)
    return t


def notes(results: dict[str, Any]) -> list[str]:
    """Facts read from the results (plans, indexes), not opinions."""
    sc = results["servicenow"]["scaling"]
    out = []
    if not sc["sys_created_on_indexed"]:
        out.append("`sys_created_on` has no index in the data dictionary (only `sys_id` and "
                   "`sys_updated_on` of the system fields do), so `ORDERBYsys_created_on` sorts every match.")
    indexed = [name for name in ("lookup_correlation_id", "lookup_number", "page_updated_on_middle",
                                 "page_updated_on_first") if any("ix_task_class" in p for p in sc["plans"].get(name, []))]
    if indexed:
        out.append(f"{', '.join(f'`{n}`' for n in indexed)}: the column is indexed, yet SQLite plans the query "
                   "through `ix_task_class` (the `sys_class_name IN (...)` filter every incident query carries), "
                   "so it visits every incident; see the plans below.")
    if not sc.get("fresh_process", True):
        out.append("Memory was measured in this process (quick mode), not a fresh one.")
    return out


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = ["# Simulator benchmarks", "",
             f"Run {results['started']} in {results['runtime_s']:.0f} s ({'quick' if results['quick'] else 'full'}). "
             "Every figure is the median of several repetitions; compare the ratios, which are taken "
             "against baselines measured in the same run, not the absolute numbers.", "",
             f"* Machine: {m['cpu']}, {m['cores']} cores, {m['platform']}",
             f"* Python {m['python']} ({m['implementation']}), SQLite {m['sqlite']}, FastAPI {m['fastapi']}, "
             f"Starlette {m['starlette']}, uvicorn {m['uvicorn']}, httpx {m['httpx']}",
             f"* Reproduce: `{results['command']['make']}` or `{results['command']['direct']}`", "",
             "| Area | Measure | Baseline | Measured | Ratio | Goal |", "|---|---|---|---|---|---|"]
    lines += [f"| {r.area} | {r.measure} | {r.baseline} | {r.value} | {r.ratio} | {r.goal} |" for r in rows(results)]
    lines += ["", "## Notes", ""] + [f"* {n}" for n in notes(results)]
    lines += ["", "## Query plans (large table)", ""]
    for name, plans in results["servicenow"]["scaling"]["plans"].items():
        lines += [f"* `{name}`"] + [f"  * `{p}`" for p in plans]
    rps, ing = results["servicenow"]["http_rps"], results["bigpanda"]["http_ingest"]
    where = "a thread of the client process" if results["sizes"]["inproc_servers"] else "a subprocess per server"
    lines += ["", "## Method", "",
              f"* HTTP throughput: uvicorn on loopback ({where}); {rps['concurrency']} httpx.AsyncClient workers "
              f"(one keep-alive connection each), {rps['requests']} requests (BigPanda: {ing['batches']} batches) "
              f"after a warm-up, repeated {results['sizes']['repeats']}× interleaved with the bare-FastAPI baseline. "
              "The client shares the 2 cores and costs about as much per request as the bare server, so "
              "throughput ratios understate the simulators' cost; the server-CPU-per-request ratio (from "
              "/proc/PID/stat of the server subprocess) is the closer measure.",
              "* ServiceNow store: `ServiceNowBackend.query(..., count=False)` in-process on tables filled "
              "straight through SQLite with full incident records; HTTP query rows one request at a time "
              "(server in a thread). Small and large tables are timed in alternating rounds; lookups use a "
              f"different random key each call; calls stop after {results['sizes']['budget']} s per operation "
              "and size (the `samples` counts are in the JSON).",
              "* BigPanda correlation: `Organization.ingest(event, now)` in-process on events made by "
              "`normalize(...)` beforehand (untimed); the two organisations are timed in alternating rounds. "
              "Rate limits are switched off through `org.rate_limits.enabled` on every organisation.",
              *([cmdb.method_note(results)] if "cmdb" in results else []),
              *([rules.method_note(results)] if "rules" in results else []),
              *([core_requests.method_note(results)] if "core_requests" in results else []),
              *([fixtures.method_note(results)] if "fixtures" in results else []),
              "* Raw samples: simulators.json."]
    return "\n".join(lines) + "\n"


def write(results: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    js, md = out_dir / "simulators.json", out_dir / "simulators.md"
    js.write_text(json.dumps(results, indent=2) + "\n")
    md.write_text(markdown(results))
    return js, md


def show(results: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    if not console.is_terminal:
        console.width = max(console.width, 150)
    console.print(table(results))
    for n in notes(results):
        console.print(f"• {n}", markup=False)
