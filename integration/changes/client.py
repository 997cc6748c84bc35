"""BigPanda's changes API and maintenance plans v2, both with the user API key.

`POST /data/changes` also takes the changes app key in `x-bp-app-key`. Errors raise
`BigPandaError` (status code and BigPanda's messages); retries on 429 / 5xx happen below, in
the shared ApiClient.
"""

from __future__ import annotations

from typing import Any

from bpsn.integration.clients.bigpanda import BigPandaError
from bpsn.integration.clients.http import ApiClient

PLANS = "/resources/v2.0/maintenance-plans"
PAGE = 100


class ChangesApi:
    def __init__(self, api: ApiClient, changes_app_key: str) -> None:
        if not changes_app_key:
            raise ValueError("the changes app key is empty: set BPSN_CHANGES_APP_KEY")
        self.api = api
        self.app_key = changes_app_key

    async def upsert_change(self, body: dict[str, Any]) -> None:
        r = await self.api.request("POST", "/data/changes", json=body, headers={"x-bp-app-key": self.app_key})
        if r.status_code not in (200, 201, 204):
            raise BigPandaError(r)

    async def maintenance_plans(self) -> list[dict[str, Any]]:
        """Every plan of the organisation, oldest first."""
        plans: list[dict[str, Any]] = []
        page = 1
        while True:
            r = await self.api.request("GET", PLANS, params={"page": page, "per_page": PAGE})
            if r.status_code != 200:
                raise BigPandaError(r)
            body = r.json()
            plans += body["items"]
            if not body["items"] or len(plans) >= int(body.get("total", 0)):
                return plans
            page += 1

    async def create_plan(self, body: dict[str, Any]) -> dict[str, Any]:
        r = await self.api.request("POST", PLANS, json=body)
        if r.status_code not in (200, 201):
            raise BigPandaError(r)
        return dict(r.json())

    async def update_plan(self, plan_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        r = await self.api.request("PATCH", f"{PLANS}/{plan_id}", json=fields)
        if r.status_code != 200:
            raise BigPandaError(r)
        return dict(r.json())

    async def stop_plan(self, plan_id: str) -> dict[str, Any]:
        r = await self.api.request("POST", f"{PLANS}/{plan_id}/stop")
        if r.status_code != 200:
            raise BigPandaError(r)
        return dict(r.json())

    async def delete_plan(self, plan_id: str) -> None:
        r = await self.api.request("DELETE", f"{PLANS}/{plan_id}")
        if r.status_code not in (200, 204, 404):  # 404: gone already, which is what was wanted
            raise BigPandaError(r)
