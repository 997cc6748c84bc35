"""What both API clients share: pacing under a request rate, and retries with backoff.

Retries cover 429, 5xx, timeouts and dropped connections, with exponential backoff and
full jitter, honouring Retry-After when the server sends one.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

RETRY_STATUSES = {429, 500, 502, 503, 504}
log = logging.getLogger("bpsn.integration.retry")


class Pacer:
    """At most `burst` requests in any `burst / rate` seconds as the server counts them, on real time.

    A server stamps a request somewhere between its sending and its answer, so each request holds
    its place in the window from when it leaves until `burst / rate` seconds after its answer came
    back. Request n + burst then reaches the server at least a full window after request n did,
    whatever the network delay: no 429 of our own making, with no margin to guess. With rate 5
    and burst 5 (BigPanda's 5 in any second) a retrieval and its callback leave back to back and
    the average is 5 per (1 s + the answer time); burst=1 spaces requests 1 / rate apart.
    Callers are served in order (asyncio.Lock is first come, first served)."""

    def __init__(self, rate: float, burst: int = 1, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"pacing needs a positive rate and a burst of at least 1 (got {rate}, {burst})")
        self.rate, self.burst = rate, burst
        self.window = burst / rate
        self._answers: deque[float] = deque()  # when the requests of the last window were answered
        self._clock, self._sleep = clock, sleep
        self._lock = asyncio.Lock()
        self._in_flight = 0
        self._answered = asyncio.Event()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a place in the window for one request: `async with pacer.slot(): send it`."""
        async with self._lock:
            while True:
                now = self._clock()
                while self._answers and self._answers[0] + self.window <= now:
                    self._answers.popleft()
                if self._in_flight + len(self._answers) < self.burst:
                    break
                if self._answers:  # the oldest answer leaves the window first
                    await self._sleep(self._answers[0] + self.window - now)
                else:  # every place is held by a request still out
                    self._answered.clear()
                    await self._answered.wait()
            self._in_flight += 1
        try:
            yield
        finally:
            self._in_flight -= 1
            self._answers.append(self._clock())
            self._answered.set()


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
            self.requests += 1
            try:
                if self.pacer is None:
                    response = await self.http.request(method, url, **kwargs)  # type: ignore[arg-type]
                else:
                    async with self.pacer.slot():
                        response = await self.http.request(method, url, **kwargs)  # type: ignore[arg-type]
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                last_error, retry_after, reason = exc, None, type(exc).__name__
            else:
                if response.status_code not in RETRY_STATUSES:
                    return response
                if response.status_code == 429:
                    self.throttled += 1
                last_error, retry_after, reason = None, retry_after_seconds(response), str(response.status_code)
                if attempt == self.policy.max_attempts - 1:
                    return response
            await self.pause(attempt, retry_after, f"{method} {url.split('?', 1)[0]} reason={reason}")
        assert last_error is not None
        raise last_error

    async def pause(self, attempt: int, retry_after: float | None = None, what: str = "") -> None:
        """The wait before retry number `attempt + 1` (also for retries made above this client);
        `what` is logged: the request (method and path, never its query, which may hold a key) and why."""
        self.retries += 1
        wait = self.policy.backoff(attempt, self.rng, retry_after)
        if attempt + 1 < self.policy.max_attempts:  # a retry follows (the last failure's wait leads to none)
            log.info("retry: %s attempt=%d/%d wait=%.2fs", what or "request", attempt + 2, self.policy.max_attempts,
                     wait)
        await self._sleep(wait)

    async def aclose(self) -> None:
        await self.http.aclose()
