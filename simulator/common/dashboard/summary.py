"""The dashboard's JSON summary, built from backends in this process: no HTTP, no I/O.

A scope is the simulators (sides) and, under `bpsn up`, the core that one page shows. Each side
brings a panel, a function that reads the simulator's own state:
- BigPanda's gives `incidents` (each with the tickets its callbacks recorded and the state of its
  share), `queue` (pending, leased, dead letters) and `rate_limit_per_second`;
- ServiceNow's gives `tickets` (the newest incident records).
Here the common parts are added (the clock, the newest journal entries, fault rules, rate-limit
usage) and incidents are paired with their tickets: by the ticket's sys_id that BigPanda
recorded, else by the ticket's correlation_id, which the core sets to the incident's id.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from bpsn.base.clock import SimClock, iso

from ..faults import FaultInjector
from ..journal import Journal

Panel = Callable[[], dict[str, Any]]
NEWEST_REQUESTS = 40
MAX_PAIRS = 50
RATE_WINDOW_SECONDS = 1.0  # BigPanda's documented limit is per second per token
QUEUE_KEYS = ("pending", "leased", "dead_letters")


class Observed(Protocol):
    """What the dashboard reads from any simulator backend."""

    name: str
    clock: SimClock
    journal: Journal
    faults: FaultInjector


@dataclass
class Side:
    """One simulator on a dashboard. `url` is where its own dashboard is ("" on its own page)."""

    name: str
    backend: Observed
    panel: Panel
    url: str = ""


@dataclass
class DashboardScope:
    sides: list[Side]
    core: Panel | None = None  # under `bpsn up`: the core's counters

    def __post_init__(self) -> None:
        if not self.sides:
            raise ValueError("a dashboard needs at least one simulator")


def share_scope(sides: list[Side], core: Panel | None = None) -> DashboardScope:
    """One scope for several apps served together (`bpsn up`): each app's page shows all of them."""
    return DashboardScope(sides=list(sides), core=core)


def summarise(scope: DashboardScope, own: str) -> dict[str, Any]:
    """The summary the page at `/` of simulator `own` polls (GET /_sim/dashboard)."""
    clock = scope.sides[0].backend.clock  # one clock: sides served together share it
    now = clock.now()
    panels = {side.name: side.panel() for side in scope.sides}
    incidents = [incident for panel in panels.values() for incident in panel.get("incidents", [])]
    tickets = [_linked(ticket, side.url) for side in scope.sides for ticket in panels[side.name].get("tickets", [])]
    queue: Counter[str] = Counter({key: 0 for key in QUEUE_KEYS})
    has_queue = False
    for panel in panels.values():
        if "queue" in panel:
            has_queue = True
            queue.update({key: int(panel["queue"].get(key, 0)) for key in QUEUE_KEYS})
    return {
        "own": own,
        "stack": len(scope.sides) > 1,
        "clock": {"now": now, "iso": iso(now), "frozen": clock.frozen},
        "simulators": {side.name: _simulator(side, panels[side.name], now) for side in scope.sides},
        "pairs": pair(incidents, tickets)[:MAX_PAIRS],
        "has_incidents": any("incidents" in panel for panel in panels.values()),
        "has_tickets": any("tickets" in panel for panel in panels.values()),
        "queue": dict(queue) if has_queue else None,
        "core": scope.core() if scope.core is not None else None,
    }


def _linked(ticket: dict[str, Any], url: str) -> dict[str, Any]:
    """A panel gives a ticket's page as a path on its simulator; the link is absolute when the page
    showing it is served by another simulator (`bpsn up`)."""
    ticket = dict(ticket)
    if "link_path" in ticket:
        ticket["link"] = url.rstrip("/") + ticket.pop("link_path")
    return ticket


def _simulator(side: Side, panel: dict[str, Any], now: float) -> dict[str, Any]:
    journal = side.backend.journal
    newest = journal.find(limit=500)
    return {
        "url": side.url,
        "requests": [{"id": e.id, "time": e.time, "method": e.method, "path": e.path, "status": e.status,
                      "duration_ms": e.duration_ms, "user": e.user, "notes": e.notes}
                     for e in reversed(newest[-NEWEST_REQUESTS:])],
        "totals": {"requests": journal.totals["requests"], "rate_limited": journal.totals["status:429"]},
        "faults": [rule.to_dict() for rule in side.backend.faults.rules],
        "rate": rate_usage(newest, now, panel.get("rate_limit_per_second")),
    }


def rate_usage(entries: list[Any], now: float, limit: int | None) -> dict[str, Any]:
    """Requests each caller made in the last second of the simulator clock that the API counted
    (authenticated, not refused with 429), the busiest caller, and its share of `limit`."""
    callers: Counter[str] = Counter(e.user for e in entries
                                    if e.user and e.status != 429 and now - RATE_WINDOW_SECONDS < e.time <= now)
    busiest, count = callers.most_common(1)[0] if callers else ("", 0)
    return {"window_seconds": RATE_WINDOW_SECONDS, "limit_per_second": limit, "busiest_caller": busiest,
            "busiest_requests": count, "usage": round(count / limit, 3) if limit else None,
            "callers": dict(callers)}


def pair(incidents: list[dict[str, Any]], tickets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of (incident, ticket), newest incident first; tickets no incident claims come after,
    each alone. An incident whose ticket is not in `tickets` (ServiceNow is not in this scope)
    keeps the number and link its callback recorded."""
    by_sys_id = {t["sys_id"]: t for t in tickets if t.get("sys_id")}
    by_correlation = {t["correlation_id"]: t for t in tickets if t.get("correlation_id")}
    claimed: set[str] = set()
    rows = []
    for incident in sorted(incidents, key=lambda i: i.get("updated_at", 0), reverse=True):
        ticket = None
        for recorded in incident.get("tickets", []):
            ticket = by_sys_id.get(recorded.get("sys_id", "")) or ticket
        ticket = ticket or by_correlation.get(incident["id"])
        if ticket is None and incident.get("tickets"):
            recorded = incident["tickets"][0]
            ticket = {"sys_id": recorded.get("sys_id", ""), "number": recorded.get("number", ""),
                      "link": recorded.get("url", ""), "state": None, "recorded_only": True}
        if ticket is not None and ticket.get("sys_id"):
            claimed.add(ticket["sys_id"])
        rows.append({"incident": incident, "ticket": ticket})
    rows += [{"incident": None, "ticket": t} for t in tickets if t.get("sys_id") not in claimed]
    return rows
