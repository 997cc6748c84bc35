"""The CMDB sync's memory, kept in ServiceNow (x_bip_panda_cmdb_sync) like the rest of the
core's state, so a restarted core resumes where it stopped.

Two kinds of records per map (`u_map_name` = snow_cmdb_<table>):
* `u_kind=map`: the BigPanda map id, the cursor of the cycle in progress (the last sys_id a
  pass read; "" at the start of a cycle) and when a cycle last completed;
* `u_kind=hashes`: one per sys_id prefix (`u_key_prefix`): `{sys_id: hash}` as JSON, with the
  map id they were sent to (planner.HashBucket).
Records are created with a sys_id chosen here, so a create retried after a lost answer
finds its first attempt instead of making a twin.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, replace

from bpsn.integration.clients.servicenow import ServiceNowClient, ServiceNowError

from .planner import HashBucket

TABLE = "x_bip_panda_cmdb_sync"
MAP_FIELDS = ["sys_id", "u_map_name", "u_map_id", "u_cursor", "u_cycle_completed_on"]
BUCKET_FIELDS = ["sys_id", "u_key_prefix", "u_map_id", "u_hashes"]


@dataclass(frozen=True)
class MapRecord:
    map_name: str
    map_id: str = ""  # "" until the map is created on BigPanda
    cursor: str = ""
    cycle_completed_on: str = ""  # ServiceNow time (UTC) the last full cycle ended
    sys_id: str = ""


class SyncStateStore:
    def __init__(self, servicenow: ServiceNowClient, rng: random.Random) -> None:
        self.servicenow = servicenow
        self.rng = rng

    async def load_map(self, map_name: str) -> MapRecord:
        rows = await self.servicenow.query(TABLE, f"u_map_name={map_name}^u_kind=map^ORDERBYsys_created_on",
                                           fields=MAP_FIELDS, limit=1)
        if not rows:
            return MapRecord(map_name)
        row = rows[0]
        return MapRecord(map_name, row["u_map_id"], row["u_cursor"], row["u_cycle_completed_on"], row["sys_id"])

    async def save_map(self, record: MapRecord) -> MapRecord:
        body = {"u_map_id": record.map_id, "u_cursor": record.cursor,
                "u_cycle_completed_on": record.cycle_completed_on}
        if record.sys_id:
            await self.servicenow.update(TABLE, record.sys_id, body)
            return record
        sys_id = await self._create({"u_map_name": record.map_name, "u_kind": "map", **body})
        return replace(record, sys_id=sys_id)

    async def load_buckets(self, map_name: str, lowest: str | None, highest: str | None) -> list[HashBucket]:
        query = f"u_map_name={map_name}^u_kind=hashes"
        if lowest is not None:
            query += f"^u_key_prefix>={lowest}"
        if highest is not None:
            query += f"^u_key_prefix<={highest}"
        rows = await self.servicenow.query_all(TABLE, query + "^ORDERBYu_key_prefix", fields=BUCKET_FIELDS)
        return [HashBucket(r["u_key_prefix"], r["u_map_id"], self._hashes(r), r["sys_id"]) for r in rows]

    @staticmethod
    def _hashes(row: dict[str, str]) -> dict[str, str]:
        try:
            value = json.loads(row["u_hashes"] or "{}")
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise ValueError(f"{TABLE} record {row['sys_id']}: u_hashes is not a JSON object; delete the record "
                             "to make the CMDB sync resend that prefix")
        return {str(k): str(v) for k, v in value.items()}

    async def save_buckets(self, map_name: str, buckets: list[HashBucket]) -> None:
        for bucket in buckets:
            body = {"u_map_id": bucket.map_id, "u_hashes": json.dumps(bucket.hashes, sort_keys=True,
                                                                       separators=(",", ":"))}
            if bucket.sys_id:
                await self.servicenow.update(TABLE, bucket.sys_id, body)
            else:
                await self._create({"u_map_name": map_name, "u_kind": "hashes", "u_key_prefix": bucket.prefix,
                                    **body})

    async def _create(self, body: dict[str, str]) -> str:
        sys_id = f"{self.rng.getrandbits(128):032x}"
        try:
            await self.servicenow.create(TABLE, {**body, "sys_id": sys_id})
        except ServiceNowError as exc:
            # the first attempt got through but its answer was lost: the record is there
            if exc.status_code != 403 or await self.servicenow.get(TABLE, sys_id) is None:
                raise
        return sys_id
