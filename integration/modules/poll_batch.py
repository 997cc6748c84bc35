"""One Batch API request for the record writes of all of a poll's companions.

The runner opens a `PollBatch` around the companions of a poll (`shared_by(...)`); each
companion's `RecordWriter` then adds its records to the poll's batch and waits. The batch leaves
when every companion of the poll is either waiting on it or finished, so companions that look
things up first (the alert records' CI and group lookups) and those that write at once (the
correlation rows) share one request. A companion that writes again in the same poll starts the
next round. Outside a poll (tests, tools) a writer sends its own batch, as before.

A context variable carries the poll's batch: each companion runs in a task of its own, which
copies the runner's context, so no companion needs a handle on it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

from bpsn.integration.clients.batch import BatchWriter
from bpsn.integration.clients.servicenow import ServiceNowClient

_current: ContextVar[PollBatch | None] = ContextVar("bpsn_poll_batch", default=None)


class PollBatch:
    def __init__(self, servicenow: ServiceNowClient, companions: int, max_items: int = 100) -> None:
        self.batch = BatchWriter(servicenow, max_items)
        self.companions = companions
        self._waiting = 0
        self._finished = 0
        self._round: asyncio.Future[None] | None = None
        self._flushes: set[asyncio.Task[None]] = set()

    @staticmethod
    def current() -> PollBatch | None:
        return _current.get()

    async def send(self) -> None:
        """Wait until the poll's batch, holding what this writer added, has been sent. Raises what
        the send raised (a batch refused whole fails each of its writers)."""
        if self._round is None:
            self._round = asyncio.get_running_loop().create_future()
        this_round = self._round
        self._waiting += 1
        self._flush_when_ready()
        await asyncio.shield(this_round)

    def finished(self) -> None:
        """A companion of the poll is done (written, failed or had nothing to write)."""
        self._finished += 1
        self._flush_when_ready()

    def _flush_when_ready(self) -> None:
        if self._round is None or self._waiting == 0 or self._waiting + self._finished < self.companions:
            return
        this_round, self._round = self._round, None
        self._waiting = 0  # the writers of this round; one that writes again joins the next
        task = asyncio.get_running_loop().create_task(self._flush(this_round))
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def _flush(self, this_round: asyncio.Future[None]) -> None:
        try:
            await self.batch.send()
        except Exception as exc:  # noqa: BLE001 - handed to every writer of the round
            this_round.set_exception(exc)
            return
        this_round.set_result(None)

    @contextlib.contextmanager
    def shared(self) -> Iterator[PollBatch]:
        """Make this the batch of the tasks created inside the block (and of their own tasks)."""
        token = _current.set(self)
        try:
            yield self
        finally:
            _current.reset(token)
