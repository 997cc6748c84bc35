"""The BigPanda side of the core: share retrieval, callbacks, and V2 incident actions
(resolve, comment, snooze, unsnooze) for changes made in ServiceNow."""

from __future__ import annotations

from collections.abc import Callable
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
        self.outbound: Callable[[Any], Any] | None = None  # cleans every JSON body (privacy policy)
        # the configuration's Retrieval / Callback Endpoint: whole URLs (httpx leaves an absolute URL
        # alone), else these paths on the base URL
        self.shares_url = "/integrations/v3/servicenow/shares"
        self.callbacks_url = "/integrations/v3/servicenow/callbacks"

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if self.outbound is not None and kwargs.get("json") is not None:
            kwargs["json"] = self.outbound(kwargs["json"])
        return await self.api.request(method, path, **kwargs)

    def _headers(self) -> dict[str, str]:
        return {"x-bp-app-key": self.app_key}

    async def retrieve_shares(self, limit: int) -> tuple[list[dict[str, Any]], bool]:
        url = httpx.URL(self.shares_url)  # a whole URL's own query stays: httpx would replace it with params
        r = await self._request("GET", str(url.copy_with(query=None)), params={**dict(url.params), "limit": limit},
                                   headers=self._headers())
        if r.status_code != 200:
            raise BigPandaError(r)
        body = r.json()
        return body["shares"], bool(body.get("has_more"))

    async def send_callbacks(self, results: list[dict[str, Any]]) -> dict[str, Any]:
        r = await self._request("POST", self.callbacks_url, json={"results": results},
                                   headers=self._headers())
        if r.status_code != 200:
            raise BigPandaError(r)
        return r.json()

    # --- incidents API V2 (user key: the client's bearer) -------------------------------------
    @staticmethod
    def _incident_path(environment_id: str, incident_id: str) -> str:
        return f"/resources/v2.0/environments/{environment_id}/incidents/{incident_id}"

    async def environments(self) -> list[dict[str, Any]]:
        r = await self._request("GET", "/resources/v2.0/environments")
        if r.status_code != 200:
            raise BigPandaError(r)
        return list(r.json())

    async def resolve_incident(self, environment_id: str, incident_id: str, comments: str) -> bool:
        """True when resolved now; False when it was already resolved (409)."""
        r = await self._request("POST", self._incident_path(environment_id, incident_id) + "/resolve",
                                   json={"comments": comments})
        if r.status_code == 409:
            return False
        if r.status_code not in (200, 202, 204):
            raise BigPandaError(r)
        return True

    async def comment_incident(self, environment_id: str, incident_id: str, comment: str) -> None:
        r = await self._request("POST", self._incident_path(environment_id, incident_id) + "/comments",
                                   json={"comment": comment})
        if r.status_code not in (200, 201, 204):
            raise BigPandaError(r)

    async def snooze_incident(self, environment_id: str, incident_id: str, end_time: int, comment: str = "",
                              cancel_on_incident_updates: bool = False) -> None:
        r = await self._request("PUT", self._incident_path(environment_id, incident_id) + "/snooze",
                                   json={"end_time": int(end_time), "comment": comment,
                                         "cancel_on_incident_updates": cancel_on_incident_updates})
        if r.status_code not in (200, 201, 202, 204):
            raise BigPandaError(r)

    async def unsnooze_incident(self, environment_id: str, incident_id: str) -> None:
        r = await self._request("DELETE", self._incident_path(environment_id, incident_id) + "/snooze")
        if r.status_code not in (200, 202, 204):
            raise BigPandaError(r)

    # --- incident tags ---------------------------------------------------------------------------
    async def tag_definitions(self) -> list[dict[str, Any]]:
        r = await self._request("GET", "/resources/v2.0/incidents/tags/definitions")
        if r.status_code != 200:
            raise BigPandaError(r)
        return list(r.json())

    async def set_incident_tags(self, environment_id: str, incident_id: str, values: dict[str, str]) -> None:
        """Several tags (tag id -> value) in one call."""
        r = await self._request("POST", self._incident_path(environment_id, incident_id) + "/tags",
                                   json=[{"tag_id": k, "tag_value": v} for k, v in values.items()])
        if r.status_code not in (200, 201, 204):
            raise BigPandaError(r)

    async def remove_incident_tag(self, environment_id: str, incident_id: str, tag_id: str) -> None:
        r = await self._request("DELETE", self._incident_path(environment_id, incident_id) + f"/tags/{tag_id}")
        if r.status_code == 404:
            return  # already gone
        if r.status_code not in (200, 202, 204):
            raise BigPandaError(r)
