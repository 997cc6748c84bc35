"""A fault storm on both sides, with the simulators and the core as separate processes:
`python -m bpsn.bench.chaos_storm [--phase 25 --cycles 2 --rate 10]`.

Alerts arrive at `rate` a second, each on its own host (a new incident). The storm runs in
phases: in each, every route the core uses (ServiceNow reads, ServiceNow writes, BigPanda share
retrievals, BigPanda callbacks) has one fault kind at probability `probability`, and the kinds
rotate from phase to phase, so after four phases every route has had every kind: an error
status (503), a rate limit (429), a lost answer (the request is served, then the connection
drops: the write happened, the client never hears of it), and latency. The long version adds a
fifth kind, latency past the core's HTTP timeout (the client gives up, the server still writes).
Then the faults are cleared, the core drains BigPanda's queue, and the run ends with the count
of lost and duplicate tickets, tickets without an incident, and dead letters.

`make bench` runs the long version; tests/chaos/test_fault_storm.py runs a short one.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .chaos_stack import ProcessStack

# (side, matcher) for each route the core uses
ROUTES: list[tuple[str, dict[str, str]]] = [
    ("servicenow", {"method": "GET", "path": "/api/now"}),
    ("servicenow", {"method": "POST", "path": "/api/now"}),
    ("bigpanda", {"method": "GET", "path": "/integrations/v3/servicenow/shares"}),
    ("bigpanda", {"method": "POST", "path": "/integrations/v3/servicenow/callbacks"}),
]
HTTP_TIMEOUT_S = 5.0  # the core's BPSN_HTTP_TIMEOUT in these runs


def fault_kinds(latency_ms: float, past_timeout: bool) -> dict[str, dict[str, Any]]:
    kinds: dict[str, dict[str, Any]] = {
        "503": {"status": 503},
        "429": {"status": 429},
        "lost answer": {"drop_connection": True, "after_handling": True},
        "latency": {"latency_ms": latency_ms},
    }
    if past_timeout:
        kinds["latency past the timeout"] = {"latency_ms": (HTTP_TIMEOUT_S + 1) * 1000}
    return kinds


@dataclass
class StormResult:
    phases: int
    phase_s: float
    alerts_per_s: float
    probability: float
    incidents: int
    faults_fired: int
    fired_by_kind: dict[str, int]
    ticketed_during_storm: int  # incidents with their ticket by the time the faults were cleared
    lost: int
    duplicates: int
    orphans: int
    dead_letters: int
    storm_s: float
    drained_after_s: float

    @property
    def ok(self) -> bool:
        return self.lost == self.duplicates == self.orphans == self.dead_letters == 0

    def line(self) -> str:
        return (f"fault storm: {self.incidents} incidents through {self.phases} phases of {self.phase_s:g} s "
                f"({self.faults_fired} faults fired; {self.ticketed_during_storm} ticketed before they were "
                f"cleared): lost {self.lost}, duplicates {self.duplicates}, "
                f"tickets without an incident {self.orphans}, dead letters {self.dead_letters}; "
                f"drained {self.drained_after_s:.1f} s after the storm")


class Storm:
    """The fault rules in force, and how often each kind fired so far."""

    def __init__(self, stack: ProcessStack, kinds: dict[str, dict[str, Any]], probability: float) -> None:
        self.stack, self.kinds, self.probability = stack, kinds, probability
        self.fired: Counter[str] = Counter()
        self._kind_of: dict[tuple[str, int], str] = {}  # (side, rule id) -> kind

    def phase(self, n: int) -> None:
        """Replace the rules with phase n's: route i gets kind (i + n) mod len(kinds)."""
        self.clear()
        names = list(self.kinds)
        for i, (side, matcher) in enumerate(ROUTES):
            kind = names[(i + n) % len(names)]
            rule = self.stack.add_fault(side, probability=self.probability, **matcher, **self.kinds[kind])
            self._kind_of[(side, int(rule["id"]))] = kind

    def clear(self) -> None:
        for side, client in (("bigpanda", self.stack.bp_admin), ("servicenow", self.stack.sn_admin)):
            for rule in client.get("/_sim/faults").raise_for_status().json():
                self.fired[self._kind_of.get((side, int(rule["id"])), "other")] += int(rule["fired"])
        self.stack.clear_faults()


def run_storm(workdir: Path, *, phase_s: float, phases: int, alerts_per_s: float, probability: float = 0.3,
              latency_ms: float = 300.0, past_timeout: bool = False, drain_limit: float = 120.0) -> StormResult:
    incidents: list[str] = []
    with ProcessStack(workdir, env={"BPSN_HTTP_TIMEOUT": f"{HTTP_TIMEOUT_S:g}"}) as stack:
        stack.start_all()
        storm = Storm(stack, fault_kinds(latency_ms, past_timeout), probability)
        started = time.monotonic()
        for phase in range(phases):
            storm.phase(phase)
            phase_end = started + (phase + 1) * phase_s
            while time.monotonic() < phase_end:
                incidents.append(stack.send_alert(f"storm-{len(incidents)}"))
                time.sleep(max(0.0, min(phase_end, started + len(incidents) / alerts_per_s) - time.monotonic()))
        storm.clear()
        storm_s = time.monotonic() - started
        during = len(set(stack.ticket_ids()) & set(incidents))
        drained = stack.drain(drain_limit)
        count = stack.count(incidents)
        dead = len(stack.queue()["dead_letters"])
    return StormResult(phases=phases, phase_s=phase_s, alerts_per_s=alerts_per_s, probability=probability,
                       incidents=count.incidents, faults_fired=sum(storm.fired.values()),
                       fired_by_kind=dict(storm.fired), ticketed_during_storm=during, lost=len(count.lost),
                       duplicates=len(count.duplicates), orphans=len(count.orphans), dead_letters=dead,
                       storm_s=round(storm_s, 1), drained_after_s=round(drained, 1))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bpsn.bench.chaos_storm", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phase", type=float, default=25.0, help="seconds per phase")
    parser.add_argument("--cycles", type=int, default=2, help="rotations through every fault kind")
    parser.add_argument("--rate", type=float, default=8.0, help="alerts (new incidents) per second")
    parser.add_argument("--probability", type=float, default=0.3, help="chance a request on a route faults")
    parser.add_argument("--out", type=Path, default=Path("results/bench"), help="where chaos_storm.json goes")
    args = parser.parse_args(argv)
    kinds = len(fault_kinds(0, True))
    with tempfile.TemporaryDirectory(prefix="bpsn-storm-") as work:
        result = run_storm(Path(work), phase_s=args.phase, phases=kinds * args.cycles, alerts_per_s=args.rate,
                           probability=args.probability, past_timeout=True, drain_limit=600.0)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "chaos_storm.json").write_text(json.dumps({**asdict(result), "ok": result.ok}, indent=2) + "\n")
    print(result.line())
    raise SystemExit(0 if result.ok else 1)


if __name__ == "__main__":
    main()
