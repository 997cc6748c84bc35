"""What a load run reads from the two simulators over HTTP, during and after the load.

BigPanda's /_sim routes take the admin token; ServiceNow's an admin's basic auth. The
BigPanda incident listing is an ordinary API call under the 5 requests/s limit per token, and
the core uses the same token, so it is read after the core has stopped, paced below the limit.
"""

from __future__ import annotations

import csv
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bpsn.simulator.bigpanda.auth import journal_user
from bpsn.simulator.bigpanda.settings import BigPandaSettings
from bpsn.simulator.servicenow.settings import ServiceNowSettings

CORE_PATH = "/integrations/v3/servicenow"  # the core's share retrievals and callbacks
LIST_PACE_S = 0.25  # 4 requests/s: under BigPanda's 5 per second per token
PAGE_SIZE = 100
OBJECT_ID = re.compile(r"/[0-9a-f]{24}(?=/|$)")


def route(path: str) -> str:
    """A path with its BigPanda object ids as {id}, so calls on different incidents count together."""
    return OBJECT_ID.sub("/{id}", path)


@dataclass
class QueueState:
    pending: int = 0
    leased: int = 0
    dead_letters: int = 0
    acknowledged: int = 0

    @property
    def empty(self) -> bool:
        return self.pending == 0 and self.leased == 0


@dataclass
class Simulators:
    bigpanda_url: str
    servicenow_url: str
    bp: BigPandaSettings = field(default_factory=BigPandaSettings)
    sn: ServiceNowSettings = field(default_factory=ServiceNowSettings)
    core_calls: Counter[str] = field(default_factory=Counter)  # "METHOD /route/{id}" -> calls by the core's key
    other_calls: list[tuple[float, int]] = field(default_factory=list)  # incident actions and tag calls so far
    _since: int = 0

    def __post_init__(self) -> None:
        self.bp_http = httpx.Client(base_url=self.bigpanda_url, timeout=30,
                                    headers={"X-Bpsn-Admin-Token": self.bp.admin_token.get_secret_value()})
        self.sn_http = httpx.Client(base_url=self.servicenow_url, timeout=60,
                                    auth=("admin", self.sn.admin_password))

    def close(self) -> None:
        self.bp_http.close()
        self.sn_http.close()

    # --- during the run ----------------------------------------------------------------------------
    def queue(self) -> QueueState:
        body = self.bp_http.get("/_sim/shares").raise_for_status().json()
        return QueueState(len(body["pending"]), len(body["leased"]), len(body["dead_letters"]),
                          body["acknowledged"])

    def core_polled(self) -> bool:
        """True once the core has asked BigPanda for shares (so it is up and configured)."""
        try:
            r = self.bp_http.get("/_sim/journal", params={"path": f"{CORE_PATH}/shares", "limit": 1}, timeout=2)
            return r.status_code == 200 and r.json()["total"] > 0
        except httpx.HTTPError:
            return False

    def track_core_calls(self) -> None:
        """Add the core's BigPanda calls since the last look (the journal holds only recent entries):
        by route, and (unix time, calls other than retrievals and callbacks) for the ceiling."""
        who = journal_user(self.bp.organization, "user", self.bp.user_api_key)
        body = self.bp_http.get("/_sim/journal", params={"user": who, "since_id": self._since,
                                                         "limit": 100_000}).raise_for_status().json()
        for e in body["entries"]:
            self.core_calls[f"{e['method']} {route(e['path'])}"] += 1
        if body["entries"]:
            self._since = body["entries"][-1]["id"]
        other = sum(n for k, n in self.core_calls.items() if not k.split(" ", 1)[1].startswith(CORE_PATH))
        self.other_calls.append((time.time(), other))

    # --- after the run -----------------------------------------------------------------------------
    def bigpanda_journal(self) -> tuple[int, int, dict[str, int]]:
        """(all requests, 429 answers, 429s per route still in the journal)."""
        body = self.bp_http.get("/_sim/journal", params={"status": 429, "limit": 1}).raise_for_status().json()
        return body["totals"].get("requests", 0), body["totals"].get("status:429", 0), body["counts"]

    def servicenow_journal(self) -> tuple[int, int]:
        """(requests over the wire, 429 answers); read it before the ticket query below adds to it.
        A Batch API request counts once: its items are journaled too, with the note batch-item."""
        totals = self.sn_http.get("/_sim/journal", params={"limit": 1}).raise_for_status().json()["totals"]
        return totals.get("requests", 0) - totals.get("note:batch-item", 0), totals.get("status:429", 0)

    def bigpanda_incidents(self) -> tuple[list[str], int]:
        """Ids of the shared incidents in the environment (every page), and how many were not shared."""
        shared, unshared, page = [], 0, 1
        headers = {"Authorization": f"Bearer {self.bp.user_api_key}"}
        path = f"/resources/v2.0/environments/{self.bp.environment}/incidents"
        while True:
            r = self.bp_http.get(path, params={"page_size": PAGE_SIZE, "page": page, "sort_by": "start"},
                                 headers=headers)
            if r.status_code == 429:
                time.sleep(float(r.headers.get("Retry-After", "1")))
                continue
            r.raise_for_status()
            body = r.json()
            for item in body["items"]:
                if item.get("shared"):
                    shared.append(item["id"])
                else:
                    unshared += 1
            if page * PAGE_SIZE >= body["total"] or not body["items"]:
                return shared, unshared
            page += 1
            time.sleep(LIST_PACE_S)

    def ticket_correlation_ids(self) -> list[str]:
        r = self.sn_http.get("/api/now/table/incident", params={
            "sysparm_query": "correlation_display=BigPanda", "sysparm_fields": "correlation_id",
            "sysparm_limit": 100_000})
        return [row["correlation_id"] for row in r.raise_for_status().json()["result"]]


def live_stats(csv_path: Path) -> dict[str, Any]:
    """Running numbers from Locust's `_stats.csv` (rewritten every second; lags the end)."""
    out: dict[str, Any] = {"alerts": 0, "tickets": 0, "p95": None, "failures": 0}
    try:
        with open(csv_path, newline="") as f:
            for row in csv.DictReader(f):
                if row["Name"].startswith("POST /data/v2/alerts"):
                    out["alerts"] += int(row["Request Count"])
                elif row["Name"] == "alert_to_ticket":
                    out["tickets"] = int(row["Request Count"])
                    out["p95"] = row["95%"]
                elif row["Name"] == "Aggregated":
                    out["failures"] = int(row["Failure Count"])
    except (OSError, KeyError, ValueError):
        pass
    return out
