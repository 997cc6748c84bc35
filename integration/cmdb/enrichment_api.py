"""BigPanda's mapping-enrichment API as the CMDB sync uses it: v2.1 maps and deltas (user API
key), v1 CSV uploads and their jobs (org token). Every call goes through the 429 backoff
(backoff.py) on top of the ApiClient's own retries, and is counted: requests and request-body
bytes, retries included, so the sync reports what it really sent."""

from __future__ import annotations

import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from bpsn.integration.clients.http import ApiClient

from .backoff import ThrottleBackoff
from .planner import Delta

V2 = "/resources/v2.1/mapping-enrichment"


class EnrichmentError(RuntimeError):
    def __init__(self, what: str, response: httpx.Response) -> None:
        try:
            errors = response.json().get("errors", [])
        except (ValueError, AttributeError):
            errors = [response.text[:200]]
        super().__init__(f"{what}: BigPanda answered {response.status_code}: {'; '.join(map(str, errors))}")
        self.status_code = response.status_code


class StaleMap(EnrichmentError):
    """The map is gone on BigPanda's side (deleted there): re-create it and resend in full."""


class Throttled(EnrichmentError):
    """Still 429 after every retry and every backoff step."""


@dataclass
class Traffic:
    requests: int = 0
    bytes_sent: int = 0
    backoffs: list[float] = field(default_factory=list)  # the 429 backoffs taken, in seconds

    def snapshot(self) -> Traffic:
        return Traffic(self.requests, self.bytes_sent, list(self.backoffs))

    def since(self, before: Traffic) -> Traffic:
        return Traffic(self.requests - before.requests, self.bytes_sent - before.bytes_sent,
                       self.backoffs[len(before.backoffs):])


@dataclass(frozen=True)
class MapInfo:
    id: str
    name: str


class EnrichmentApi:
    def __init__(self, api: ApiClient, backoff: ThrottleBackoff, rng: random.Random,
                 sleep: Callable[[float], Awaitable[None]]) -> None:
        self.api, self.backoff, self.rng, self._sleep = api, backoff, rng, sleep
        self.traffic = Traffic()

    async def _call(self, method: str, url: str, *, body: bytes = b"", content_type: str = "application/json",
                    params: dict[str, str] | None = None) -> httpx.Response:
        headers = {"Content-Type": content_type} if body else {}
        throttled = 0
        while True:
            before = self.api.requests
            response = await self.api.request(method, url, content=body or None, headers=headers, params=params)
            attempts = self.api.requests - before
            self.traffic.requests += attempts
            self.traffic.bytes_sent += attempts * len(body)
            if response.status_code != 429:
                return response
            wait = self.backoff.delay(throttled, self.rng)
            if wait is None:
                raise Throttled(f"{method} {url}", response)
            throttled += 1
            self.traffic.backoffs.append(wait)
            await self._sleep(wait)

    @staticmethod
    def _json(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()

    # --- v2.1 maps -------------------------------------------------------------------------------
    async def list_maps(self) -> list[MapInfo]:
        r = await self._call("GET", V2)
        if r.status_code != 200:
            raise EnrichmentError("listing the mapping-enrichment maps", r)
        return [MapInfo(m["id"], m["name"]) for m in r.json()["maps"]]

    async def create_map(self, name: str, key_fields: list[str]) -> MapInfo | None:
        """The new map; None when a map of that name exists already (409)."""
        r = await self._call("POST", V2, body=self._json({"name": name, "key_fields": key_fields}))
        if r.status_code == 409:
            return None
        if r.status_code != 201:
            raise EnrichmentError(f"creating map {name}", r)
        body = r.json()
        return MapInfo(body["id"], body["name"])

    async def send_delta(self, map_id: str, delta: Delta) -> dict[str, int]:
        body = {"upserts": [{"key": u.key, "hash": u.hash, "row": u.row} for u in delta.upserts],
                "deletes": list(delta.deletes)}
        r = await self._call("POST", f"{V2}/{map_id}/delta", body=self._json(body))
        if r.status_code == 404:
            raise StaleMap(f"sending a delta to map {map_id}", r)
        if r.status_code != 200:
            raise EnrichmentError(f"sending a delta to map {map_id}", r)
        return dict(r.json())

    # --- v1 CSV upload and jobs ----------------------------------------------------------------------
    async def upload_csv(self, map_id: str, csv_body: bytes, key_fields: list[str]) -> str:
        """Starts the upload job; returns where to poll it (the Location header)."""
        r = await self._call("POST", f"/resources/v1.0/enrichments/{map_id}/map", body=csv_body,
                             content_type="text/csv", params={"key": ",".join(key_fields)})
        if r.status_code != 202 or not r.headers.get("location"):
            raise EnrichmentError(f"uploading the CSV of {map_id}", r)
        return r.headers["location"]

    async def job(self, location: str) -> dict[str, Any]:
        r = await self._call("GET", location)
        if r.status_code != 200:
            raise EnrichmentError(f"reading job {location}", r)
        return dict(r.json())

    async def aclose(self) -> None:
        await self.api.aclose()
