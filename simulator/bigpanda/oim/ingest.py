"""OIM payloads into an organisation's alerts, through the app key's configuration.

Our choices where BigPanda publishes nothing: an app key is an OIM integration when it is
the organisation's OIM app key or an integration whose source system starts with `oim.`;
configuration of any other key is refused with 403; alerts sent to an app key that is not
an OIM integration, or that has no configuration yet, get 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bpsn.simulator.bigpanda.alerts.normalize import normalize
from bpsn.simulator.bigpanda.errors import BpError, forbidden
from bpsn.simulator.bigpanda.organization import IngestResult, Organization

from .apply import build_alert
from .store import split_events


def is_oim_integration(org: Organization, app_key: str) -> bool:
    return app_key == org.app_keys.get("oim") or org.integrations.get(app_key, "").startswith("oim.")


def require_oim_integration(org: Organization, app_key: str) -> None:
    if not is_oim_integration(org, app_key):
        raise forbidden(f"app key {app_key!r} is not an OIM integration of this organization; install an "
                        "OIM integration and configure it with its app key")


@dataclass
class OimIngest:
    results: list[IngestResult]
    dropped: int


def ingest(org: Organization, app_key: str, body: Any, now: float) -> OimIngest:
    """Validate every event first (so a bad one changes nothing), then ingest oldest first."""
    if not is_oim_integration(org, app_key):
        raise BpError(404, f"OIM integration with app key {app_key!r} is not found")
    stored = org.oim.configs.get(app_key)
    if stored is None:
        raise BpError(404, f"no OIM configuration for app key {app_key!r}: POST "
                           f"/configurations/alerts/oim/{app_key} first")
    events = split_events(stored.compiled, body)
    source = org.integrations.get(app_key, "oim.unknown")
    alerts, dropped = [], 0
    for i, event in enumerate(events):
        where = f"alerts[{i}]" if len(events) > 1 else "alert"
        built = build_alert(stored.compiled, event, now=now, where=where)
        if built is None:
            dropped += 1
            continue
        alerts.append(normalize(built, now=now, source_system=source, where=where))
    alerts.sort(key=lambda a: a.timestamp)
    return OimIngest([org.ingest(a, now) for a in alerts], dropped)
