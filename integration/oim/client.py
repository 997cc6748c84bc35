"""The OIM APIs, with the org token: configuration (`/configurations/alerts/oim/{app_key}`)
and alerts (`POST /oim/api/alerts`, bodies already encoded by batching.py)."""

from __future__ import annotations

from typing import Any

from bpsn.integration.clients.bigpanda import BigPandaError
from bpsn.integration.clients.http import ApiClient


class OimApi:
    def __init__(self, api: ApiClient, app_key: str) -> None:
        if not app_key:
            raise ValueError("the OIM app key is empty: set BPSN_OIM_APP_KEY to forward records through OIM")
        self.api = api
        self.app_key = app_key

    def _config_path(self) -> str:
        return f"/configurations/alerts/oim/{self.app_key}"

    async def get_config(self) -> dict[str, Any] | None:
        """The stored configuration, or None when the integration has none yet (404)."""
        r = await self.api.request("GET", self._config_path())
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise BigPandaError(r)
        return dict(r.json())

    async def put_config(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create or update (BigPanda answers 200 with what it stored)."""
        r = await self.api.request("POST", self._config_path(), json=body)
        if r.status_code not in (200, 201):
            raise BigPandaError(r)
        return dict(r.json())

    async def send_alerts(self, body: bytes) -> int:
        """POST one encoded body; the status (201, or 204 when nothing changed)."""
        r = await self.api.request("POST", "/oim/api/alerts", content=body,
                                   headers={"Content-Type": "application/json; charset=utf-8"})
        if r.status_code not in (200, 201, 202, 204):
            raise BigPandaError(r)
        return r.status_code
