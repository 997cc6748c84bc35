"""Push mode's delivery: due pushes go out with httpx, outcomes settle in each organisation's
PushStore (push.py has the policy)."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

import httpx

from bpsn.base.clock import SimClock
from bpsn.simulator.bigpanda.organization import Organization
from bpsn.simulator.bigpanda.settings import BigPandaSettings
from bpsn.simulator.common.due_loop import DueLoop
from bpsn.simulator.common.notifier import ChangeNotifier

from .push import Attempt, PushDelivery, parse_statuses

RETRYABLE_ERRORS = (httpx.NetworkError, httpx.RemoteProtocolError, httpx.TimeoutException)


class PushSource(Protocol):
    """What the pusher needs of the backend that owns it."""

    orgs: dict[str, Organization]
    clock: SimClock
    settings: BigPandaSettings
    notifier: ChangeNotifier

    def render_share(self, org: Organization, share: Any) -> dict[str, Any]: ...

    def _record_ticket(self, org: Organization, incident: Any, target: str, ticket: dict[str, Any],
                       now: float) -> None: ...


def to_pull(org: Organization, d: PushDelivery, now: float) -> None:
    """Hand a push to the pull queue (its target went back to pull): nothing is lost."""
    d.state = "pulled"
    for trigger in d.triggers:
        org.shares.enqueue(d.id, d.incident_id, d.environment_id, d.target, trigger, now)


class Pusher(DueLoop):
    """Sends due pushes with httpx. `client` is injectable (tests use httpx.MockTransport or
    ASGITransport); without one, each round of deliveries opens its own AsyncClient."""

    def __init__(self, backend: PushSource, client: httpx.AsyncClient | None = None) -> None:
        self.backend = backend
        self.client = client
        self._loop: asyncio.AbstractEventLoop | None = None

    def kick(self) -> None:
        """Deliver what is due soon, from any thread; a no-op where no event loop runs."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = self._loop
            if loop is not None and loop.is_running() and not loop.is_closed():
                loop.call_soon_threadsafe(self.kick)
            return
        self._loop = loop
        self._start_or_wake(loop, any(org.push.queue for org in self.backend.orgs.values()))

    def _next_delay(self) -> float | None:
        """On a running clock, while a push waits: check again within a second."""
        if self.backend.clock.frozen:
            return None
        due = [t for org in self.backend.orgs.values() if (t := org.push.next_due()) is not None]
        if not due:
            return None
        return min(max(min(due) - self.backend.clock.now(), 0.01), 1.0)

    async def flush(self, timeout: float | None = None) -> int:
        """Deliver what is due now and wait for pushes in flight elsewhere to settle (for tests
        and `POST /_sim/push/deliver`); the number this call sent."""
        limit = timeout if timeout is not None else 2 * self.backend.settings.push_timeout_seconds
        deadline = time.monotonic() + limit
        sent = 0
        while True:
            sent += await self.deliver_due()
            if not any(org.push.busy() for org in self.backend.orgs.values()) or time.monotonic() > deadline:
                return sent
            await asyncio.sleep(0.001)

    async def deliver_due(self) -> int:
        """Deliver every push due now (and those that fall due meanwhile); the number sent."""
        sent = 0
        while True:
            now = self.backend.clock.now()
            batch = [(org, d) for org in list(self.backend.orgs.values()) for d in org.push.take_due(now)]
            if not batch:
                return sent
            sent += len(batch)
            client = self.client or httpx.AsyncClient(timeout=self.backend.settings.push_timeout_seconds)
            try:
                await asyncio.gather(*(self._deliver(client, org, d) for org, d in batch))
            finally:  # a round cut short (cancelled, or a bug) leaves nothing in flight
                for org, d in batch:
                    org.push.release(d)
                if client is not self.client:
                    await client.aclose()
                self.backend.notifier.notify()

    async def _deliver(self, client: httpx.AsyncClient, org: Organization, d: PushDelivery) -> None:
        b, s = self.backend, self.backend.settings
        store, at = org.push, b.clock.now()
        target = store.target(d.environment_id, d.target)
        if target is None:  # switched back to pull while it waited
            store.forget(d)
            to_pull(org, d, at)
            return
        incident = org.incidents.get(d.incident_id)
        if incident is None:
            store.settle(d, Attempt(at, None, "the incident no longer exists"), "dead",
                         max_attempts=s.push_max_attempts, interval=s.push_retry_interval_seconds)
            return
        d.deliveries = d.tries + 1
        body = b.render_share(org, d)
        status: int | None = None
        error: str | None = None
        ticket: Any = None
        try:
            response = await client.post(target.url, json=body, headers=target.headers)
        except RETRYABLE_ERRORS as exc:
            outcome, error = "retry", f"{type(exc).__name__}: {exc}".rstrip(": ")
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            outcome, error = "dead", f"{type(exc).__name__}: {exc}".rstrip(": ")
        else:
            status = response.status_code
            if 200 <= status < 300:
                outcome = "delivered"
                ticket = _ticket(response)
            elif status in parse_statuses(s.push_retry_statuses):
                outcome, error = "retry", f"HTTP {status}"
            else:
                outcome, error = "dead", f"HTTP {status}: not retried"
        now = b.clock.now()
        store.settle(d, Attempt(at, status, error), outcome, max_attempts=s.push_max_attempts,
                     interval=s.push_retry_interval_seconds)
        if ticket is not None:
            b._record_ticket(org, incident, d.target, ticket, now)


def _ticket(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    ticket = body.get("ticket") if isinstance(body, dict) else None
    return ticket if isinstance(ticket, dict) else None
