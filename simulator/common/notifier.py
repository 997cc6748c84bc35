"""Wakes long-poll waiters when simulator state changes, without polling at intervals."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class ChangeNotifier:
    def __init__(self) -> None:
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self.version = 0

    def notify(self) -> None:
        """Safe from any thread: each waiter is woken on its own loop."""
        self.version += 1
        for loop, event in list(self._waiters):
            if loop.is_closed():
                self._waiters.discard((loop, event))
                continue
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                event.set()
            else:
                loop.call_soon_threadsafe(event.set)

    async def wait_for(self, check: Callable[[], T | None], timeout: float) -> T | None:
        """Return check()'s first truthy result, or None after `timeout` real seconds."""
        deadline = time.monotonic() + timeout
        loop = asyncio.get_running_loop()
        while True:
            event = asyncio.Event()
            key = (loop, event)
            self._waiters.add(key)
            try:
                result = check()
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                try:
                    await asyncio.wait_for(event.wait(), remaining)
                except TimeoutError:
                    pass
            finally:
                self._waiters.discard(key)
