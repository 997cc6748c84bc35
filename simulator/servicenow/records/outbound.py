"""Change notifications: the business rule that tells the core a record changed (issue #16, 4).

On a real instance the BigPanda app's business rules see a ticket change as it happens. Here
(our choice, documented in the README) an outbound message is a record of
`u_bpsn_outbound_message`: its endpoint, the tables and operations that trigger it, the
`Authorization` header value it sends (a password2 field: encrypted at rest, masked on reads,
shown only as a mask in sys_audit), and its retry policy. Seeded inactive: nothing is sent until
someone configures and activates it (`bpsn up` and the test harness do).

After an insert, update or delete of a triggering table, by anyone, `after_write` enqueues one
small JSON notification per active message: table, sys_id, operation, sys_updated_on,
sys_updated_by and the names of the fields that changed. A task on the running event loop
delivers it beside the request, never inside it: a slow or failing endpoint neither slows nor
fails the write. A network error, a 429 or a 5xx is retried after retry_interval * 2^(n-1)
seconds of the simulator clock, up to max_attempts; any other answer outside 2xx is final.
Every attempt is a `sys_outbound_http_log` record (url, method, status, error, attempt,
outcome; never the header), readable by admin through the Table API.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import httpx

from bpsn.base.clock import SimClock
from bpsn.base.rng import SeededRandom
from bpsn.simulator.common.due_loop import DueLoop
from bpsn.simulator.common.notifier import ChangeNotifier

from .dictionary import Dictionary
from .glide_time import glide_stamp
from .store import Store, Where

TABLE = "u_bpsn_outbound_message"
LOG_TABLE = "sys_outbound_http_log"
Operation = Literal["insert", "update", "delete"]
RETRYABLE_ERRORS = (httpx.NetworkError, httpx.RemoteProtocolError, httpx.TimeoutException)
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
DELIVERY_TIMEOUT = 10.0  # seconds one attempt may take before it counts as failed


class Decrypter(Protocol):
    def decrypt(self, stored: str) -> str: ...


class OutboundSource(Protocol):
    """What the deliveries need of the backend that owns them."""

    store: Store
    clock: SimClock
    dictionary: Dictionary
    secrets: Decrypter
    notifier: ChangeNotifier

    @property
    def rng(self) -> SeededRandom: ...


@dataclass(frozen=True)
class OutboundMessage:
    sys_id: str
    name: str
    endpoint: str
    tables: frozenset[str]
    operations: frozenset[str]
    authorization: str = field(repr=False)  # the clear header value: never logged, never journaled
    max_attempts: int
    retry_interval: float
    exclude_users: frozenset[str] = frozenset()  # writes by these users notify nobody (the condition)

    @classmethod
    def of(cls, row: dict[str, str], secrets: Decrypter) -> OutboundMessage:
        def names(text: str) -> frozenset[str]:
            return frozenset(n.strip() for n in text.split(",") if n.strip())
        return cls(row["sys_id"], row.get("name", ""), row.get("endpoint", ""), names(row.get("tables", "")),
                   names(row.get("operations", "")),
                   secrets.decrypt(row["auth_header"]) if row.get("auth_header") else "",
                   max(1, int(row.get("max_attempts") or 1)), max(0.0, float(row.get("retry_interval") or 0)),
                   names(row.get("exclude_users", "")))

    def triggered_by(self, ancestry: list[str], operation: Operation, user_name: str) -> bool:
        return (operation in self.operations and any(t in self.tables for t in ancestry)
                and user_name not in self.exclude_users)


@dataclass
class Delivery:
    message: OutboundMessage
    body: dict[str, Any]
    due: float
    attempts: int = 0


@dataclass
class DeliveryCounts:
    enqueued: int = 0
    delivered: int = 0
    failed_attempts: int = 0
    given_up: int = 0


class ChangeNotifications(DueLoop):
    """The after-write business rule and its asynchronous deliveries. `client` is injectable (the
    harness and `bpsn up` hand one whose transport reaches the core in-process); without one each
    round opens its own AsyncClient and goes over the network."""

    def __init__(self, backend: OutboundSource, client: httpx.AsyncClient | None = None) -> None:
        self.backend = backend
        self.client = client
        self.queue: list[Delivery] = []
        self.counts = DeliveryCounts()
        self._messages: list[OutboundMessage] | None = None  # active ones; read again after a change
        self._in_flight = 0

    def clear(self) -> None:
        """A reset: nothing queued, counts at zero, the messages read again."""
        self.queue.clear()
        self.counts = DeliveryCounts()
        self._messages = None

    def pending(self) -> bool:
        """Whether a notification waits or is on its way (read from any thread)."""
        return self._in_flight > 0 or bool(self.queue)

    def reload(self) -> None:
        self._messages = None

    def messages(self) -> list[OutboundMessage]:
        if self._messages is None:
            rows = self.backend.store.select(TABLE, Where("active = ?", ["true"]))
            self._messages = [OutboundMessage.of(r, self.backend.secrets) for r in rows if r.get("endpoint")]
        return self._messages

    # --- the business rule ----------------------------------------------------------------------
    def after_write(self, table: str, record: dict[str, str], operation: Operation, fields: Iterable[str],
                    user_name: str) -> None:
        """After a committed write: a notification for each active message this write triggers.
        `fields` is read only then (an insert passes a generator: most writes trigger nothing)."""
        if table in (TABLE, LOG_TABLE):
            return
        ancestry = self.backend.dictionary.ancestry(table)
        wanted = [m for m in self.messages() if m.triggered_by(ancestry, operation, user_name)]
        if not wanted:
            return
        body = {"table": table, "sys_id": record.get("sys_id", ""), "operation": operation,
                "sys_updated_on": record.get("sys_updated_on", ""), "sys_updated_by": user_name,
                "fields": sorted(f for f in fields if not f.startswith("sys_"))}
        now = self.backend.clock.now()
        self.queue.extend(Delivery(m, body, now) for m in wanted)
        self.counts.enqueued += len(wanted)
        self.kick()

    # --- delivery -------------------------------------------------------------------------------
    def kick(self) -> None:
        """Deliver what is due, from a task of the running loop; a no-op where no loop runs
        (the next kick, or `flush`, delivers it)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._start_or_wake(loop, bool(self.queue))

    def _next_delay(self) -> float | None:
        """On a running clock, while a retry waits: look again within a second. A frozen clock
        moves only by advance(): the harness flushes after it."""
        if self.backend.clock.frozen or not self.queue:
            return None
        return min(max(min(d.due for d in self.queue) - self.backend.clock.now(), 0.01), 1.0)

    async def flush(self, timeout: float = 2 * DELIVERY_TIMEOUT) -> int:
        """Deliver what is due now and wait for deliveries in flight elsewhere (tests, the harness)."""
        deadline = time.monotonic() + timeout
        sent = await self.deliver_due()
        while self._in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.001)
            sent += await self.deliver_due()
        return sent

    async def deliver_due(self) -> int:
        sent = 0
        while True:
            now = self.backend.clock.now()
            batch = [d for d in self.queue if d.due <= now]
            if not batch:
                return sent
            self._in_flight += len(batch)  # before they leave the queue: `pending` never misses one
            self.queue = [d for d in self.queue if d.due > now]
            sent += len(batch)
            client = self.client or httpx.AsyncClient(timeout=DELIVERY_TIMEOUT)
            try:
                await asyncio.gather(*(self._deliver(client, d) for d in batch))
            finally:
                self._in_flight -= len(batch)
                if client is not self.client:
                    await client.aclose()
                self.backend.notifier.notify()

    async def _deliver(self, client: httpx.AsyncClient, d: Delivery) -> None:
        d.attempts += 1
        headers = {"Authorization": d.message.authorization} if d.message.authorization else {}
        status: int | None = None
        try:
            response = await client.post(d.message.endpoint, json=d.body, headers=headers)
        except RETRYABLE_ERRORS as exc:
            retry, error = True, f"{type(exc).__name__}: {exc}".rstrip(": ")
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            retry, error = False, f"{type(exc).__name__}: {exc}".rstrip(": ")
        else:
            status = response.status_code
            retry, error = status in RETRY_STATUSES, "" if 200 <= status < 300 else f"HTTP {status}"
        if not error:
            outcome = "delivered"
            self.counts.delivered += 1
        elif retry and d.attempts < d.message.max_attempts:
            outcome = "retry"
            self.counts.failed_attempts += 1
            d.due = self.backend.clock.now() + d.message.retry_interval * 2 ** (d.attempts - 1)
            self.queue.append(d)
        else:
            outcome = "given up"
            self.counts.failed_attempts += 1
            self.counts.given_up += 1
        self._log(d, status, error, outcome)

    def _log(self, d: Delivery, status: int | None, error: str, outcome: str) -> None:
        now = glide_stamp(self.backend.clock.now())
        self.backend.store.insert(LOG_TABLE, {
            "sys_id": self.backend.rng.hex32(), "sys_class_name": LOG_TABLE, "url": d.message.endpoint,
            "http_method": "POST", "response_status": "" if status is None else str(status), "error": error[:1000],
            "attempt": str(d.attempts), "outcome": outcome, "source": d.message.sys_id,
            "document_table": str(d.body["table"]), "document_id": str(d.body["sys_id"]),
            "sys_created_on": now, "sys_created_by": "system", "sys_updated_on": now,
            "sys_updated_by": "system", "sys_mod_count": "0"})


SEEDED_SYS_ID = "5e11f0ce0b7e4d2a9c3b6a1e8d0f4b21"  # fixed: seeding it draws nothing from the seeded stream


def seed_outbound_message(insert: Any) -> None:
    """The instance's one change notification, inactive and pointing nowhere until configured."""
    insert(TABLE, {"sys_id": SEEDED_SYS_ID, "name": "BigPanda core: incident changes", "active": "false",
                   "endpoint": "", "tables": "incident", "operations": "insert,update,delete",
                   "max_attempts": "5", "retry_interval": "2"})
