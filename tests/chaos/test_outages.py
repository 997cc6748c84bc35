"""Outages of either side, and a core that is down longer than a lease, on the virtual clock:
every BigPanda incident ends with exactly one ticket, and no share reaches the dead letters.

Incidents keep arriving during the outage (one every 20 s); the core runs its cycle every 15 s,
as its own loop would. Each run ends with a count of lost and duplicate tickets.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

pytestmark = pytest.mark.slow(seconds=7)

POLL = 15.0
ARRIVAL = 20.0


def send(bench: Any, host: str) -> str:
    r = bench.send_alerts({"status": "critical", "host": host, "check": "disk"})
    assert r.status_code == 201, r.text
    return str(r.json()["alerts"][0]["incident_id"])


def lost_and_duplicates(bench: Any, incidents: list[str]) -> tuple[list[str], list[str]]:
    """Counted from one read of every ServiceNow incident that names a correlation id (a two-hour
    run has hundreds of incidents: a query per incident was most of the check's time)."""
    counts = Counter(t["correlation_id"] for t in bench.records("incident", "correlation_idISNOTEMPTY"))
    return [i for i in incidents if counts[i] == 0], [i for i in incidents if counts[i] > 1]


def tickets_bigpanda_shows(bench: Any) -> dict[str, int]:
    """Each BigPanda incident's number of external tickets, from one search of them all."""
    return {view.id: len(view.tickets) for view in bench.bigpanda_views.incidents()}


def through(bench: Any, seconds: float, incidents: list[str], prefix: str) -> None:
    """`seconds` of the core's cycles, with a new incident every ARRIVAL seconds."""
    elapsed, next_arrival = 0.0, 0.0
    while elapsed < seconds:
        while next_arrival <= elapsed:
            incidents.append(send(bench, f"{prefix}-{int(next_arrival)}"))
            next_arrival += ARRIVAL
        bench.cycle()
        bench.clock.advance(POLL)
        elapsed += POLL


def recover(bench: Any, incidents: list[str], limit: int = 60) -> None:
    queue = bench.org.shares
    for _ in range(limit):
        bench.cycle()
        bench.clock.advance(POLL)
        if not queue.pending() and not queue.leased():
            break
    lost, duplicates = lost_and_duplicates(bench, incidents)
    assert (lost, duplicates) == ([], []), f"{len(lost)} lost, {len(duplicates)} duplicates of {len(incidents)}"
    assert queue.dead_letters == []
    shown = tickets_bigpanda_shows(bench)
    assert all(shown.get(i) == 1 for i in incidents), {i: shown.get(i) for i in incidents if shown.get(i) != 1}


FAULTS = {
    "servicenow answers 503": ("servicenow", {"path": "/api/now", "status": 503}),
    "servicenow cannot be reached": ("servicenow", {"path": "/api/now", "drop_connection": True}),
    "servicenow answers 429": ("servicenow", {"path": "/api/now", "status": 429}),
    "bigpanda answers 503": ("bigpanda", {"path": "/integrations/v3/servicenow", "status": 503}),
}


@pytest.mark.parametrize("minutes", [10, 120], ids=["10 minutes", "2 hours"])
@pytest.mark.parametrize("fault", list(FAULTS))
def test_an_outage_loses_and_duplicates_no_ticket(bpsn_bench: Any, fault: str, minutes: int) -> None:
    side, rule = FAULTS[fault]
    incidents: list[str] = []
    through(bpsn_bench, 120, incidents, "before")  # a working core first
    getattr(bpsn_bench.faults, side).add(**rule)
    through(bpsn_bench, minutes * 60, incidents, "during")
    bpsn_bench.faults.clear()
    recover(bpsn_bench, incidents)
    deliveries = [s.deliveries for s in bpsn_bench.org.shares.dead_letters]
    assert deliveries == []


def test_the_core_spends_at_most_one_delivery_per_outage(bpsn_bench: Any) -> None:
    """While the gate is closed the core leases nothing: shares wait with their deliveries unspent."""
    incidents = [send(bpsn_bench, f"web-{n}") for n in range(5)]
    bpsn_bench.clock.advance(1)  # BigPanda takes 5 alert requests a second
    bpsn_bench.faults.servicenow.add(path="/api/now", status=503)
    through(bpsn_bench, 600, incidents, "more")
    spent = {s.incident_id: s.deliveries for s in bpsn_bench.org.shares.pending()}
    assert spent and max(spent.values()) <= 1, spent
    bpsn_bench.faults.clear()
    recover(bpsn_bench, incidents)


def test_a_core_down_longer_than_the_lease_loses_nothing(bpsn_bench: Any) -> None:
    incidents = [send(bpsn_bench, f"db-{n}") for n in range(5)]
    bpsn_bench.faults.bigpanda.add(path="/integrations/v3/servicenow/callbacks", drop_connection=True)
    bpsn_bench.poll()  # tickets written, the callbacks never arrive: then the core dies
    bpsn_bench.faults.clear()
    bpsn_bench.clock.advance(3 * 3600)  # down for three hours; every lease ran out long ago
    bpsn_bench.runner = bpsn_bench.new_core()  # a fresh core: no memory of the last one
    more = [send(bpsn_bench, f"db-late-{n}") for n in range(3)]
    recover(bpsn_bench, incidents + more)
