"""Builds a core from connection settings; tests pass transports to run it in-process."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx

from bpsn.base.clock import Clock, SimClock
from bpsn.base.rng import SeededRandom
from bpsn.integration.clients.bigpanda import BigPandaClient
from bpsn.integration.clients.http import ApiClient, Pacer, RetryPolicy
from bpsn.integration.clients.servicenow import ServiceNowClient
from bpsn.integration.config.settings import ConnectionSettings
from bpsn.integration.engine.incidents import IncidentEngine
from bpsn.integration.engine.mapping import IncidentSettings
from bpsn.integration.modules.alert_config import AlertConfigSettings
from bpsn.integration.modules.companions import attach_companions

from .privacy import PrivacyPolicy
from .runner import IntegrationRunner


def build_runner(settings: ConnectionSettings, *, clock: Clock | None = None,
                 bigpanda_transport: httpx.AsyncBaseTransport | None = None,
                 servicenow_transport: httpx.AsyncBaseTransport | None = None,
                 incident_settings: IncidentSettings | None = None, seed: int = 0,
                 pace: bool = True,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 alert_settings: AlertConfigSettings | None = None,
                 privacy: PrivacyPolicy | None = None) -> IntegrationRunner:
    """`sleep` is how the clients wait between retries: a test passes one that moves virtual time.
    The runner comes with its companions: share staging, and the Alert Configuration module's
    records (`alert_settings`, its defaults when not given); `privacy` cleans both directions."""
    timeout = httpx.Timeout(settings.http_timeout, connect=min(5.0, settings.http_timeout))
    policy = RetryPolicy(max_attempts=settings.max_attempts)
    rng = SeededRandom(seed)
    bp_http = httpx.AsyncClient(
        base_url=settings.bigpanda_url, transport=bigpanda_transport, timeout=timeout,
        headers={"Authorization": f"Bearer {settings.bigpanda_bearer_token.get_secret_value()}",
                 "Accept": "application/json"})
    sn_http = httpx.AsyncClient(
        base_url=settings.servicenow_url, transport=servicenow_transport, timeout=timeout,
        auth=(settings.servicenow_user, settings.servicenow_password.get_secret_value()),
        headers={"Accept": "application/json"})
    pacer = Pacer(settings.bigpanda_requests_per_second, settings.bigpanda_burst) if pace else None
    bigpanda = BigPandaClient(ApiClient(bp_http, policy=policy, pacer=pacer, rng=rng, sleep=sleep),
                              settings.incidents_app_key.get_secret_value())
    servicenow = ServiceNowClient(ApiClient(sn_http, policy=policy, rng=rng, sleep=sleep))
    runner = IntegrationRunner(bigpanda, servicenow, IncidentEngine(incident_settings), clock or SimClock(),
                               instance_url=settings.servicenow_url, retrieval_count=settings.retrieval_count,
                               poll_interval=settings.poll_interval, servicenow_user=settings.servicenow_user,
                               write_path=settings.write_path)
    attach_companions(runner, alert_settings or AlertConfigSettings())
    if privacy is not None and (privacy.to_servicenow.active or privacy.to_bigpanda.active):
        runner.protect(privacy)
    return runner


async def close_runner(runner: IntegrationRunner) -> None:
    await runner.settle()
    await runner.bigpanda.api.aclose()
    await runner.servicenow.api.aclose()
