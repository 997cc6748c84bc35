"""A load run's summary as people read it: summary.md, the console lines, and single figures
(`figure`) for the chart. A figure that was not measured says why (summary.not_measured)."""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

from .samples import NEW_TICKETS
from .summary import NOT_MEASURED


def _ms(x: float | None) -> str:
    return "–" if x is None else f"{x:,.0f} ms"


def _num(x: float | None, unit: str = "") -> str:
    if x is None:
        return "–"
    text = f"{x:,.2f}".rstrip("0").rstrip(".") if isinstance(x, float) else f"{x:,}"
    return text + unit


def _pct(x: float) -> str:
    return f"{x * 100:.1f} %"


def figure(s: dict[str, Any], key: str, show: Callable[[Any], str] = _num) -> str:
    """A figure of the summary by dotted key, shown; or "not measured: <why>"."""
    section, name = key.split(".")
    value = (s.get(section) or {}).get(name)
    if value is None:
        return f"{NOT_MEASURED}: {(s.get('not_measured') or {}).get(key, 'no data')}"
    return show(value)


def _per_s(row: dict[str, Any]) -> str:
    return _num(row["per_s"]) if row.get("per_s") is not None else row.get("per_s_not_measured") or "–"


def _exit_code(code: int | None) -> str:
    if code is None:
        return "not read (Locust did not exit on its own)"
    if code < 0:  # subprocess's way of saying "killed by a signal"
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return str(code)


def _sustained(s: dict[str, Any]) -> list[str]:
    """The steady-window lines: one reason instead of a row of blanks when there was no such window."""
    c = s["ceiling"]
    if c.get("steady_window_s") is None:
        return [f"- sustained share rate after the ramp-up: {figure(s, 'ceiling.steady_window_s')}"]
    return [f"- sustained after the ramp-up until Locust stopped ({_num(c['steady_window_s'], ' s')}): "
            f"**{figure(s, 'ceiling.sustained_shares_per_s', lambda v: _num(v, ' shares/s'))}**, "
            f"{figure(s, 'ceiling.sustained_fraction', _pct)} of the ceiling",
            f"- the profile's ceiling: the core's incident actions and tag calls took "
            f"{figure(s, 'ceiling.other_calls_per_s', lambda v: _num(v, ' requests/s'))} of the "
            f"{c['bigpanda_rps']:g} requests/s in that window, which leaves "
            f"**{figure(s, 'ceiling.profile_shares_per_s', lambda v: _num(v, ' shares/s'))}**; sustained: "
            f"{figure(s, 'ceiling.sustained_fraction_of_profile', _pct)} of it"]


def console_lines(s: dict[str, Any]) -> list[str]:
    """The run's headline figures for the terminal, with the same reasons as summary.md."""
    exact, c, i, core = s.get("samples") or {}, s["ceiling"], s["integrity"], s["core"]
    out = []
    for name, m in s["latency"].items():
        e = exact.get(name) or m
        out.append(f"{name}: n={m['count']} failed={m['failures']} p50={_ms(e.get('p50_ms'))} "
                   f"p95={_ms(e.get('p95_ms'))} p99={_ms(e.get('p99_ms'))} max={_ms(e.get('max_ms'))}")
    steady = (f"sustained {figure(s, 'ceiling.sustained_shares_per_s', lambda v: _num(v, ' shares/s'))} = "
              f"{figure(s, 'ceiling.sustained_fraction', _pct)} of the {c['shares_per_s']:g} shares/s ceiling; "
              f"{figure(s, 'ceiling.sustained_fraction_of_profile', _pct)} of the profile's "
              f"{figure(s, 'ceiling.profile_shares_per_s', lambda v: _num(v, ' shares/s'))} (its tag calls and "
              f"incident actions: {figure(s, 'ceiling.other_calls_per_s', lambda v: _num(v, '/s'))})"
              if c.get("steady_window_s") is not None else f"sustained: {figure(s, 'ceiling.steady_window_s')}")
    return out + [
        f"(poll {s['poll_interval_s']:g} s; alert_to_ticket p95 − poll: "
        f"{figure(s, 'latency_vs_poll.p95_minus_poll_ms', _ms)})",
        f"throughput: {figure(s, 'throughput.alerts_per_s', lambda v: _num(v, ' alerts/s'))}, "
        f"{figure(s, 'throughput.shares_per_s', lambda v: _num(v, ' shares/s'))}; {steady}",
        f"failures {s['failures']['total']}, BigPanda 429s {s['rate_limited']['bigpanda_429']}, ServiceNow "
        f"requests per incident {figure(s, 'servicenow.requests_per_incident')}, core "
        f"{_num(core.get('cpu_seconds'), ' CPU s')}, peak RSS {_num(core.get('peak_rss_mb'), ' MB')}",
        f"integrity: {i['bigpanda_incidents']} incidents, {i['servicenow_tickets']} tickets, "
        f"lost {i['lost']}, duplicates {i['duplicates']}"]


def render_markdown(s: dict[str, Any]) -> str:
    p, t, c, i, lp = s["profile"], s["throughput"], s["ceiling"], s["integrity"], s["latency_vs_poll"]
    verdict = "**OK**" if s["ok"] else "**NOT OK**"
    lines = [
        f"# bpsn load: {p['name']} ({verdict})", "",
        f"{p.get('description', '')}", "",
        f"Started {s['started']}; {p['users']} users (spawn {p['spawn_rate']:g}/s) for {p['duration']:g} s, "
        f"{'%d Locust workers' % s['workers'] if s['workers'] else 'one Locust process'}; the core polls every "
        f"{s['poll_interval_s']:g} s and retrieves up to {c['retrieval_count']} shares. "
        f"Wall time {_num(s['wall_time_s'], ' s')}.",
        "", "## Latency", "",
        "| metric | samples | failures | p50 | p95 | p99 | max |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, m in s["latency"].items():
        lines.append(f"| {name} | {m['count']} | {m['failures']} | {_ms(m['p50_ms'])} | {_ms(m['p95_ms'])} | "
                     f"{_ms(m['p99_ms'])} | {_ms(m['max_ms'])} |")
    if s.get("samples"):
        lines += ["", "Exact, from the users' sample files (Locust's histogram above rounds to 10 ms above 100 ms "
                  "and to 100 ms above 1 s; percentiles of the successful samples):", "",
                  "| metric | samples | failures | p50 | p95 | p99 | max |", "|---|---:|---:|---:|---:|---:|---:|"]
        for name, m in s["samples"].items():
            lines.append(f"| {name} | {m['count']} | {m['failures']} | {_ms(m['p50_ms'])} | {_ms(m['p95_ms'])} | "
                         f"{_ms(m['p99_ms'])} | {_ms(m['max_ms'])} |")
        missing = {n: m["count"] - s["latency"].get(n, {}).get("count", 0) for n, m in s["samples"].items()
                   if n != NEW_TICKETS and m["count"] > s["latency"].get(n, {}).get("count", 0)}
        if missing:
            lines += ["", f"Locust's rows miss {missing}: samples that workers recorded while finishing their last "
                      "task after the time limit (the master quits without waiting for them); the files keep them."]
    lines += ["", f"alert_to_ticket p95 {_ms(lp['alert_to_ticket_p95_ms'])} against a poll interval of "
                  f"{_ms(lp['poll_interval_ms'])}: p95 − poll interval: "
                  f"**{figure(s, 'latency_vs_poll.p95_minus_poll_ms', _ms)}** "
                  "(a new incident waits up to one interval for the next poll; the rest is the work).",
              "", "## Throughput and the ceiling", "",
              f"- alerts: {t['alerts']} in {_num(t['load_window_s'], ' s')}: "
              f"**{figure(s, 'throughput.alerts_per_s', lambda v: _num(v, ' alerts/s'))}**; tickets confirmed by "
              f"users: {figure(s, 'throughput.tickets_per_s', lambda v: _num(v, '/s'))}",
              f"- shares acknowledged by the core: {t['shares_acknowledged']} in {_num(t['share_window_s'], ' s')}: "
              f"**{figure(s, 'throughput.shares_per_s', lambda v: _num(v, ' shares/s'))}**",
              f"- ceiling: `{c['formula']}` (BigPanda's {c['bigpanda_rps']:g} requests/s per organisation; each "
              f"poll costs {c['calls_per_batch']} calls for a batch of up to {c['retrieval_count']} shares)",
              f"- achieved: **{figure(s, 'ceiling.achieved_fraction', _pct)}** of the ceiling; average batch: "
              f"{figure(s, 'ceiling.avg_batch', lambda v: _num(v, ' shares'))}; the ceiling at this batch size: "
              f"{figure(s, 'ceiling.ceiling_at_avg_batch', lambda v: _num(v, ' shares/s'))}",
              *_sustained(s),
              f"- the core's BigPanda calls: {c['core_bigpanda_calls'] or 'none'} "
              f"({figure(s, 'ceiling.core_bigpanda_rps', lambda v: _num(v, ' requests/s'))})",
              "", "## Requests", "",
              "| type | name | count | failures | p50 | p95 | p99 | per s |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in s["requests"]:
        lines.append(f"| {r['type']} | {r['name']} | {r['count']} | {r['failures']} | {_ms(r['p50_ms'])} | "
                     f"{_ms(r['p95_ms'])} | {_ms(r['p99_ms'])} | {_per_s(r)} |")
    rl, core = s["rate_limited"], s["core"]
    lines += ["", "## Cost", "",
              f"- failures: {s['failures']['total']} {s['failures']['by_row'] or ''}",
              f"- 429 from BigPanda: {rl['bigpanda_429']} {rl['bigpanda_429_by_route'] or ''}; "
              f"from ServiceNow: {rl['servicenow_429']}",
              f"- ServiceNow requests: {s['servicenow']['requests']}, of them the users' own "
              f"{s['servicenow']['requests_by_users']}; the core's per BigPanda incident: "
              f"**{figure(s, 'servicenow.requests_per_incident')}**",
              f"- core process: {_num(core.get('cpu_seconds'), ' CPU s')}, peak RSS "
              f"{_num(core.get('peak_rss_mb'), ' MB')} {('— ' + core['totals']) if core.get('totals') else ''}",
              *(f"- {name}: {_num(u.get('cpu_seconds'), ' CPU s')} ({_num(u.get('cpu_share'))} of a core over the "
                f"run), peak RSS {_num(u.get('peak_rss_mb'), ' MB')}" for name, u in s.get("processes", {}).items()),
              "", "## Integrity", "",
              f"- BigPanda incidents: {i['bigpanda_incidents']}; ServiceNow tickets: {i['servicenow_tickets']}",
              f"- lost: **{i['lost']}**, duplicates: **{i['duplicates']}**, tickets without an incident: {i['strays']}, "
              f"incidents users saw that BigPanda does not list: {i['seen_not_listed']}; "
              f"incidents never shared: {i['unshared_incidents']}",
              f"- share queue drained: {s['bigpanda']['drained']}; dead letters: {s['bigpanda']['dead_letters']}; "
              f"Locust exit code: {_exit_code(s['locust_exit_code'])}"]
    if i["lost_ids"] or i["duplicate_ids"]:
        lines.append(f"- lost ids: {i['lost_ids']}; duplicate ids: {i['duplicate_ids']}")
    lines += ["", "Files: `summary.json`, `latency.html` (charts), `locust.html`, `locust.json`, `locust_*.csv`, "
              "`samples/`, `logs/`.", ""]
    return "\n".join(lines)
