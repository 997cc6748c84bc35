"""A ServiceNow delta cursor: which rows changed since the last pass, each handled once.

The same logic as the incident watch (integration/watch.py), kept here so every forwarder
that follows a table by `sys_updated_on` shares it:

- the query is `sys_updated_on>=<position>`: `>=` re-reads the position's second, because
  ServiceNow timestamps have whole seconds and more rows may arrive within that second;
- rows already handled at the position's second are remembered by (sys_id, sys_mod_count),
  so a re-read row is skipped, while the same row updated again is new;
- the position moves to a row's `sys_updated_on` only when the caller has handled the row,
  so a pass that stops on a failure reads the same rows next time.

`read_changed` adds one thing the watch does not need: when more rows than one page share
the position's second (a bulk import) and the whole page was handled already, it continues
after the page's last sys_id (`sys_updated_on=<position>^sys_id>last^NQsys_updated_on>
<position>`), so a full page of handled rows never stalls the cursor.
"""

from __future__ import annotations

from typing import Any

from bpsn.base.clock import from_glide

from .servicenow import ServiceNowClient

ORDER = "^ORDERBYsys_updated_on^ORDERBYsys_id"


class DeltaCursor:
    def __init__(self, position: str) -> None:
        from_glide(position)  # a bad start is refused here, not by ServiceNow later
        self.position = position
        self._seen: set[tuple[str, str]] = set()

    @staticmethod
    def key(row: dict[str, Any]) -> tuple[str, str]:
        return (str(row["sys_id"]), str(row.get("sys_mod_count", "")))

    def is_new(self, row: dict[str, Any]) -> bool:
        """False for a row already handled at the position's second."""
        return not (row.get("sys_updated_on", "") == self.position and self.key(row) in self._seen)

    def advance(self, row: dict[str, Any]) -> None:
        """Record `row` as handled; the position follows it when it is later."""
        updated_on = str(row.get("sys_updated_on", ""))
        if not updated_on:
            return
        if updated_on != self.position and from_glide(updated_on) > from_glide(self.position):
            self.position, self._seen = updated_on, set()
        self._seen.add(self.key(row))

    def query(self, base: str = "", after_sys_id: str = "") -> str:
        """The encoded query of the next page. `base` must be AND-only (no ^OR / ^NQ): it is
        repeated in both halves of the continuation query."""
        prefix = f"{base}^" if base else ""
        if not after_sys_id:
            return f"{prefix}sys_updated_on>={self.position}{ORDER}"
        return (f"{prefix}sys_updated_on={self.position}^sys_id>{after_sys_id}"
                f"^NQ{prefix}sys_updated_on>{self.position}{ORDER}")


async def read_changed(servicenow: ServiceNowClient, table: str, cursor: DeltaCursor, *, base: str = "",
                       fields: list[str] | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Up to `limit` rows changed since the cursor and not handled yet, oldest first."""
    wanted = sorted({*(fields or []), "sys_id", "sys_updated_on", "sys_mod_count"}) if fields else None
    after = ""
    while True:
        rows = await servicenow.query(table, cursor.query(base, after), fields=wanted, limit=limit)
        new = [r for r in rows if cursor.is_new(r)]
        if new or len(rows) < limit:
            return new
        after = str(rows[-1]["sys_id"])  # a full page handled already: continue after it
