"""`python -m bpsn.bench.versus TREE`: this source tree against another one, in one run.

TREE is another commit of bpsn unpacked (`git archive COMMIT | tar -x -C TREE`). Three servers
run side by side, each in its own process on the same server stack: the bare FastAPI app, the
simulator from TREE ("before") and the simulator from here ("after"). The cases are measured
in interleaved rounds, so a noisy moment of the machine hits all of them; each figure is the
median of the rounds. Server CPU per request (from /proc) is the robust figure: the client
shares the machine and bounds throughput.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .bigpanda import BATCH, HEADERS
from .common import Rate, Request, rate_summary, ratio, request_rate
from .data import alert_batch, sys_id
from .serve import Kind, Served, server
from .servicenow import AUTH, TABLE, new_incident

FILL = 1_000


def _cases(alert_bodies: list[bytes]) -> dict[str, tuple[Kind, Callable[[int], Request]]]:
    return {
        "get": ("servicenow", lambda i: ("GET", f"{TABLE}/{sys_id(i % FILL)}", {"headers": AUTH})),
        "post": ("servicenow", lambda i: ("POST", TABLE, {"json": new_incident(i), "headers": AUTH})),
        "alerts": ("bigpanda", lambda i: ("POST", "/data/v2/alerts", {"content": alert_bodies[i], "headers": HEADERS})),
    }


BARE: dict[str, Callable[[int], Request]] = {
    "get": lambda i: ("GET", f"/bare/item/{sys_id(i % FILL)}", {}),
    "post": lambda i: ("POST", "/bare/item", {"json": new_incident(i)}),
}


def compare(tree: str, requests: int, batches: int, repeats: int, concurrency: int = 12) -> dict[str, Any]:
    per_round = max(requests, batches) * 2  # requests sent per case and round, warm-up included
    bodies = [json.dumps(alert_batch(i, BATCH)).encode() for i in range(repeats * per_round)]
    cases = _cases(bodies)
    bare_alerts = cases["alerts"][1]
    samples: dict[str, list[Rate]] = {}
    with server("bare") as bare, server("servicenow", FILL, tree=tree) as sn_before, \
            server("servicenow", FILL) as sn_after, server("bigpanda", tree=tree) as bp_before, \
            server("bigpanda") as bp_after:
        servers: dict[str, dict[str, Served]] = {
            "servicenow": {"before": sn_before, "after": sn_after}, "bigpanda": {"before": bp_before, "after": bp_after}}
        for rep in range(repeats):
            for case, (kind, make) in cases.items():
                n = batches if case == "alerts" else requests
                runs: list[tuple[str, Served, Callable[[int], Request]]] = [
                    ("bare", bare, BARE.get(case, bare_alerts)),
                    ("before", servers[kind]["before"], make), ("after", servers[kind]["after"], make)]
                for who, srv, fn in runs:
                    samples.setdefault(f"{case}_{who}", []).append(
                        request_rate(srv.url, fn, n, concurrency, rep * per_round, srv.pid))
    out: dict[str, Any] = {name: rate_summary(s) for name, s in samples.items()}
    for case in cases:
        per = BATCH if case == "alerts" else 1
        bare_cpu = out[f"{case}_bare"]["server_cpu_ms"]
        for who in ("before", "after"):
            row = out[f"{case}_{who}"]
            row["cpu_us_per_item"] = round(row["server_cpu_ms"] * 1e3 / per, 2) if row["server_cpu_ms"] else None
            row["cpu_ratio_to_bare"] = ratio(row["server_cpu_ms"], bare_cpu) if row["server_cpu_ms"] and bare_cpu else None
        before, after = out[f"{case}_before"], out[f"{case}_after"]
        out[f"{case}_after"]["throughput_over_before"] = ratio(after["per_s"], before["per_s"])
        out[f"{case}_after"]["cpu_over_before"] = (ratio(after["server_cpu_ms"], before["server_cpu_ms"])
                                                   if after["server_cpu_ms"] and before["server_cpu_ms"] else None)
    out.update(tree=tree, requests=requests, batches=batches, repeats=repeats, concurrency=concurrency)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bpsn.bench.versus", description=__doc__.split("\n\n")[0])
    parser.add_argument("tree", help="the other source tree (git archive COMMIT | tar -x -C TREE)")
    parser.add_argument("--requests", type=int, default=2_000, help="ServiceNow requests per case and round")
    parser.add_argument("--batches", type=int, default=120, help=f"BigPanda batches of {BATCH} per round")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds; figures are medians")
    args = parser.parse_args(argv)
    if not (Path(args.tree) / "bpsn" / "bench" / "serve.py").is_file():
        raise SystemExit(f"{args.tree}: not a bpsn source tree (no bpsn/bench/serve.py)")
    out = compare(args.tree, args.requests, args.batches, args.repeats)
    for case in ("get", "post", "alerts"):
        bare = out[f"{case}_bare"]
        print(f"{case:7s} bare {bare['per_s']:8.1f}/s  " + "  ".join(
            f"{who} {out[f'{case}_{who}']['per_s']:8.1f}/s CPU {out[f'{case}_{who}']['cpu_ratio_to_bare']}x bare"
            for who in ("before", "after")) + f"  after/before: CPU {out[f'{case}_after']['cpu_over_before']}, "
            f"throughput {out[f'{case}_after']['throughput_over_before']}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
