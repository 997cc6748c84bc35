"""`bpsn load`: simulators, core and Locust as separate processes; reports and a verdict at the end.

Order: both simulators, the core and any Locust workers start together; once the simulators
answer /_sim/health and the core has polled, the Locust master runs the profile headless. Then
the share queue drains, the core's CPU and peak RSS are read and the core stops, both simulators
are read (journals, BigPanda's incidents, ServiceNow's tickets), and everything else stops.
Everything stops on error and on Ctrl-C too (Locust first, so it still writes its reports).
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from bpsn.load import chart
from bpsn.simulator.bigpanda.settings import BigPandaSettings

from .collect import Simulators, live_stats
from .processes import Child, Group, StartError, cli, free_port, healthy, locust, wait_until
from .profiles import LOCUSTFILE, Profile
from .report import console_lines, render_markdown
from .samples import Sample, read_samples, sample_stats
from .seed import ANALYST_KEY, TAG, TAG_FIELD, bigpanda_fixture, core_tag_mappings
from .summary import RunFacts, build_summary

START_TIMEOUT = 60.0
DRAIN_MAX_S = 600.0
STEM = "locust"  # locust_stats.csv, locust.json, locust.html
SETTLE_S = 5.0  # seconds after the last user started before the steady window opens


@dataclass
class LoadRun:
    profile: Profile
    out: Path
    locustfile: Path = LOCUSTFILE
    host: str = "127.0.0.1"
    console: Console = field(default_factory=Console)
    group: Group = field(default_factory=Group)


def default_out(profile: str) -> Path:
    return Path("results") / "load" / f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{profile}"


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_load(run: LoadRun) -> int:
    """0: every check passed; 1: the run finished but a check failed; 2: it could not run; 130: interrupted."""
    run.out = run.out.resolve()  # the children run in the project root
    run.out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(run.out / "samples", ignore_errors=True)  # a folder run again must not count the last run's alerts
    with sigterm_as_interrupt():
        try:
            summary = _run(run)
        except KeyboardInterrupt:
            run.console.print(f"[yellow]interrupted[/]: stopping everything; Locust's reports, if any, "
                              f"and the logs are in {run.out}")
            return 130
        except (StartError, httpx.HTTPError, OSError, ValueError) as exc:
            run.console.print(f"[red]load run failed[/]: {exc}")
            return 2
        finally:
            codes = run.group.stop_all()
            stuck = [n for n, c in codes.items() if c is None]
            if stuck:
                run.console.print(f"[yellow]not stopped cleanly[/]: {', '.join(stuck)}")
    _show(run, summary)
    return 0 if summary["ok"] else 1


def _start(run: LoadRun, bp_port: int, sn_port: int, master_port: int) -> tuple[Child, Simulators]:
    p, logs = run.profile, run.out / "logs"
    bp_url, sn_url = f"http://{run.host}:{bp_port}", f"http://{run.host}:{sn_port}"
    g = run.group
    fixture = run.out / "bigpanda-fixtures.json"  # the demo organisation plus the analyst's key and the tag
    fixture.write_text(json.dumps(bigpanda_fixture(BigPandaSettings()), indent=2) + "\n")
    # the alert source may post faster than BigPanda's 5/s; the core's own calls keep the documented limit
    bp = g.start(Child("bigpanda", cli("sim", "bigpanda", "--host", run.host, "--port", str(bp_port),
                                       "--fixtures", str(fixture)), logs, {"BPSN_BP_ALERTS_PER_SECOND": "1000000"}))
    sn = g.start(Child("servicenow", cli("sim", "servicenow", "--host", run.host, "--port", str(sn_port)), logs))
    core = g.start(Child("core", cli("core"), logs, {
        "BPSN_BIGPANDA_URL": bp_url, "BPSN_SERVICENOW_URL": sn_url,
        "BPSN_POLL_INTERVAL": str(p.poll_interval), "BPSN_RETRIEVAL_COUNT": str(p.retrieval_count),
        "BPSN_BIGPANDA_REQUESTS_PER_SECOND": str(p.core_bigpanda_rps), "BPSN_TAG_MAPPINGS": core_tag_mappings()}))
    for i in range(p.workers):  # workers start now (imports take a while) and wait for the master
        g.start(Child(f"locust-worker-{i + 1}", locust("-f", str(run.locustfile), "--worker", "--master-host",
                                                      run.host, "--master-port", str(master_port)),
                      logs, _locust_env(run, sn_url)))
    sims = Simulators(bp_url, sn_url)
    wait_until(lambda: healthy(bp_url) and healthy(sn_url), [bp, sn], START_TIMEOUT, "simulators healthy")
    wait_until(sims.core_polled, [core], START_TIMEOUT, "the core's first poll")
    return core, sims


def _locust_env(run: LoadRun, sn_url: str) -> dict[str, str]:
    p = run.profile
    return {"BPSN_LOAD_SERVICENOW_URL": sn_url, "BPSN_LOAD_TICKET_TIMEOUT": str(p.ticket_timeout),
            "BPSN_LOAD_SEED": str(p.seed), "BPSN_LOAD_WAIT": f"{p.wait[0]},{p.wait[1]}",
            "BPSN_LOAD_TASK_RATE": str(p.task_rate), "BPSN_LOAD_LIFECYCLE_PAUSE": str(p.poll_interval),
            "BPSN_LOAD_SAMPLES_DIR": str(run.out / "samples"), "BPSN_LOAD_TAG_TIMEOUT": str(p.tag_timeout),
            "BPSN_LOAD_ANALYST_KEY": ANALYST_KEY, "BPSN_LOAD_TAG": TAG, "BPSN_LOAD_TAG_FIELD": TAG_FIELD,
            **p.mix.env()}


def _master(run: LoadRun, bp_url: str, sn_url: str, master_port: int) -> Child:
    p, out = run.profile, run.out
    args = ["-f", str(run.locustfile), "--headless", "-u", str(p.users), "-r", f"{p.spawn_rate:g}",
            "-t", f"{p.duration:g}s", "--stop-timeout", f"{p.stop_timeout:g}", "-H", bp_url,
            "--csv", str(out / STEM), "--csv-full-history", "--json-file", str(out / STEM),  # Locust adds .json
            "--html", str(out / f"{STEM}.html"), "--only-summary", "--exit-code-on-error", "1"]
    if p.workers:
        args += ["--master", "--master-bind-host", run.host, "--master-bind-port", str(master_port),
                 "--expect-workers", str(p.workers), "--expect-workers-max-wait", f"{START_TIMEOUT:g}"]
    return run.group.start(Child("locust-master" if p.workers else "locust", locust(*args), run.out / "logs",
                                 _locust_env(run, sn_url)))


def _run(run: LoadRun) -> dict[str, Any]:
    p, console = run.profile, run.console
    started, t_start = datetime.now(UTC).isoformat(timespec="seconds"), time.monotonic()
    bp_port, sn_port, master_port = free_port(run.host), free_port(run.host), free_port(run.host)
    with Progress(SpinnerColumn(), TextColumn("{task.description:<10}"), BarColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[info]}"), console=console, transient=False) as progress:
        task = progress.add_task("starting", total=None, info=f"{p.name}: simulators, core"
                                 + (f", {p.workers} Locust workers" if p.workers else ""))
        core, sims = _start(run, bp_port, sn_port, master_port)
        try:
            acked_before = sims.queue().acknowledged
            master = _master(run, sims.bigpanda_url, sims.servicenow_url, master_port)
            load_started = time.time()
            acked: list[tuple[float, int]] = [(load_started, 0)]
            usage: dict[str, dict[str, float]] = {}
            progress.update(task, description="load", total=p.duration, completed=0)
            deadline = time.monotonic() + p.duration + p.stop_timeout + START_TIMEOUT + 30
            while master.alive():
                if time.monotonic() > deadline:
                    raise StartError(f"Locust still running well past {p.duration:g} s:\n{master.tail()}")
                time.sleep(0.5)
                sims.track_core_calls()
                q, s = sims.queue(), live_stats(run.out / f"{STEM}_stats.csv")
                acked.append((time.time(), q.acknowledged - acked_before))
                _read_usage(run.group, usage)  # Locust's last reading is from just before it exits
                progress.update(task, completed=min(p.duration, time.time() - load_started), info=(
                    f"alerts {s['alerts']}  tickets {s['tickets']} (p95 {s['p95'] or '–'} ms)  failures "
                    f"{s['failures']}  queue {q.pending}+{q.leased}  acked {q.acknowledged - acked_before}"))
            locust_code = master.proc.returncode if master.proc else None
            _await_workers(run.group, p.stop_timeout + 5)
            load_ended = time.time()
            acked.append((load_ended, sims.queue().acknowledged - acked_before))
            progress.update(task, description="draining", total=None, info="waiting for the share queue")
            q, drained = _drain(sims, p.poll_interval, progress, task)
            drained_at = time.time()
            _read_usage(run.group, usage)  # before they stop: /proc is gone afterwards
            progress.update(task, description="checking", info="core stopped; reading both simulators")
            core.stop()
            bp_requests, bp_429, bp_429_routes = sims.bigpanda_journal()
            sn_requests, sn_429 = sims.servicenow_journal()
            bp_ids, unshared = sims.bigpanda_incidents()
            tickets = sims.ticket_correlation_ids()
        finally:
            sims.close()
        progress.update(task, description="done", total=1, completed=1, info=str(run.out))
    if not (run.out / f"{STEM}.json").is_file():
        raise StartError(f"Locust wrote no {STEM}.json (exit code {locust_code}):\n{master.tail()}")
    stats = json.loads((run.out / f"{STEM}.json").read_text())
    first_request = min((e["start_time"] for e in stats if e.get("start_time")), default=load_started)
    share_window = drained_at - max(load_started, first_request)  # first request until the queue was empty
    samples, seen = read_samples(run.out / "samples")
    steady_from = max(load_started, first_request) + p.users / p.spawn_rate + SETTLE_S
    steady_to = min(load_ended, max(load_started, first_request) + p.duration)
    facts = RunFacts(
        profile=p.as_dict(), workers=p.workers, poll_interval=p.poll_interval, retrieval_count=p.retrieval_count,
        locust_stats=stats, locust_exit_code=locust_code, bigpanda_ids=bp_ids, ticket_correlation_ids=tickets,
        seen_ids=seen, shares_acknowledged=q.acknowledged - acked_before, dead_letters=q.dead_letters,
        drained=drained, share_window_s=share_window, core_bigpanda_calls=dict(sims.core_calls),
        bigpanda_429=bp_429, bigpanda_429_by_route=bp_429_routes, bigpanda_requests=bp_requests,
        servicenow_requests=sn_requests, servicenow_429=sn_429, core_usage=usage.get("core", {}),
        unshared_incidents=unshared, core_totals=_core_totals(core), started=started,
        wall_time_s=time.monotonic() - t_start, sample_stats=sample_stats(samples), acked_series=acked,
        other_calls_series=sims.other_calls,
        steady_window=(steady_from, steady_to), process_usage=usage)
    summary = build_summary(facts)
    _write(run, summary, stats, samples)
    return summary


def _drain(sims: Simulators, poll_interval: float, progress: Progress, task: Any) -> tuple[Any, bool]:
    """Wait for an empty share queue while the core makes progress; (last state, drained)."""
    patience = 3 * poll_interval + 10  # seconds without progress before giving up
    q = sims.queue()
    last, last_change, hard_stop = q.acknowledged, time.monotonic(), time.monotonic() + DRAIN_MAX_S
    while not q.empty:
        if time.monotonic() - last_change > patience or time.monotonic() > hard_stop:
            return q, False
        time.sleep(min(0.25, poll_interval / 2))
        sims.track_core_calls()
        q = sims.queue()
        if q.acknowledged != last:
            last, last_change = q.acknowledged, time.monotonic()
        progress.update(task, info=f"queue {q.pending} pending + {q.leased} leased; acked {q.acknowledged}")
    sims.track_core_calls()
    return q, True


def _core_totals(core: Child) -> str:
    found = re.findall(r"stopped: .*", core.tail())
    return found[-1].strip() if found else ""


def _await_workers(group: Group, timeout: float) -> None:
    """Workers finish their users' last tasks after the master has quit (up to the stop timeout):
    the simulators must still answer them, and their sample files must be complete."""
    deadline = time.monotonic() + timeout
    workers = [c for c in group.children if c.name.startswith("locust-worker")]
    while any(w.alive() for w in workers) and time.monotonic() < deadline:
        time.sleep(0.2)


def _read_usage(group: Group, into: dict[str, dict[str, float]]) -> None:
    """The latest CPU seconds and peak RSS of every child still running."""
    for child in group.children:
        if child.alive():
            reading = child.usage()
            if reading:
                into[child.name] = reading


def _write(run: LoadRun, summary: dict[str, Any], stats: list[dict[str, Any]], samples: list[Sample]) -> None:
    hists = {e["name"]: e.get("response_times") or {} for e in stats if e.get("method") == "E2E"}
    history = chart.read_history(run.out / f"{STEM}_stats_history.csv")
    summary["files"] = sorted(str(f.relative_to(run.out)) for f in run.out.iterdir() if f.is_file()) + [
        "summary.json", "summary.md", "latency.html"]
    summary["files"] = sorted(set(summary["files"]))
    (run.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (run.out / "summary.md").write_text(render_markdown(summary))
    (run.out / "latency.html").write_text(chart.render(summary, hists, samples, history))


def _show(run: LoadRun, s: dict[str, Any]) -> None:
    for line in console_lines(s):  # a figure that was not measured says why (summary.figure)
        run.console.print(line, markup=False)
    verdict = "[bold green]OK[/]" if s["ok"] else "[bold red]NOT OK[/]"
    run.console.print(f"{verdict}: {run.out}/summary.md, latency.html, locust.html")
