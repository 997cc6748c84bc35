"""Which ServiceNow tickets exist, and since when: one watcher per Locust process.

Why not let every user long-poll ServiceNow's ``/_sim/wait`` for its own ticket: the wait runs
its query again on every change of the instance, for every waiting request. With 100 users
waiting, each ticket the core writes costs ServiceNow 100 queries, and under a storm the harness,
not the integration, would saturate the simulator (and slow the core that shares it).

Instead each Locust process runs one greenlet that long-polls ``/_sim/wait`` for tickets
*numbered after the last one it saw* (``number`` is indexed and rises with every insert), notes
when each appeared, and wakes the users waiting for that BigPanda incident. One waiter per process,
so the cost grows with the tickets written, not with the users. The time noted is when the
answer arrived, a few ms after the insert, as it was with one wait per user.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import gevent
import requests
from gevent.event import Event

LONG_POLL_S = 2.0  # seconds each /_sim/wait may hold: short, as the simulator finishes a wait left by
# a stopped Locust before it exits itself
RETRY_S = 0.5


@dataclass
class Ticket:
    sys_id: str
    number: str
    seen: float  # time.perf_counter() of this process when the watcher first saw it
    copies: int = 1  # tickets with this correlation_id (more than one is a duplicate)


class TicketWatch:
    def __init__(self, servicenow_url: str, auth_header: str) -> None:
        self.url = f"{servicenow_url.rstrip('/')}/_sim/wait"
        self.headers = {"Authorization": auth_header, "Accept": "application/json"}
        self.tickets: dict[str, Ticket] = {}  # BigPanda incident id (correlation_id) -> its first ticket
        self.errors = 0
        self.last_error = ""
        self._waiters: dict[str, list[Event]] = {}
        self._cursor = ""  # the highest ticket number seen
        self._greenlet: gevent.Greenlet | None = None

    def start(self) -> None:
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None
        for events in self._waiters.values():  # nobody waits past the end
            for event in events:
                event.set()

    def wait(self, incident_id: str, timeout: float) -> Ticket | None:
        """The incident's ticket once it exists (at once if it does), or None after `timeout` seconds."""
        ticket = self.tickets.get(incident_id)
        if ticket is not None:
            return ticket
        event = Event()  # no switch between the lookup above and this registration: nothing is missed
        self._waiters.setdefault(incident_id, []).append(event)
        try:
            event.wait(timeout)
        finally:
            waiting = self._waiters.get(incident_id, [])
            if event in waiting:
                waiting.remove(event)
            if not waiting:
                self._waiters.pop(incident_id, None)
        return self.tickets.get(incident_id)

    def _query(self) -> str:
        after = f"^number>{self._cursor}" if self._cursor else ""
        return f"correlation_display=BigPanda{after}^ORDERBYnumber"

    def _run(self) -> None:
        session = requests.Session()
        while True:
            try:
                r = session.get(self.url, params={"table": "incident", "sysparm_query": self._query(),
                                                  "timeout": LONG_POLL_S},
                                headers=self.headers, timeout=LONG_POLL_S + 20)
                r.raise_for_status()
                rows: list[dict[str, Any]] = r.json()["result"]
            except (requests.RequestException, ValueError, KeyError) as exc:
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                gevent.sleep(RETRY_S)
                continue
            self._record(rows, time.perf_counter())

    def _record(self, rows: list[dict[str, Any]], seen: float) -> None:
        for row in rows:
            number, incident_id = str(row.get("number", "")), str(row.get("correlation_id", ""))
            self._cursor = max(self._cursor, number)
            if not incident_id:
                continue
            known = self.tickets.get(incident_id)
            if known is not None:
                known.copies += 1
                continue
            self.tickets[incident_id] = Ticket(str(row.get("sys_id", "")), number, seen)
            for event in self._waiters.get(incident_id, []):
                event.set()
