"""Builds the OIM forwarder: its own HTTP client with the org token (OIM does not take the
user key), on the integrations host, and the ServiceNow client and clock of the core."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from bpsn.base.clock import Clock
from bpsn.base.rng import SeededRandom
from bpsn.integration.changes.lookups import CiLookupGatherer
from bpsn.integration.clients.http import ApiClient, RetryPolicy
from bpsn.integration.clients.lookups import ReferenceCache
from bpsn.integration.clients.servicenow import ServiceNowClient
from bpsn.integration.config.settings import ConnectionSettings

from .client import OimApi
from .events import OimSelection
from .runner import OimForwarder


class OimConnection(BaseSettings):
    """The OIM module's settings, from the environment (BPSN_*). Off until an app key is set."""

    model_config = SettingsConfigDict(env_prefix="BPSN_")

    oim_app_key: SecretStr = SecretStr("")
    oim_url: str = Field("", description="The integrations host (e.g. https://integrations.bigpanda.io); "
                                         "empty: BPSN_BIGPANDA_URL, where the simulator serves OIM too")
    oim_table: str = "incident"
    oim_query: str = Field("correlation_display!=BigPanda", description="AND-only encoded query of the records")
    oim_extra_fields: str = Field("", description="Comma-separated record fields sent as tags too")
    oim_ci_tag: str = "host"
    oim_poll_interval: float = Field(60.0, gt=0)
    oim_lookback_seconds: float = Field(3600.0, ge=0)
    oim_batch: int = Field(100, ge=1, le=1000, description="Records read per page")
    oim_requests_per_second: int = Field(5, ge=1, description="BigPanda's limit: 5 requests a second")

    @property
    def enabled(self) -> bool:
        return bool(self.oim_app_key.get_secret_value())


def build_oim_forwarder(settings: ConnectionSettings, oim: OimConnection, servicenow: ServiceNowClient,
                        clock: Clock, *, transport: httpx.AsyncBaseTransport | None = None, seed: int = 0,
                        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> OimForwarder:
    if not oim.enabled:
        raise ValueError("the OIM app key is not set: set BPSN_OIM_APP_KEY (the simulator's demo key is "
                         "demo-oim-app-key)")
    selection = OimSelection(instance_url=settings.servicenow_url, table=oim.oim_table, query=oim.oim_query,
                             ci_tag=oim.oim_ci_tag,
                             extra_fields=tuple(f.strip() for f in oim.oim_extra_fields.split(",") if f.strip()))
    http = httpx.AsyncClient(
        base_url=oim.oim_url or settings.bigpanda_url, transport=transport,
        timeout=httpx.Timeout(max(settings.http_timeout, 30.0), connect=min(5.0, settings.http_timeout)),
        headers={"Authorization": f"Bearer {settings.bigpanda_api_key.get_secret_value()}",
                 "Accept": "application/json"})
    api = OimApi(ApiClient(http, policy=RetryPolicy(max_attempts=settings.max_attempts), rng=SeededRandom(seed),
                           sleep=sleep), oim.oim_app_key.get_secret_value())
    gatherer = CiLookupGatherer(servicenow, ReferenceCache(servicenow, clock.now))
    return OimForwarder(servicenow, api, gatherer, clock, selection, lookback=oim.oim_lookback_seconds,
                        batch=oim.oim_batch, poll_interval=oim.oim_poll_interval,
                        requests_per_second=oim.oim_requests_per_second, sleep=sleep)
