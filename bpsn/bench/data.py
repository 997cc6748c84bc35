"""Benchmark data: realistic incidents written straight into the store, and raw alerts.

Everything is derived from the record's index, so a benchmark can ask for incident i's sys_id,
number or correlation_id without keeping a list, in this process or in a server subprocess.
"""

from __future__ import annotations

import time
from typing import Any

from bpsn.alertgen import CHECKS, REGIONS, TEAMS
from bpsn.simulator.servicenow.backend import ServiceNowBackend
from bpsn.simulator.servicenow.records.business_rules import NUMBER_BASE, PRIORITY
from bpsn.simulator.servicenow.records.store import quote

BASE_TIME = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC
STATES = ["1", "1", "1", "2", "2", "2", "3", "6", "6", "7"]  # 10 % closed, i.e. active=false
HOST_ROLES = ["web", "api", "db", "cache"]
CATEGORIES = ["software", "hardware", "network", "database", "inquiry"]
CLOSE_CODES = ["Solved (Permanently)", "Solved (Work Around)", "Closed/Resolved by Caller"]
APP_KEY = "demo-alerts-app-key"
ORG_TOKEN = "demo-org-token"


def sys_id(i: int) -> str:
    return f"{i:08x}{'be' * 12}"


def number(i: int) -> str:
    return f"INC{NUMBER_BASE + 1 + i:07d}"


def correlation_id(i: int) -> str:
    return f"{(i * 2_654_435_761) % 16**24:024x}"  # a bijection: unique, not in insertion order


def _glide(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch))  # bpsn.base.clock.glide, faster


def incident_record(i: int, n: int, refs: dict[str, list[str]]) -> dict[str, str]:
    """Incident i of n: a mix of states (10 % closed), priorities, groups and CIs."""
    check, template = CHECKS[i % len(CHECKS)]
    host = f"{HOST_ROLES[i % 4]}-prod-{i % 977:03d}"
    mix = (i * 2_654_435_761) >> 7  # cheap, deterministic pseudo-randomness
    created = _glide(BASE_TIME + i * 37)
    state = STATES[mix % len(STATES)]
    impact, urgency = "123"[mix % 3], "123"[(mix >> 3) % 3]
    user = refs["users"][mix % len(refs["users"])]
    record = {
        "sys_id": sys_id(i), "sys_class_name": "incident", "number": number(i),
        "sys_created_on": created, "sys_created_by": "bigpanda.integration",
        # unique, and not in insertion order: updates reshuffle a real table
        "sys_updated_on": _glide(BASE_TIME + n * 37 + 37 * ((i * 7919) % n) + mix % 37),
        "sys_updated_by": "bigpanda.integration", "sys_mod_count": str(mix % 6),
        "short_description": f"[BigPanda] {check} on {host}",
        "description": (f"BigPanda incident {correlation_id(i)}: {template.format(n=60 + i % 40)}. "
                        f"Host {host}, cluster {HOST_ROLES[i % 4]}-cluster-{i % 4 + 1}, region "
                        f"{REGIONS[i % 3]}. Opened automatically by the BigPanda integration."),
        "state": state, "incident_state": state, "active": "false" if state == "7" else "true",
        "impact": impact, "urgency": urgency, "priority": PRIORITY[(impact, urgency)],
        "assignment_group": refs["groups"][(mix >> 5) % len(refs["groups"])], "caller_id": user,
        "opened_by": user, "opened_at": created, "cmdb_ci": refs["cis"][(mix >> 7) % len(refs["cis"])],
        "category": CATEGORIES[(mix >> 9) % len(CATEGORIES)], "correlation_id": correlation_id(i),
        "correlation_display": "BigPanda", "contact_type": "integration", "company": TEAMS[i % len(TEAMS)],
    }
    if state == "3":
        record["hold_reason"] = "4"
    if state in ("6", "7"):
        record.update(close_code=CLOSE_CODES[mix % 3], close_notes="Resolved by the on-call engineer.",
                      resolved_at=created, resolved_by=user)
    if state == "7":
        record.update(closed_at=created, closed_by=user)
    return record


def fill_incidents(backend: ServiceNowBackend, n: int) -> None:
    """Insert n full incident records, 5,000 a transaction (no business rules, no audit)."""
    store = backend.store
    refs = {"users": [r["sys_id"] for r in store.select("sys_user", columns=["sys_id"])],
            "groups": [r["sys_id"] for r in store.select("sys_user_group", columns=["sys_id"])],
            "cis": [r["sys_id"] for r in store.select("cmdb_ci", columns=["sys_id"])]}
    fields = backend.dictionary.fields("incident")
    defaults = {name: fdef.default or "" for name, fdef in fields.items()}
    cols = [c for c in fields if c in store.columns("incident")]
    sql = (f"INSERT INTO {quote(backend.dictionary.root('incident'))} ({', '.join(quote(c) for c in cols)}) "
           f"VALUES ({', '.join('?' * len(cols))})")
    with store.lock:
        for start in range(0, n, 5_000):
            rows = []
            for i in range(start, min(n, start + 5_000)):
                record = {**defaults, **incident_record(i, n, refs)}
                rows.append([record[c] for c in cols])
            store.conn.execute("BEGIN")
            store.conn.executemany(sql, rows)
            store.conn.execute("COMMIT")
    if n:
        backend.numbers.observe(number(n - 1), "INC")


def alert(host: str, check: int = 0, status: str = "critical", timestamp: float | None = None,
          service: str | None = None) -> dict[str, Any]:
    """A raw alert as a monitoring tool sends it; `service` (a correlation tag) only if given."""
    name, template = CHECKS[check % len(CHECKS)]
    body: dict[str, Any] = {"status": status, "host": host, "check": name,
                            "description": template.format(n=60 + check * 7 % 40),
                            "cluster": f"{host.split('-')[0]}-cluster", "region": REGIONS[check % 3],
                            "team": TEAMS[check % len(TEAMS)], "ip": f"10.{check % 250}.{len(host)}.7"}
    if service is not None:
        body["service"] = service
    if timestamp is not None:
        body["timestamp"] = int(timestamp)
    return body


def alert_batch(batch: int, size: int = 100, prefix: str = "h") -> dict[str, Any]:
    """Batch number `batch`: size alerts, two checks on each of size/2 new hosts."""
    return {"app_key": APP_KEY,
            "alerts": [alert(f"{prefix}{batch}-{j // 2}", check=j % 2) for j in range(size)]}
