"""A task that delivers what is due, then waits: woken at once by `_start_or_wake`, else after
`_next_delay()` seconds (None: nothing waits, the task ends). BigPanda's pusher and ServiceNow's
outbound notifications both deliver this way."""

from __future__ import annotations

import asyncio


class DueLoop:
    _task: asyncio.Task[None] | None = None
    _wake: asyncio.Event | None = None

    async def deliver_due(self) -> int:
        raise NotImplementedError

    def _next_delay(self) -> float | None:
        raise NotImplementedError

    def _start_or_wake(self, loop: asyncio.AbstractEventLoop, work_waits: bool) -> None:
        """Wake the running task on `loop`, or start one when work waits."""
        if self._task is not None and not self._task.done() and self._task.get_loop() is loop:
            if self._wake is not None:
                self._wake.set()
            return
        if work_waits:
            self._task = loop.create_task(self._drive())

    async def _drive(self) -> None:
        wake = self._wake = asyncio.Event()
        while True:
            wake.clear()
            await self.deliver_due()
            if wake.is_set():
                continue
            delay = self._next_delay()
            if delay is None:
                return
            try:
                await asyncio.wait_for(wake.wait(), delay)
            except TimeoutError:
                pass
