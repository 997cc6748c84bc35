"""A ServiceNow outage in real time (issue #15): `python -m bpsn.bench.chaos [--outage 90]`.

Both simulators and the core run as in `bpsn up` (a running clock; the core polls every second
on its own loop, pacing and backing off for real). Incidents arrive throughout, two a second,
each on its own host; after `before` seconds every ServiceNow API path answers 503 for
`outage` seconds; then the run waits until BigPanda's share queue is empty. It ends with the
count of lost and duplicate tickets and of shares in BigPanda's dead letters. The virtual-clock
versions (10 minutes, 2 hours) run in `make test` (tests/chaos/test_outages.py).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from bpsn.harness.servers import running

ARRIVALS_PER_S = 2.0


def run(before: float = 20.0, outage: float = 90.0, settle_limit: float = 180.0) -> dict[str, Any]:
    incidents: list[str] = []
    with running(virtual_clock=False, poll_interval=1.0) as stack:
        started = time.monotonic()
        down_at, up_at, n = before, before + outage, 0
        fault_on = fault_off = False
        while (now := time.monotonic() - started) < up_at:
            if not fault_on and now >= down_at:
                stack.faults.servicenow.add(path="/api/now", status=503)
                fault_on = True
            r = stack.send_alerts({"status": "critical", "host": f"chaos-{n}", "check": "disk"})
            if r.status_code == 201:
                incidents.append(str(r.json()["alerts"][0]["incident_id"]))
            n += 1
            time.sleep(max(0.0, started + n / ARRIVALS_PER_S - time.monotonic()))
        stack.faults.clear()
        fault_off = True
        org = stack.bigpanda_backend.orgs[stack.bigpanda_backend.settings.organization]
        deadline = time.monotonic() + settle_limit
        while (org.shares.pending() or org.shares.leased()) and time.monotonic() < deadline:
            time.sleep(0.5)
        settled_s = round(time.monotonic() - started - up_at, 1)
        counts = {i: len(stack.tickets(f"correlation_id={i}")) for i in incidents}
        dead = len(org.shares.dead_letters)
    lost = [i for i, c in counts.items() if c == 0]
    duplicates = [i for i, c in counts.items() if c > 1]
    return {"before_s": before, "outage_s": outage, "fault_on": fault_on and fault_off,
            "incidents": len(incidents), "lost": len(lost), "duplicates": len(duplicates),
            "dead_letters": dead, "settled_after_recovery_s": settled_s,
            "ok": not lost and not duplicates and dead == 0}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bpsn.bench.chaos", description=__doc__)
    parser.add_argument("--outage", type=float, default=90.0, help="seconds of ServiceNow 503s")
    parser.add_argument("--before", type=float, default=20.0, help="seconds of normal traffic first")
    parser.add_argument("--out", type=Path, default=Path("results/bench"), help="where chaos.json goes")
    args = parser.parse_args(argv)
    result = run(args.before, args.outage)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "chaos.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    raise SystemExit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
