"""ServiceNow outages: stop taking shares until ServiceNow answers again.

A share's deliveries are counted when the core leases it. If the core went on leasing while
ServiceNow answered 5xx, 429 or could not be reached, every poll would spend one more delivery
of the same shares and after six they would land in BigPanda's dead letters: tickets lost for
good (a 60 s outage lost 60 of 300). So the first outage-class failure closes the gate: the
core leases nothing more, and each later poll sends one cheap probe to ServiceNow instead, at
growing intervals, until it answers; then leasing goes on. A share in flight when the outage
began spends one delivery (its error callback hands it back at once); waiting spends none.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from bpsn.integration.clients.batch import BatchError
from bpsn.integration.clients.servicenow import ServiceNowError

OUTAGE_STATUSES = frozenset({429, 500, 502, 503, 504})


def is_outage(exc: BaseException) -> bool:
    """ServiceNow is down or overloaded (not: it refused this write, which a retry cannot help)."""
    if isinstance(exc, ServiceNowError):
        return exc.status_code in OUTAGE_STATUSES or exc.status_code >= 500
    if isinstance(exc, BatchError):
        return exc.status is None or exc.status in OUTAGE_STATUSES or exc.status >= 500
    return isinstance(exc, (httpx.TransportError, OSError))


async def answers(http: httpx.AsyncClient) -> bool:
    """One probe, no retries: a one-row read that any answer but an outage's counts as up."""
    try:
        r = await http.get("/api/now/table/incident", params={
            "sysparm_limit": 1, "sysparm_fields": "sys_id", "sysparm_no_count": "true"})
    except httpx.TransportError:
        return False
    return r.status_code not in OUTAGE_STATUSES and r.status_code < 500


@dataclass
class OutageGate:
    """Closed while ServiceNow is out. The first probe goes at the next poll; each failed probe
    doubles the wait (from `first_wait` up to `max_wait` seconds of the core's clock)."""

    first_wait: float = 15.0
    max_wait: float = 300.0
    down_since: float | None = None
    probe_at: float = 0.0
    wait: float = 0.0

    @property
    def closed(self) -> bool:
        return self.down_since is not None

    def failed(self, now: float) -> None:
        """An outage-class failure: close the gate (or keep it closed) and plan the next probe."""
        if self.down_since is None:
            self.down_since, self.wait, self.probe_at = now, 0.0, now  # probe at the next poll
            return
        self.wait = self.first_wait if self.wait == 0 else min(self.wait * 2, self.max_wait)
        self.probe_at = now + self.wait

    def probe_due(self, now: float) -> bool:
        return self.closed and now >= self.probe_at

    def opened(self, now: float) -> float:
        """ServiceNow answers again: open the gate; the seconds it was out."""
        since, self.down_since, self.wait, self.probe_at = self.down_since, None, 0.0, 0.0
        return 0.0 if since is None else now - since
