"""Push mode: BigPanda POSTs each share to the target's URL instead of waiting to be polled.

Per organisation, an (environment, autoshare target) pair is either pulled (the retrieval
endpoint, the default) or pushed to a URL with headers (`PushStore.targets`). A pushed share
is the same object the retrieval endpoint returns (`BigPandaBackend.render_share`).

Documented by BigPanda: up to 6 tries, 15 minutes apart, for status >= 501 and
ECONNRESET / ECONNREFUSED / EPIPE-type errors, then a dead-letter queue. Our choices, all in
`BigPandaSettings` (push_*): the tries, interval and retried statuses; a 2xx is delivered (a
`ticket` object in its JSON body is recorded on the incident like a callback's); every other
status (4xx, 500, 3xx) goes to the dead letters at once, since a retry cannot help; transport
errors (refused, reset, broken pipe, protocol errors, timeouts) are retried.

Time is the simulator clock. Each pending push has a due time; due pushes go out when a
share is enqueued and when `BigPandaBackend.tick()` runs (so `/_sim/clock/advance` fires
retries at once). On a running (unfrozen) clock a small task stays alive while retries wait
and checks every second; on a frozen clock only enqueues and ticks drive delivery.
One push per (incident, environment, target) is in flight at a time, so a target sees an
incident's shares in order; changes made meanwhile join one pending push.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .queue import Share

Key = tuple[str, str, str]  # incident, environment, target


@dataclass
class PushTarget:
    url: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Attempt:
    at: float
    status: int | None = None
    error: str | None = None


@dataclass
class PushDelivery(Share):
    due_at: float = 0.0
    state: str = "pending"  # pending | in_flight | delivered | dead
    attempts: list[Attempt] = field(default_factory=list)
    round_start: int = 0  # attempts before the last redelivery do not count against the tries
    redeliveries: int = 0
    dead_at: float | None = None

    @property
    def key(self) -> Key:
        return (self.incident_id, self.environment_id, self.target)

    @property
    def tries(self) -> int:
        return len(self.attempts) - self.round_start


def parse_statuses(spec: str) -> frozenset[int]:
    """"501-599" or "429,500-599" -> the set of codes."""
    codes: set[int] = set()
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        low, _, high = part.partition("-")
        codes.update(range(int(low), int(high or low) + 1))
    return frozenset(codes)


class PushStore:
    """One organisation's push configuration, outbox and dead letters: plain state, no I/O."""

    def __init__(self) -> None:
        self.targets: dict[str, dict[str, PushTarget]] = {}  # environment id -> target -> config
        self.queue: dict[str, PushDelivery] = {}  # pending and in flight, oldest first
        self.dead_letters: list[PushDelivery] = []
        self.delivered = 0
        self.sequence = 0
        self._pending: dict[Key, str] = {}
        self._in_flight: set[Key] = set()

    def __getstate__(self) -> dict[str, Any]:  # a snapshot holds no push in flight
        state = dict(self.__dict__)
        state.pop("_pending"), state.pop("_in_flight")
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._pending, self._in_flight = {}, set()
        for d in list(self.queue.values()):
            if d.state == "in_flight":
                d.state = "pending"
            if d.key in self._pending:  # two pushes of one key: the older one carries both
                older = self.queue[self._pending[d.key]]
                older.triggers += [t for t in d.triggers if t not in older.triggers]
                del self.queue[d.id]
            else:
                self._pending[d.key] = d.id

    # --- configuration ---------------------------------------------------------------------------
    def target(self, environment_id: str, target: str) -> PushTarget | None:
        return self.targets.get(environment_id, {}).get(target)

    def configure(self, environment_id: str, target: str, config: PushTarget) -> None:
        self.targets.setdefault(environment_id, {})[target] = config

    def unconfigure(self, environment_id: str, target: str) -> list[PushDelivery]:
        """Back to pull: returns the pushes that were waiting, for the pull queue."""
        self.targets.get(environment_id, {}).pop(target, None)
        if not self.targets.get(environment_id, True):
            del self.targets[environment_id]
        waiting = [d for d in self.queue.values()
                   if d.state == "pending" and (d.environment_id, d.target) == (environment_id, target)]
        for d in waiting:
            self.forget(d)
        return waiting

    # --- the outbox ----------------------------------------------------------------------------------
    def enqueue(self, share_id: str, incident_id: str, environment_id: str, target: str,
                trigger: str, now: float) -> PushDelivery:
        pending_id = self._pending.get((incident_id, environment_id, target))
        if pending_id is not None:
            d = self.queue[pending_id]
            if d.trigger != trigger:
                d.triggers.append(trigger)
            return d
        self.sequence += 1
        d = PushDelivery(share_id, self.sequence, incident_id, environment_id, target, [trigger], now, due_at=now)
        self.queue[d.id] = d
        self._pending[d.key] = d.id
        return d

    def take_due(self, now: float) -> list[PushDelivery]:
        """Pushes due now whose key has none in flight, marked in flight."""
        out = []
        for d in list(self.queue.values()):
            if d.state == "pending" and d.due_at <= now and d.key not in self._in_flight:
                d.state = "in_flight"
                self._pending.pop(d.key, None)
                self._in_flight.add(d.key)
                out.append(d)
        return out

    def next_due(self) -> float | None:
        return min((d.due_at for d in self.queue.values() if d.state == "pending"), default=None)

    def busy(self) -> bool:
        return bool(self._in_flight)

    def _make_pending(self, d: PushDelivery) -> None:
        """Pending again; a newer pending push of the same key joins it (it is sent as it is then)."""
        d.state = "pending"
        newer_id = self._pending.get(d.key)
        if newer_id is not None and newer_id != d.id:
            newer = self.queue.pop(newer_id)
            d.triggers += [t for t in newer.triggers if t not in d.triggers]
        self.queue[d.id] = d
        self._pending[d.key] = d.id

    def release(self, d: PushDelivery) -> None:
        """A push interrupted before any answer (e.g. its task was cancelled): not an attempt."""
        if d.state == "in_flight":
            self._in_flight.discard(d.key)
            self._make_pending(d)

    def forget(self, d: PushDelivery) -> None:
        self.queue.pop(d.id, None)
        if self._pending.get(d.key) == d.id:
            del self._pending[d.key]
        if d.state == "in_flight":
            self._in_flight.discard(d.key)

    def settle(self, d: PushDelivery, attempt: Attempt, outcome: str, *, max_attempts: int,
               interval: float) -> str:
        """Record one attempt; outcome is delivered, retry or dead. Returns the final state."""
        d.attempts.append(attempt)
        d.deliveries = d.tries
        if outcome == "retry" and d.tries >= max_attempts:
            outcome = "dead"
        if outcome == "retry":
            d.due_at = attempt.at + max(interval, 0.001)
            self._in_flight.discard(d.key)
            self._make_pending(d)
            return d.state
        self.forget(d)
        if outcome == "delivered":
            d.state = "delivered"
            self.delivered += 1
        else:
            d.state, d.dead_at = "dead", attempt.at
            self.dead_letters.append(d)
        return d.state

    def redeliver(self, delivery_id: str, now: float) -> PushDelivery | None:
        d = next((x for x in self.dead_letters if x.id == delivery_id), None)
        if d is None:
            return None
        self.dead_letters.remove(d)
        d.round_start, d.redeliveries, d.deliveries = len(d.attempts), d.redeliveries + 1, 0
        d.due_at, d.dead_at = now, None
        self._make_pending(d)
        return d
