"""Cached lookups, so a new incident costs few requests.

`ReferenceCache`: ServiceNow records by a key field (users by email, groups by name, CIs by
name) and back (sys_id -> display name). Misses of one call are fetched together with one
`IN` query per table; answers, including "no such record", are kept for `ttl` seconds on the
core's clock, so a group created later is found after at most one TTL.

`TagDirectory`: BigPanda incident tag definitions, name <-> id, listed once and listed again
when a name or id is not known.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from .bigpanda import BigPandaClient
from .servicenow import ServiceNowClient

# The field a reference is looked up by, per table (the display field unless users say email).
KEY_FIELDS = {"sys_user": "email", "sys_user_group": "name", "cmdb_ci": "name", "cmdb_ci_service": "name",
              "cmn_location": "name", "change_request": "number", "incident": "number"}
NAME_FIELDS = {"sys_user": "name", "change_request": "number", "incident": "number"}


class ReferenceCache:
    def __init__(self, servicenow: ServiceNowClient, now: Callable[[], float], ttl: float = 600.0) -> None:
        self.servicenow, self._now, self.ttl = servicenow, now, ttl
        self._by_key: dict[tuple[str, str, str], tuple[str, float]] = {}  # (table, field, key) -> sys_id
        self._by_id: dict[tuple[str, str], tuple[str, float]] = {}  # (table, sys_id) -> display name
        self._inflight: dict[tuple[str, str, str], asyncio.Event] = {}  # keys being fetched now
        self.queries = 0

    def _fresh(self, at: float) -> bool:
        return self._now() - at < self.ttl

    async def sys_ids(self, table: str, keys: Iterable[str], field: str = "") -> dict[str, str]:
        """key -> sys_id for every key that names a record (by `field`, default KEY_FIELDS)."""
        field = field or KEY_FIELDS.get(table, "name")
        wanted = {k for k in keys if k and "," not in k and "^" not in k}
        missing = [k for k in wanted if not ((hit := self._by_key.get((table, field, k))) and self._fresh(hit[1]))]
        # keys another call is fetching now are awaited, not fetched again (companions ask at once)
        others = {self._inflight[(table, field, k)] for k in missing if (table, field, k) in self._inflight}
        mine = [k for k in missing if (table, field, k) not in self._inflight]
        if mine:
            done = asyncio.Event()
            for key in mine:
                self._inflight[(table, field, key)] = done
            try:
                await self._fetch(table, field, mine)
            finally:
                for key in mine:
                    del self._inflight[(table, field, key)]
                done.set()
        for event in others:
            await event.wait()
        out = {k: hit[0] for k in wanted if (hit := self._by_key.get((table, field, k)))}
        return {k: v for k, v in out.items() if v}

    async def _fetch(self, table: str, field: str, keys: list[str]) -> None:
        self.queries += 1
        name_field = NAME_FIELDS.get(table, "name")
        rows = await self.servicenow.query(table, f"{field}IN{','.join(sorted(keys))}",
                                           fields=["sys_id", field, name_field], limit=len(keys) * 2)
        now = self._now()
        found = {str(r.get(field, "")): r for r in rows}
        for key in keys:
            row = found.get(key)
            self._by_key[(table, field, key)] = (row["sys_id"] if row else "", now)
            if row:
                self._by_id[(table, row["sys_id"])] = (str(row.get(name_field, "")), now)

    def remember(self, table: str, key: str, sys_id: str, field: str = "", name: str = "") -> None:
        """A record the core just created: found from now on, not after the TTL of a miss."""
        now = self._now()
        self._by_key[(table, field or KEY_FIELDS.get(table, "name"), key)] = (sys_id, now)
        self._by_id[(table, sys_id)] = (name or key, now)

    async def names(self, table: str, sys_ids: Iterable[str]) -> dict[str, str]:
        """sys_id -> display name."""
        wanted = {s for s in sys_ids if s and "," not in s and "^" not in s}
        missing = [s for s in wanted if not ((hit := self._by_id.get((table, s))) and self._fresh(hit[1]))]
        if missing:
            self.queries += 1
            name_field = NAME_FIELDS.get(table, "name")
            rows = await self.servicenow.query(table, f"sys_idIN{','.join(sorted(missing))}",
                                               fields=["sys_id", name_field], limit=len(missing))
            now = self._now()
            for row in rows:
                self._by_id[(table, row["sys_id"])] = (str(row.get(name_field, "")), now)
            for s in missing:
                self._by_id.setdefault((table, s), ("", now))
        return {s: self._by_id[(table, s)][0] for s in wanted if self._by_id[(table, s)][0]}


class TagDirectory:
    def __init__(self, bigpanda: BigPandaClient) -> None:
        self.bigpanda = bigpanda
        self._by_name: dict[str, str] = {}
        self._by_id: dict[str, str] = {}
        self._unknown: set[str] = set()  # ids and names still unknown after a fresh listing
        self._listed = False

    async def _list(self) -> None:
        definitions: list[dict[str, Any]] = await self.bigpanda.tag_definitions()
        self._by_id = {str(d["id"]): str(d["name"]) for d in definitions}
        self._by_name = {name: tag_id for tag_id, name in self._by_id.items()}
        self._listed = True
        self._unknown.clear()

    async def named(self, incident_tags: list[dict[str, Any]]) -> dict[str, str]:
        """A share's `incident_tags` ([{tag_id, value}]) as name -> value."""
        ids = {str(t.get("tag_id", "")) for t in incident_tags}
        new = {i for i in ids if i not in self._by_id and i not in self._unknown}
        if ids and (not self._listed or new):
            await self._list()
            self._unknown |= {i for i in ids if i not in self._by_id}
        return {self._by_id.get(str(t.get("tag_id", "")), str(t.get("tag_id", ""))): str(t.get("value", ""))
                for t in incident_tags}

    @property
    def by_id(self) -> dict[str, str]:
        """tag id -> name, as far as listed."""
        return dict(self._by_id)

    async def tag_id(self, name: str) -> str | None:
        if name not in self._by_name and name not in self._unknown:
            await self._list()
            if name not in self._by_name:
                self._unknown.add(name)
        return self._by_name.get(name)
