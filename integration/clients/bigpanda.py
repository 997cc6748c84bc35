"""The BigPanda side of the core: share retrieval, callbacks, incident reads."""

from __future__ import annotations

from typing import Any

import httpx

from .http import ApiClient


class BigPandaError(RuntimeError):
    def __init__(self, response: httpx.Response) -> None:
        try:
            errors = response.json().get("errors", [])
        except ValueError:
            errors = [response.text[:200]]
        super().__init__(f"BigPanda answered {response.status_code}: {'; '.join(map(str, errors))}")
        self.status_code = response.status_code


class BigPandaClient:
    def __init__(self, api: ApiClient, incidents_app_key: str) -> None:
        self.api = api
        self.app_key = incidents_app_key

    def _headers(self) -> dict[str, str]:
        return {"x-bp-app-key": self.app_key}

    async def retrieve_shares(self, limit: int) -> tuple[list[dict[str, Any]], bool]:
        r = await self.api.request("GET", "/integrations/v3/servicenow/shares", params={"limit": limit},
                                   headers=self._headers())
        if r.status_code != 200:
            raise BigPandaError(r)
        body = r.json()
        return body["shares"], bool(body.get("has_more"))

    async def send_callbacks(self, results: list[dict[str, Any]]) -> dict[str, Any]:
        r = await self.api.request("POST", "/integrations/v3/servicenow/callbacks", json={"results": results},
                                   headers=self._headers())
        if r.status_code != 200:
            raise BigPandaError(r)
        return r.json()
