"""Where `bpsn rules` connects, and as whom.

ServiceNow: `BPSN_SERVICENOW_URL`, `BPSN_RULES_USER` / `BPSN_RULES_PASSWORD`. The default is
the demo instance's admin, because saving checks a rule's field names in sys_dictionary, which
only admin may read there; a user with x_bip_panda.admin and x_bip_panda_user can list and test
rules (field names then go unchecked). BigPanda (tag definitions, dry runs; read only): `BPSN_BIGPANDA_URL`
and the user API key `BPSN_BIGPANDA_BEARER_TOKEN`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from bpsn.integration.clients.http import ApiClient, RetryPolicy
from bpsn.integration.clients.servicenow import ServiceNowClient

from .catalog import CatalogError, tag_definitions
from .store import RuleStore


class RulesConnection(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BPSN_", extra="ignore")

    servicenow_url: str = "http://127.0.0.1:8002"
    rules_user: str = "admin"
    rules_password: SecretStr = SecretStr("admin")
    bigpanda_url: str = "http://127.0.0.1:8001"
    bigpanda_bearer_token: SecretStr = SecretStr("BPUdemo-user-key")
    http_timeout: float = 10.0


@dataclass
class RulesSession:
    store: RuleStore
    bigpanda: ApiClient

    async def load_tags(self) -> str | None:
        """Give the store BigPanda's tag definitions; a warning when they cannot be read."""
        try:
            self.store.tags = await tag_definitions(self.bigpanda)
        except (CatalogError, httpx.TransportError) as exc:
            return f"BigPanda's incident tag definitions could not be read, so tag names are not checked: {exc}"
        return None


@contextlib.asynccontextmanager
async def open_rules(settings: RulesConnection | None = None, *,
                     servicenow_transport: httpx.AsyncBaseTransport | None = None,
                     bigpanda_transport: httpx.AsyncBaseTransport | None = None) -> AsyncIterator[RulesSession]:
    s = settings or RulesConnection()
    policy = RetryPolicy(max_attempts=3)
    sn = httpx.AsyncClient(base_url=s.servicenow_url, transport=servicenow_transport, timeout=s.http_timeout,
                           auth=(s.rules_user, s.rules_password.get_secret_value()),
                           headers={"Accept": "application/json"})
    bp = httpx.AsyncClient(base_url=s.bigpanda_url, transport=bigpanda_transport, timeout=s.http_timeout,
                           headers={"Authorization": f"Bearer {s.bigpanda_bearer_token.get_secret_value()}",
                                    "Accept": "application/json"})
    try:
        yield RulesSession(RuleStore(ServiceNowClient(ApiClient(sn, policy=policy))), ApiClient(bp, policy=policy))
    finally:
        await sn.aclose()
        await bp.aclose()
