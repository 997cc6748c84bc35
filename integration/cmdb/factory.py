"""Builds the CMDB sync and the v1 exporter from connection settings; tests pass transports
(in-process simulators) and a `sleep` that moves a virtual clock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx

from bpsn.base.clock import Clock, SimClock
from bpsn.base.rng import SeededRandom
from bpsn.integration.clients.http import ApiClient, Pacer
from bpsn.integration.clients.servicenow import ServiceNowClient
from bpsn.integration.config.settings import ConnectionSettings

from .backoff import FixedIntervalRetry, ThrottleBackoff
from .enrichment_api import EnrichmentApi
from .export_v1 import V1Exporter
from .settings import CmdbSettings
from .state import SyncStateStore
from .sync import CmdbSync

Sleep = Callable[[float], Awaitable[None]]


class _Clients:
    def __init__(self, connection: ConnectionSettings, settings: CmdbSettings, clock: Clock, rng: SeededRandom,
                 sleep: Sleep, pace: bool, bigpanda_transport: httpx.AsyncBaseTransport | None,
                 servicenow_transport: httpx.AsyncBaseTransport | None) -> None:
        self.connection, self.settings, self.clock, self.rng, self.sleep = connection, settings, clock, rng, sleep
        self.pace, self.bigpanda_transport = pace, bigpanda_transport
        self.policy = FixedIntervalRetry(max_attempts=settings.max_retries + 1, interval=settings.retry_interval,
                                         jitter=settings.backoff_jitter)
        self.timeout = httpx.Timeout(connection.http_timeout, connect=min(5.0, connection.http_timeout))
        sn_http = httpx.AsyncClient(
            base_url=connection.servicenow_url, transport=servicenow_transport, timeout=self.timeout,
            auth=(connection.servicenow_user, connection.servicenow_password.get_secret_value()),
            headers={"Accept": "application/json"})
        self.servicenow = ServiceNowClient(ApiClient(sn_http, policy=self.policy, rng=rng, sleep=sleep))

    def bigpanda(self, token: str) -> EnrichmentApi:
        http = httpx.AsyncClient(base_url=self.connection.bigpanda_url, transport=self.bigpanda_transport,
                                 timeout=self.timeout,
                                 headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
        pacer = (Pacer(self.connection.bigpanda_requests_per_second, self.connection.bigpanda_burst, clock=self.clock.now, sleep=self.sleep)
                 if self.pace else None)
        api = ApiClient(http, policy=self.policy, pacer=pacer, rng=self.rng, sleep=self.sleep)
        s = self.settings
        return EnrichmentApi(api, ThrottleBackoff(s.throttle_backoff, s.backoff_jitter), self.rng, self.sleep)


def build_cmdb_sync(connection: ConnectionSettings, settings: CmdbSettings | None = None, *,
                    clock: Clock | None = None, seed: int = 0, pace: bool = True, sleep: Sleep = asyncio.sleep,
                    bigpanda_transport: httpx.AsyncBaseTransport | None = None,
                    servicenow_transport: httpx.AsyncBaseTransport | None = None) -> CmdbSync:
    """The v2 delta sync: BigPanda with the user API key (the bearer token)."""
    settings, clock = settings or CmdbSettings(), clock or SimClock()
    c = _Clients(connection, settings, clock, SeededRandom(seed), sleep, pace, bigpanda_transport,
                 servicenow_transport)
    bigpanda = c.bigpanda(connection.bigpanda_bearer_token.get_secret_value())

    async def close() -> None:
        await bigpanda.aclose()
        await c.servicenow.api.aclose()
    return CmdbSync(SyncStateStore(c.servicenow, c.rng), bigpanda, settings, clock, close=close)


def build_v1_exporter(connection: ConnectionSettings, settings: CmdbSettings | None = None, *,
                      clock: Clock | None = None, seed: int = 0, pace: bool = True, sleep: Sleep = asyncio.sleep,
                      bigpanda_transport: httpx.AsyncBaseTransport | None = None,
                      servicenow_transport: httpx.AsyncBaseTransport | None = None) -> V1Exporter:
    """The v1 full export: BigPanda with the org token (the API key)."""
    settings, clock = settings or CmdbSettings(), clock or SimClock()
    c = _Clients(connection, settings, clock, SeededRandom(seed), sleep, pace, bigpanda_transport,
                 servicenow_transport)
    bigpanda = c.bigpanda(connection.bigpanda_api_key.get_secret_value())

    async def close() -> None:
        await bigpanda.aclose()
        await c.servicenow.api.aclose()
    return V1Exporter(c.servicenow, bigpanda, settings, sleep, close=close)
