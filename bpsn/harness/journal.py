"""Both simulators' request journals, queried and verified from a test.

`journal.assert_requested("POST", "/api/now/v1/batch", count=1)` passes when exactly one such
request reached ServiceNow; when it fails, it lists the near misses (the requests most like the
one expected), as WireMock's verification does, so a typo in a path or a wrong method shows at
once. A path is matched whole, or as a glob (`/api/now/table/*`); never as a regular expression.
"""

from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass
from typing import Any

from .admin import SimulatorAdmin

NEAR_MISSES = 5
BATCH_PATH = "/api/now/v1/batch"
SERVICENOW_PREFIXES = ("/api/now/", "/oauth_token.do")


@dataclass(frozen=True)
class Request:
    """One journaled request."""

    simulator: str
    id: int
    time: float
    method: str
    path: str
    query: str
    status: int
    user: str
    table: str
    notes: tuple[str, ...]

    def describe(self) -> str:
        query = f"?{self.query}" if self.query else ""
        who = f" as {self.user}" if self.user else ""
        return f"{self.simulator:<10} {self.method} {self.path}{query} -> {self.status}{who}"


def simulator_of(path: str) -> str:
    return "servicenow" if path.startswith(SERVICENOW_PREFIXES) else "bigpanda"


def _path_matches(pattern: str, path: str) -> bool:
    return fnmatch.fnmatchcase(path, pattern) if any(c in pattern for c in "*?[") else path == pattern


class RequestJournal:
    """The journals of both simulators, newest last. `mark()` notes where they stand, so a
    later query can count only what came after (`since=mark`)."""

    def __init__(self, bigpanda: SimulatorAdmin, servicenow: SimulatorAdmin) -> None:
        self._admins = {"bigpanda": bigpanda, "servicenow": servicenow}

    def requests(self, *, simulator: str | None = None, since: dict[str, int] | None = None) -> list[Request]:
        out = []
        for name, admin in self._admins.items():
            if simulator and name != simulator:
                continue
            for e in admin.journal(since_id=(since or {}).get(name, 0), limit=100_000):
                out.append(Request(name, e["id"], e["time"], e["method"], e["path"], e["query"], e["status"],
                                   e["user"], e["table"], tuple(e["notes"])))
        return sorted(out, key=lambda r: (r.time, r.simulator, r.id))

    def find(self, method: str | None = None, path: str | None = None, *, status: int | None = None,
             table: str | None = None, user: str | None = None, simulator: str | None = None,
             since: dict[str, int] | None = None) -> list[Request]:
        """Requests that match every filter given; `path` whole or as a glob."""
        if simulator is None and path is not None:
            simulator = simulator_of(path)
        return [r for r in self.requests(simulator=simulator, since=since)
                if (method is None or r.method == method.upper())
                and (path is None or _path_matches(path, r.path))
                and (status is None or r.status == status) and (table is None or r.table == table)
                and (user is None or r.user == user)]

    def count(self, method: str | None = None, path: str | None = None, **filters: Any) -> int:
        return len(self.find(method, path, **filters))

    def mark(self) -> dict[str, int]:
        """Where each journal stands now: pass it as `since=` to see only what follows."""
        return {name: max((e["id"] for e in admin.journal(limit=1)), default=0)
                for name, admin in self._admins.items()}

    def clear(self) -> None:
        for admin in self._admins.values():
            admin.clear_journal()

    def assert_requested(self, method: str, path: str, count: int | None = None, *, at_least: int | None = None,
                         status: int | None = None, simulator: str | None = None,
                         since: dict[str, int] | None = None) -> list[Request]:
        """Exactly `count` matching requests (or at least `at_least`; by default at least one).
        Returns them; on failure, raises AssertionError listing the near misses."""
        simulator = simulator or simulator_of(path)
        found = self.find(method, path, status=status, simulator=simulator, since=since)
        wanted = f"exactly {count}" if count is not None else f"at least {1 if at_least is None else at_least}"
        ok = len(found) == count if count is not None else len(found) >= (1 if at_least is None else at_least)
        if not ok:
            expected = f"{method.upper()} {path}" + (f" -> {status}" if status is not None else "")
            raise AssertionError(f"expected {wanted} {expected} on {simulator}; found {len(found)}.\n"
                                 + self._near_misses(method, path, status, simulator, since))
        return found

    def assert_not_requested(self, method: str, path: str, **filters: Any) -> None:
        self.assert_requested(method, path, count=0, **filters)

    def _near_misses(self, method: str, path: str, status: int | None, simulator: str,
                     since: dict[str, int] | None) -> str:
        candidates = self.requests(simulator=simulator, since=since)
        if not candidates:
            return f"{simulator} has journaled no request" + (" since the mark" if since else "")

        def likeness(r: Request) -> float:
            score = 0.7 * difflib.SequenceMatcher(None, path, r.path).ratio()
            score += 0.2 if r.method == method.upper() else 0.0
            return score + (0.1 if status is None or r.status == status else 0.0)

        nearest = sorted(candidates, key=likeness, reverse=True)[:NEAR_MISSES]
        return "near misses, closest first:\n" + "\n".join(f"  {r.describe()}" for r in nearest)


def batch_items(entries: list[Any]) -> list[list[tuple[str, str]]]:
    """The (method, table) writes of each Batch API request: its items are journaled just before it."""
    out: list[list[tuple[str, str]]] = []
    items: list[tuple[str, str]] = []
    for e in entries:
        if e.path == BATCH_PATH:
            out.append(items)
            items = []
        elif e.method != "GET":
            items.append((e.method, e.table))
    return out


def batches_writing(entries: list[Any], table: str) -> int:
    """Batch API requests that wrote `table`."""
    return sum(any(t == table for _, t in items) for items in batch_items(entries))
