"""What both API clients share: pacing under a request rate, and retries with backoff.

Retries cover 429, 5xx, timeouts and dropped connections, with exponential backoff and
full jitter, honouring Retry-After when the server sends one.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

RETRY_STATUSES = {429, 500, 502, 503, 504}


class Pacer:
    """Spaces requests at most `rate` per second (a token bucket of size 1, on real time)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.interval = 1.0 / rate
        self._clock, self._sleep = clock, sleep
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            now = self._clock()
            delay = self._next - now
            self._next = max(now, self._next) + self.interval
        if delay > 0:
            await self._sleep(delay)


@dataclass
class RetryPolicy:
    max_attempts: int = 6
    base: float = 0.25
    cap: float = 30.0

    def backoff(self, attempt: int, rng: random.Random, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.cap) + rng.uniform(0, self.base)
        return rng.uniform(0, min(self.cap, self.base * 2 ** attempt))


def retry_after_seconds(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class ApiClient:
    def __init__(self, client: httpx.AsyncClient, *, policy: RetryPolicy | None = None,
                 pacer: Pacer | None = None, rng: random.Random | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.http = client
        self.policy = policy or RetryPolicy()
        self.pacer = pacer
        self.rng = rng or random.Random(0)
        self._sleep = sleep
        self.requests = 0
        self.retries = 0
        self.throttled = 0

    async def request(self, method: str, url: str, **kwargs: object) -> httpx.Response:
        last_error: Exception | None = None
        for attempt in range(self.policy.max_attempts):
            if self.pacer is not None:
                await self.pacer.wait()
            self.requests += 1
            try:
                response = await self.http.request(method, url, **kwargs)  # type: ignore[arg-type]
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                last_error, retry_after = exc, None
            else:
                if response.status_code not in RETRY_STATUSES:
                    return response
                if response.status_code == 429:
                    self.throttled += 1
                last_error, retry_after = None, retry_after_seconds(response)
                if attempt == self.policy.max_attempts - 1:
                    return response
            await self.pause(attempt, retry_after)
        assert last_error is not None
        raise last_error

    async def pause(self, attempt: int, retry_after: float | None = None) -> None:
        """The wait before retry number `attempt + 1` (also for retries made above this client)."""
        self.retries += 1
        await self._sleep(self.policy.backoff(attempt, self.rng, retry_after))

    async def aclose(self) -> None:
        await self.http.aclose()
