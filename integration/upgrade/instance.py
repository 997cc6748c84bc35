"""The instance as the upgrade sees it: the Table API, as an instance administrator.

The fix scripts read and remove global system properties, change transform maps and role
grants: on an instance they run as the system during the app upgrade; offline they run as a
user with the `admin` role, `BPSN_UPGRADE_USER` / `BPSN_UPGRADE_PASSWORD` (defaults: the demo
instance's admin) at `BPSN_SERVICENOW_URL`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from bpsn.integration.clients.http import ApiClient, RetryPolicy
from bpsn.integration.clients.servicenow import ServiceNowClient, ServiceNowError


class UpgradeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BPSN_", extra="ignore")

    servicenow_url: str = "http://127.0.0.1:8002"
    upgrade_user: str = "admin"
    upgrade_password: SecretStr = SecretStr("admin")
    http_timeout: float = 10.0


class Instance:
    """The few Table API calls the fix scripts make (ServiceNowClient, plus delete)."""

    def __init__(self, client: ServiceNowClient) -> None:
        self.client = client

    async def rows(self, table: str, query: str, fields: list[str] | None = None) -> list[dict[str, Any]]:
        return await self.client.query_all(table, query, fields=fields)

    async def create(self, table: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.client.create(table, body)

    async def update(self, table: str, sys_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.client.update(table, sys_id, body)

    async def delete(self, table: str, sys_id: str) -> None:
        r = await self.client.api.request("DELETE", f"/api/now/table/{table}/{sys_id}")
        if r.status_code not in (204, 404):  # 404: gone already (a retried delete), which is what we want
            raise ServiceNowError(r)

    async def has_column(self, table: str, column: str) -> bool:
        return bool(await self.client.query("sys_dictionary", f"name={table}^element={column}", ["sys_id"], limit=1))


@contextlib.asynccontextmanager
async def open_instance(settings: UpgradeSettings | None = None, *,
                        transport: httpx.AsyncBaseTransport | None = None) -> AsyncIterator[ServiceNowClient]:
    """A ServiceNow client signed in as the upgrade's administrator."""
    s = settings or UpgradeSettings()
    http = httpx.AsyncClient(base_url=s.servicenow_url, transport=transport, timeout=s.http_timeout,
                             auth=(s.upgrade_user, s.upgrade_password.get_secret_value()),
                             headers={"Accept": "application/json"})
    try:
        yield ServiceNowClient(ApiClient(http, policy=RetryPolicy(max_attempts=3)))
    finally:
        await http.aclose()
