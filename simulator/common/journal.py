"""A bounded request journal: what came in, who sent it, what went out.

Bounded by default (peers' unbounded journals run out of memory under load); the
counters keep counting after old entries fall off. Credentials sent in a query string
(`?access_token=...`) are redacted as they are recorded: the journal is readable through
/_sim/journal and must never hand a secret back in clear.
"""

from __future__ import annotations

from collections import Counter, deque
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from itertools import count
from typing import Any
from urllib.parse import unquote_plus

# Set while an app serves a call it makes to itself (a ServiceNow Batch API item): such calls are
# journaled with the note "batch-item", so request counts can tell them from network requests.
NESTED_CALL: ContextVar[bool] = ContextVar("bpsn_nested_call", default=False)
BATCH_ITEM = "batch-item"

SECRET_PARAMETERS = frozenset({"access_token", "api_key", "token", "client_secret", "password"})
REDACTED = "[redacted]"


def redact_query(query: str) -> str:
    """The query string with the value of every credential parameter replaced by [redacted].
    Names are compared decoded and case-insensitively, so `Access%5Ftoken=` is caught too."""
    if "=" not in query:
        return query
    parts = []
    for part in query.split("&"):
        name, eq, _ = part.partition("=")
        secret = eq and unquote_plus(name).strip().lower() in SECRET_PARAMETERS
        parts.append(f"{name}={REDACTED}" if secret else part)
    return "&".join(parts)


@dataclass
class JournalEntry:
    id: int
    time: float
    method: str
    path: str
    query: str
    status: int
    duration_ms: float
    user: str = ""
    table: str = ""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Journal:
    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._entries: deque[JournalEntry] = deque(maxlen=max_entries or None)
        self._ids = count(1)
        self.totals: Counter[str] = Counter()
        self.enabled = max_entries > 0

    def record(self, **kwargs: Any) -> JournalEntry:
        kwargs["query"] = redact_query(kwargs.get("query", ""))  # here, so no caller can forget it
        return self._keep(JournalEntry(id=next(self._ids), **kwargs))

    def add(self, time: float, method: str, path: str, query: str, status: int, duration_ms: float,
            user: str, table: str, notes: list[str]) -> JournalEntry:
        """record() with every field given in order: the middleware's call, once per request
        (keyword arguments gathered into a dict and spread again cost as much as the rest)."""
        return self._keep(JournalEntry(next(self._ids), time, method, path, redact_query(query), status,
                                       duration_ms, user, table, notes))

    def _keep(self, entry: JournalEntry) -> JournalEntry:
        totals = self.totals
        totals["requests"] += 1
        totals[f"status:{entry.status}"] += 1
        for note in entry.notes:
            totals[f"note:{note}"] += 1
        if self.enabled:
            self._entries.append(entry)
        return entry

    @property
    def network_requests(self) -> int:
        """Requests that came over the wire: every request but the Batch API's items."""
        return self.totals["requests"] - self.totals[f"note:{BATCH_ITEM}"]

    def clear(self) -> None:
        self._entries.clear()
        self.totals.clear()

    def find(self, *, method: str | None = None, path: str | None = None, table: str | None = None,
             user: str | None = None, status: int | None = None, note: str | None = None,
             since_id: int = 0, limit: int | None = None) -> list[JournalEntry]:
        out = []
        for e in self._entries:
            if e.id <= since_id:
                continue
            if method and e.method != method.upper():
                continue
            if path and not e.path.startswith(path):
                continue
            if table and e.table != table:
                continue
            if user and e.user != user:
                continue
            if status is not None and e.status != status:
                continue
            if note and note not in e.notes:
                continue
            out.append(e)
        return out[-limit:] if limit else out

    def counts(self, entries: list[JournalEntry]) -> dict[str, int]:
        c: Counter[str] = Counter()
        for e in entries:
            c[f"{e.method} {e.table or e.path}"] += 1
        return dict(c)
