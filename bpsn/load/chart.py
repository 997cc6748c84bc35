"""`latency.html`: one self-contained page of inline SVG (no scripts, no network) for a load run.

Three charts: the alert-to-ticket distribution (Locust's histogram, with the poll interval and
p50/p95/p99 marked), latency over time (every sample a dot, per-slice p50 and p95 lines), and
tickets per second. Hovering a bar or a dot shows its numbers (SVG <title>).
"""

from __future__ import annotations

import csv
import html
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .report import figure
from .samples import ALERT_TO_TICKET, NEW_TICKETS, Sample

W, H = 900, 300
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 20, 45
COLORS = {"p50": "#2b8a3e", "p95": "#e67700", "p99": "#c92a2a", "poll": "#5f3dc4", "bar": "#4c6ef5",
          "dot": "#4c6ef5", "fail": "#e03131"}
MAX_DOTS = 4000
METRIC_COLORS = ["#1098ad", "#ae3ec9", "#f08c00", "#37b24d"]


def read_history(path: Path, name: str = "alert_to_ticket") -> list[tuple[float, float, float]]:
    """(seconds, p50, p95) per row of Locust's full-history CSV for `name` (rolling-window percentiles)."""
    out: list[tuple[float, float, float]] = []
    try:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                if row.get("Name") == name and row.get("50%") not in (None, "", "N/A"):
                    out.append((float(row["Timestamp"]), float(row["50%"]), float(row["95%"])))
    except (OSError, ValueError, KeyError):
        return []
    return [(t - out[0][0], a, b) for t, a, b in out] if out else []


def nice_ticks(lo: float, hi: float, n: int = 6) -> list[float]:
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / n
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if step * m >= raw)
    first = math.ceil(lo / step) * step
    return [round(first + i * step, 10) for i in range(math.ceil((hi - first) / step - 1e-9) + 1)]  # last >= hi


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 10 or v == int(v) else f"{v:g}"


class Frame:
    """Maps data to pixels and draws axes; elements are appended as SVG strings."""

    def __init__(self, x_max: float, y_max: float, x_label: str, y_label: str) -> None:
        self.xt, self.yt = nice_ticks(0, x_max), nice_ticks(0, y_max, 5)
        self.x_max, self.y_max = max(self.xt[-1], x_max), max(self.yt[-1], y_max)
        self.parts: list[str] = []
        self.x_label, self.y_label = x_label, y_label
        self.labels = 0  # vertical-line labels so far, stacked so they do not overlap

    def x(self, v: float) -> float:
        return LEFT + (W - LEFT - RIGHT) * min(v, self.x_max) / self.x_max

    def y(self, v: float) -> float:
        return H - BOTTOM - (H - TOP - BOTTOM) * min(v, self.y_max) / self.y_max

    def vline(self, v: float, color: str, label: str, dashed: bool = False) -> None:
        x, ty = self.x(v), TOP + 12 + 15 * self.labels
        self.labels += 1
        dash = ' stroke-dasharray="6 4"' if dashed else ""
        right = x > W * 0.6  # labels near the right edge go to the left of their line
        self.parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{H - BOTTOM}" stroke="{color}" '
                          f'stroke-width="2"{dash}><title>{html.escape(label)}</title></line>'
                          f'<text x="{x - 4 if right else x + 4:.1f}" y="{ty}" fill="{color}" font-size="12" '
                          f'text-anchor="{"end" if right else "start"}" paint-order="stroke" stroke="white" '
                          f'stroke-width="3">{html.escape(label)}</text>')

    def hline(self, v: float, color: str, label: str) -> None:
        y = self.y(v)
        self.parts.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="{color}" '
                          f'stroke-width="1.5" stroke-dasharray="6 4"/><text x="{W - RIGHT - 4}" y="{y - 4:.1f}" '
                          f'fill="{color}" font-size="12" text-anchor="end">{html.escape(label)}</text>')

    def polyline(self, points: Iterable[tuple[float, float]], color: str, label: str) -> None:
        pts = " ".join(f"{self.x(a):.1f},{self.y(b):.1f}" for a, b in points)
        if pts:
            self.parts.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2">'
                              f'<title>{html.escape(label)}</title></polyline>')

    def svg(self, legend: Mapping[str, str] | None = None) -> str:
        axes = [f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{H - BOTTOM}" y2="{H - BOTTOM}" stroke="#333"/>',
                f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{H - BOTTOM}" stroke="#333"/>']
        for v in self.xt:
            axes.append(f'<text x="{self.x(v):.1f}" y="{H - BOTTOM + 16}" font-size="11" '
                        f'text-anchor="middle">{_fmt(v)}</text>')
        for v in self.yt:
            axes.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{self.y(v):.1f}" y2="{self.y(v):.1f}" '
                        f'stroke="#e9ecef"/><text x="{LEFT - 6}" y="{self.y(v) + 4:.1f}" font-size="11" '
                        f'text-anchor="end">{_fmt(v)}</text>')
        axes.append(f'<text x="{(LEFT + W - RIGHT) / 2}" y="{H - 8}" font-size="12" text-anchor="middle">'
                    f'{html.escape(self.x_label)}</text><text x="14" y="{(TOP + H - BOTTOM) / 2}" font-size="12" '
                    f'text-anchor="middle" transform="rotate(-90 14 {(TOP + H - BOTTOM) / 2})">'
                    f'{html.escape(self.y_label)}</text>')
        keys = "".join(f'<tspan fill="{c}" font-weight="bold">■ </tspan><tspan>{html.escape(k)}   </tspan>'
                       for k, c in (legend or {}).items())
        key_row = f'<text x="{LEFT}" y="{TOP - 6}" font-size="12">{keys}</text>' if keys else ""
        return (f'<svg viewBox="0 0 {W} {H}" width="100%" role="img" xmlns="http://www.w3.org/2000/svg" '
                f'font-family="system-ui, \'Segoe UI\', \'DejaVu Sans\', sans-serif">{"".join(axes)}{"".join(self.parts)}{key_row}</svg>')


def histogram_svg(hist: Mapping[Any, int], marks: Mapping[str, float], poll_ms: float, bins: int = 40,
                  label: str = "alert → ticket (ms)") -> str:
    values = sorted((float(k), n) for k, n in hist.items())
    if not values:
        return "<p>No samples.</p>"
    total = sum(n for _, n in values)
    cut, seen = values[-1][0], 0  # the x range ends at p99.9 so one straggler does not squash the rest
    for ms, n in values:
        seen += n
        if seen >= 0.999 * total:
            cut = ms
            break
    top = max(cut, poll_ms, *marks.values()) * 1.05 or 1.0
    width = top / bins
    counts = [0] * bins
    for ms, n in values:
        counts[min(bins - 1, int(ms / width))] += n
    frame = Frame(top, max(counts), label, "samples")
    for i, n in enumerate(counts):
        if n:
            x0, x1 = frame.x(i * width), frame.x((i + 1) * width)
            more = " or more" if i == bins - 1 else ""
            frame.parts.append(f'<rect x="{x0 + 0.5:.1f}" y="{frame.y(n):.1f}" width="{max(1, x1 - x0 - 1):.1f}" '
                               f'height="{frame.y(0) - frame.y(n):.1f}" fill="{COLORS["bar"]}" opacity="0.8"><title>'
                               f'{i * width:,.0f}–{(i + 1) * width:,.0f} ms{more}: {n} samples</title></rect>')
    frame.vline(poll_ms, COLORS["poll"], f"poll interval {poll_ms:,.0f} ms", dashed=True)
    for name, v in marks.items():
        frame.vline(v, COLORS.get(name, "#333"), f"{name} {v:,.0f} ms")
    return frame.svg()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def over_time_svgs(samples: list[Sample], history: list[tuple[float, float, float]], poll_ms: float) -> str:
    if samples:
        span = max(s.done for s in samples) or 1.0
        slice_s = max(1.0, span / 60)
        slices: dict[int, list[float]] = {}
        for s in samples:
            slices.setdefault(int(s.t / slice_s), []).append(s.ms)
        mid = sorted(((k + 0.5) * slice_s, v) for k, v in slices.items())
        p50 = [(t, _percentile(v, 0.5)) for t, v in mid]
        p95 = [(t, _percentile(v, 0.95)) for t, v in mid]
        done: dict[int, int] = {}
        for s in samples:
            done[int(s.done / slice_s)] = done.get(int(s.done / slice_s), 0) + 1
        top = max(max(s.ms for s in samples), poll_ms) * 1.05
        frame = Frame(span, top, "seconds since the first alert was sent (dot: when sent)", "alert → ticket (ms)")
        step = max(1, len(samples) // MAX_DOTS)
        for s in samples[::step]:
            color = COLORS["dot"] if s.ok else COLORS["fail"]
            frame.parts.append(f'<circle cx="{frame.x(s.t):.1f}" cy="{frame.y(s.ms):.1f}" r="2.5" fill="{color}" '
                               f'opacity="0.5"><title>{s.t:.1f} s: {s.ms:,.0f} ms{"" if s.ok else " (failed)"}'
                               f'</title></circle>')
        frame.polyline(p50, COLORS["p50"], f"p50 per {slice_s:g} s")
        frame.polyline(p95, COLORS["p95"], f"p95 per {slice_s:g} s")
        frame.hline(poll_ms, COLORS["poll"], f"poll interval {poll_ms:,.0f} ms")
        rate = Frame(span, max(done.values()) / slice_s, "seconds since the first alert was sent", "tickets/s")
        for k, n in sorted(done.items()):
            x0, x1, per_s = rate.x(k * slice_s), rate.x((k + 1) * slice_s), n / slice_s
            rate.parts.append(f'<rect x="{x0 + 0.5:.1f}" y="{rate.y(per_s):.1f}" width="{max(1, x1 - x0 - 1):.1f}" '
                              f'height="{rate.y(0) - rate.y(per_s):.1f}" fill="{COLORS["bar"]}" opacity="0.8">'
                              f'<title>{k * slice_s:.0f}–{(k + 1) * slice_s:.0f} s: {per_s:.1f} tickets/s</title></rect>')
        legend = {"sample": COLORS["dot"], "failed": COLORS["fail"], "p50": COLORS["p50"], "p95": COLORS["p95"]}
        return (f"<h2>alert_to_ticket over time</h2>{frame.svg(legend)}"
                f"<h2>Tickets confirmed per second</h2>{rate.svg()}")
    if history:  # no per-sample file: Locust's rolling percentiles
        frame = Frame(history[-1][0] or 1.0, max(max(b for _, _, b in history), poll_ms) * 1.05,
                      "seconds", "alert → ticket (ms)")
        frame.polyline([(t, a) for t, a, _ in history], COLORS["p50"], "p50")
        frame.polyline([(t, b) for t, _, b in history], COLORS["p95"], "p95")
        frame.hline(poll_ms, COLORS["poll"], f"poll interval {poll_ms:,.0f} ms")
        return f"<h2>Latency over time (Locust's rolling percentiles)</h2>{frame.svg({'p50': COLORS['p50'], 'p95': COLORS['p95']})}"
    return "<p>No samples over time.</p>"


def lifecycle_svg(samples: list[Sample], poll_ms: float) -> str:
    """Every sample of the other E2E metrics (tag sync, resolve) as a dot, one colour per metric."""
    if not samples:
        return ""
    metrics = sorted({s.metric for s in samples})
    colors = {m: METRIC_COLORS[i % len(METRIC_COLORS)] for i, m in enumerate(metrics)}
    frame = Frame(max(s.done for s in samples) or 1.0, max(max(s.ms for s in samples), poll_ms) * 1.05,
                  "seconds since the first sample started (dot: when started)", "latency (ms)")
    for s in samples:
        color = colors[s.metric] if s.ok else COLORS["fail"]
        frame.parts.append(f'<circle cx="{frame.x(s.t):.1f}" cy="{frame.y(s.ms):.1f}" r="3" fill="{color}" '
                           f'opacity="0.7"><title>{html.escape(s.metric)} at {s.t:.1f} s: {s.ms:,.0f} ms'
                           f'{"" if s.ok else " (failed)"}</title></circle>')
    frame.hline(poll_ms, COLORS["poll"], f"poll interval {poll_ms:,.0f} ms")
    return f"<h2>Tag sync and resolve over time</h2>{frame.svg({**colors, 'failed': COLORS['fail']})}"


def exact_histogram(samples: list[Sample], metric: str) -> dict[float, int]:
    """{ms: count} of the successful samples of `metric`, to the millisecond."""
    out: dict[float, int] = {}
    for s in samples:
        if s.metric == metric and s.ok:
            out[round(s.ms)] = out.get(round(s.ms), 0) + 1
    return out


def _marks(lat: Mapping[str, Any]) -> dict[str, float]:
    return {k: lat[f"{k}_ms"] for k in ("p50", "p95", "p99") if lat.get(f"{k}_ms") is not None}


def _of_profile(summary: dict[str, Any]) -> str:
    top = summary["ceiling"].get("profile_shares_per_s")
    if top is None or summary["ceiling"].get("sustained_fraction_of_profile") is None:  # the reason of the first
        key = "profile_shares_per_s" if top is None else "sustained_fraction_of_profile"
        return figure(summary, f"ceiling.{key}")
    return f"{summary['ceiling']['sustained_fraction_of_profile'] * 100:.1f} % of {top:g}/s"


def _cls(shown: str) -> str:
    return "v why" if shown.startswith("not measured") else "v"


def render(summary: dict[str, Any], hists: Mapping[str, Mapping[Any, int]], samples: list[Sample],
           history: list[tuple[float, float, float]]) -> str:
    """`hists`: Locust's histogram of each E2E row, by name."""
    latency = summary["latency"]
    exact = summary.get("samples") or {}
    lat = exact.get(ALERT_TO_TICKET) or latency.get(ALERT_TO_TICKET) or {}
    poll_ms = summary["poll_interval_s"] * 1000
    marks = _marks(lat)
    p, c = summary["profile"], summary["ceiling"]
    ms = "{:,.0f} ms".format
    # a figure that could not be measured shows why, never a stand-in 0 ("0.0 % of 0/s")
    facts = [("samples", f"{lat.get('count', 0)} ({lat.get('failures', 0)} failed)"),
             *((k, ms(v)) for k, v in marks.items()),
             ("poll interval", ms(poll_ms)),
             ("p95 − poll", figure(summary, "latency_vs_poll.p95_minus_poll_ms", ms)),
             *((f"{name} p95", "no samples" if (exact.get(name) or m).get("p95_ms") is None
                else ms((exact.get(name) or m)["p95_ms"])) for name, m in latency.items() if name != ALERT_TO_TICKET),
             ("alerts/s", figure(summary, "throughput.alerts_per_s", "{:g}".format)),
             ("shares/s", figure(summary, "throughput.shares_per_s", "{:g}".format)),
             ("sustained", figure(summary, "ceiling.sustained_fraction",
                                  lambda v: f"{v * 100:.1f} % of {c['shares_per_s']:g}/s")),
             ("of the profile's ceiling", _of_profile(summary)),
             ("lost / duplicates", f"{summary['integrity']['lost']} / {summary['integrity']['duplicates']}")]
    cards = "".join(f'<div class="card"><div class="k">{html.escape(k)}</div><div class="{_cls(v)}">'
                    f'{html.escape(v)}</div></div>' for k, v in facts)
    names = [*latency, *(n for n in exact if n not in latency and n != NEW_TICKETS)]
    histograms = "".join(
        f"<h2>Distribution: {html.escape(name)}</h2>"
        + histogram_svg(exact_histogram(samples, name) or hists.get(name) or {},
                        _marks(exact.get(name) or latency.get(name) or {}), poll_ms, label=f"{name} (ms)")
        for name in names)
    stream = [s for s in samples if s.metric == ALERT_TO_TICKET]
    others = [s for s in samples if s.metric != ALERT_TO_TICKET]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>bpsn load {html.escape(p['name'])}: end-to-end latency</title>
<style>body{{font-family:system-ui,sans-serif;max-width:960px;margin:24px auto;padding:0 12px;color:#212529}}
.cards{{display:flex;flex-wrap:wrap;gap:8px}}.card{{border:1px solid #dee2e6;border-radius:6px;padding:6px 10px}}
.k{{font-size:12px;color:#868e96}}.v{{font-size:18px;font-weight:600}}
.why{{font-size:12px;font-weight:400;max-width:220px}}h2{{font-size:16px;margin:24px 0 4px}}</style>
</head><body><h1>bpsn load {html.escape(p['name'])}: alert → ticket, tag sync, resolve</h1>
<p>{html.escape(p.get('description', ''))} {p['users']} users for {p['duration']:g} s; started {html.escape(summary['started'])}.
{'<b style="color:#2b8a3e">OK</b>' if summary['ok'] else '<b style="color:#c92a2a">NOT OK</b>'}</p>
<div class="cards">{cards}</div>
{histograms}
{over_time_svgs(stream, history, poll_ms)}
{lifecycle_svg(others, poll_ms)}
<p style="font-size:12px;color:#868e96">Histograms and p50/p95/p99 marks: the users' sample files, to the millisecond
(Locust's own buckets where there are no sample files). Over time: one dot per sample; lines are per-slice
percentiles. tag_sync_to_bigpanda includes the core's 5 s coalesce window.</p>
</body></html>
"""
