"""Counts and ordered row ids of recent queries, exact until the next write.

Why: SQLite walks an OFFSET row by row and COUNT(*) visits every match, so a client paging
through 100,000 incidents with X-Total-Count pays for the whole table on every page. The Store
keeps, for the last few queries, the count of a condition and the rowids of its matches in
their final order; a deep page is then a slice of that list and one read by rowid.

The order is built on the second deep read of a query since the last write, not the first:
building it visits every match, so a client that writes between every page (each write drops
the cache) keeps the plain path's cost instead of paying a whole walk per page.

Exactness: both are thrown away as soon as the connection's `total_changes()` moves (any INSERT,
UPDATE or DELETE on it) or the epoch is bumped (a store replaced whole: restore, load, clear,
which SQLite's change counter does not see). Nothing is cached or read inside a transaction:
a ROLLBACK undoes rows without moving the counter, so only state outside a transaction, which
a later rollback cannot touch, is ever kept.
"""

from __future__ import annotations

import sqlite3
from array import array
from collections import OrderedDict
from collections.abc import Hashable
from typing import TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
CountKey = tuple[str, str, tuple[object, ...]]  # (SQL table, WHERE text, parameters)
OrderKey = tuple[str, str, tuple[object, ...], str]  # ... and the ORDER BY text


class ResultCache:
    def __init__(self, conn: sqlite3.Connection, capacity: int = 8) -> None:
        self.conn = conn
        self.capacity = capacity  # queries of each kind kept, least recently used dropped first
        self.enabled = True  # False: every call takes the plain path (tests compare the two)
        self.epoch = 0
        self._stamp: tuple[int, int] | None = None
        self._counts: OrderedDict[CountKey, int] = OrderedDict()
        self._orders: OrderedDict[OrderKey, array[int]] = OrderedDict()
        self._seen: OrderedDict[OrderKey, bool] = OrderedDict()  # deep reads since the last write

    def usable(self) -> bool:
        """Whether the cache may be read or filled now; drops everything a write made stale."""
        if not self.enabled or self.conn.in_transaction:
            return False
        stamp = (self.conn.total_changes, self.epoch)
        if stamp != self._stamp:
            self._counts.clear()
            self._orders.clear()
            self._seen.clear()
            self._stamp = stamp
        return True

    def invalidate(self) -> None:
        """The store's content was replaced without row changes SQLite counts."""
        self.epoch += 1

    def count(self, key: CountKey) -> int | None:
        return _get(self._counts, key)

    def put_count(self, key: CountKey, value: int) -> None:
        _put(self._counts, key, value, self.capacity)

    def rowids(self, key: OrderKey) -> array[int] | None:
        return _get(self._orders, key)

    def worth_building(self, key: OrderKey) -> bool:
        """True on the second deep read of this query since the last write (see the docstring)."""
        if _get(self._seen, key) is not None:
            return True
        _put(self._seen, key, True, self.capacity)
        return False

    def put_rowids(self, key: OrderKey, value: array[int]) -> None:
        _put(self._orders, key, value, self.capacity)
        self.put_count(key[:3], len(value))  # type: ignore[arg-type]  # the same condition's count


def _get(cache: OrderedDict[K, V], key: K) -> V | None:
    value = cache.get(key)
    if value is not None:
        cache.move_to_end(key)
    return value


def _put(cache: OrderedDict[K, V], key: K, value: V, capacity: int) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > capacity:
        cache.popitem(last=False)

