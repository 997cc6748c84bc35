"""The ServiceNow side of the core: the Table API with basic auth."""

from __future__ import annotations

from typing import Any

import httpx

from .http import ApiClient


class ServiceNowError(RuntimeError):
    @classmethod
    def from_status(cls, status_code: int, text: str) -> ServiceNowError:
        """The same error for an answer that came inside a Batch API response."""
        return cls(httpx.Response(status_code, json={"error": {"message": text, "detail": ""}}))

    def __init__(self, response: httpx.Response) -> None:
        try:
            err = response.json().get("error", {})
            text = f"{err.get('message')}: {err.get('detail')}"
        except (ValueError, AttributeError):
            text = response.text[:200]
        super().__init__(f"ServiceNow answered {response.status_code}: {text}")
        self.status_code = response.status_code
        self.text = text


class ServiceNowClient:
    def __init__(self, api: ApiClient) -> None:
        self.api = api

    async def query(self, table: str, query: str, fields: list[str] | None = None,
                    limit: int = 100) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"sysparm_query": query, "sysparm_limit": limit,
                                  "sysparm_exclude_reference_link": "true", "sysparm_no_count": "true"}
        if fields:
            params["sysparm_fields"] = ",".join(fields)
        r = await self.api.request("GET", f"/api/now/table/{table}", params=params)
        if r.status_code != 200:
            raise ServiceNowError(r)
        return list(r.json()["result"])

    async def get(self, table: str, sys_id: str) -> dict[str, Any] | None:
        r = await self.api.request("GET", f"/api/now/table/{table}/{sys_id}",
                                   params={"sysparm_exclude_reference_link": "true"})
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise ServiceNowError(r)
        return dict(r.json()["result"])

    async def create(self, table: str, body: dict[str, Any]) -> dict[str, Any]:
        r = await self.api.request("POST", f"/api/now/table/{table}", json=body,
                                   params={"sysparm_exclude_reference_link": "true"})
        if r.status_code != 201:
            raise ServiceNowError(r)
        return dict(r.json()["result"])

    async def update(self, table: str, sys_id: str, body: dict[str, Any]) -> dict[str, Any]:
        r = await self.api.request("PATCH", f"/api/now/table/{table}/{sys_id}", json=body,
                                   params={"sysparm_exclude_reference_link": "true"})
        if r.status_code != 200:
            raise ServiceNowError(r)
        return dict(r.json()["result"])

    async def query_all(self, table: str, query: str, fields: list[str] | None = None,
                        page_size: int = 500) -> list[dict[str, Any]]:
        """Every match of `query` (put ORDERBY in it for a stable order), page by page."""
        params: dict[str, Any] = {"sysparm_query": query, "sysparm_limit": page_size,
                                  "sysparm_exclude_reference_link": "true", "sysparm_no_count": "true"}
        if fields:
            params["sysparm_fields"] = ",".join(fields)
        rows: list[dict[str, Any]] = []
        while True:
            r = await self.api.request("GET", f"/api/now/table/{table}",
                                       params={**params, "sysparm_offset": len(rows)})
            if r.status_code != 200:
                raise ServiceNowError(r)
            page = list(r.json()["result"])
            rows += page
            if len(page) < page_size:
                return rows
