"""Open Integration Manager state of one organisation: a configuration per OIM app key, and
the ingest of OIM payloads through that configuration into the organisation's alerts.

Our choices where BigPanda publishes nothing: an app key is an OIM integration when it is
the organisation's OIM app key or an integration whose source system starts with `oim.`;
configuration of any other key is refused with 403; alerts sent to an app key that is not
an OIM integration, or that has no configuration yet, get 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .alerts import MAX_BATCH, normalize
from .errors import BpError, bad_request, forbidden
from .oim_apply import build_alert
from .oim_config import CompiledConfig, OimConfigBody, compile_config, resolve

if TYPE_CHECKING:
    from .organization import IngestResult, Organization


def is_oim_integration(org: Organization, app_key: str) -> bool:
    return app_key == org.app_keys.get("oim") or org.integrations.get(app_key, "").startswith("oim.")


def require_oim_integration(org: Organization, app_key: str) -> None:
    if not is_oim_integration(org, app_key):
        raise forbidden(f"app key {app_key!r} is not an OIM integration of this organization; install an "
                        "OIM integration and configure it with its app key")


def _blank(sample: Any) -> bool:
    return sample is None or sample == {} or (isinstance(sample, str) and not sample.strip())


@dataclass
class StoredConfig:
    app_key: str
    config: dict[str, Any]
    sample_payload: dict[str, Any]
    compiled: CompiledConfig
    created_at: float
    updated_at: float
    revision: int = 1

    def echo(self) -> dict[str, Any]:
        return {"config": self.config, "sample_payload": self.sample_payload}


@dataclass
class OimIngest:
    results: list[IngestResult]
    dropped: int


class OimStore:
    def __init__(self) -> None:
        self.configs: dict[str, StoredConfig] = {}

    def reset(self) -> None:
        self.configs.clear()

    # --- configuration ---------------------------------------------------------------------------
    def put(self, app_key: str, body: OimConfigBody, now: float) -> tuple[StoredConfig, bool]:
        """Create or update; returns (stored, created). A refused body changes nothing."""
        stored = self.configs.get(app_key)
        fields = body.model_fields_set
        sample = body.sample_payload
        if stored is None:
            if "sample_payload" not in fields or _blank(sample):
                raise bad_request("sample_payload is required when creating a configuration: send a sample "
                                  "event (a JSON object) for field validation")
        elif "sample_payload" not in fields:
            raise bad_request("sample_payload must be included when updating a configuration; it may be blank ({})")
        if isinstance(sample, str) and not _blank(sample):
            raise bad_request("sample_payload must be a JSON object (or blank on update)")
        effective = stored.sample_payload if _blank(sample) and stored else sample
        assert isinstance(effective, dict)
        compiled = compile_config(body.config, effective)
        config = body.config.model_dump(mode="json", exclude_unset=True)
        if stored is None:
            stored = StoredConfig(app_key, config, effective, compiled, now, now)
            self.configs[app_key] = stored
            return stored, True
        stored.config, stored.sample_payload, stored.compiled = config, effective, compiled
        stored.updated_at, stored.revision = now, stored.revision + 1
        return stored, False

    def get(self, app_key: str) -> StoredConfig:
        stored = self.configs.get(app_key)
        if stored is None:
            raise BpError(404, f"OIM configuration for app key {app_key!r} is not found")
        return stored

    # --- alerts --------------------------------------------------------------------------------
    def ingest(self, org: Organization, app_key: str, body: Any, now: float) -> OimIngest:
        """Validate every event first (so a bad one changes nothing), then ingest oldest first."""
        if not is_oim_integration(org, app_key):
            raise BpError(404, f"OIM integration with app key {app_key!r} is not found")
        stored = self.configs.get(app_key)
        if stored is None:
            raise BpError(404, f"no OIM configuration for app key {app_key!r}: POST "
                               f"/configurations/alerts/oim/{app_key} first")
        events = self._events(stored.compiled, body)
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

    @staticmethod
    def _events(cfg: CompiledConfig, body: Any) -> list[dict[str, Any]]:
        if isinstance(body, list):
            items = body
        elif not isinstance(body, dict):
            raise bad_request("the body must be a JSON object (one event) or an array of events")
        elif cfg.is_array and cfg.array_source:
            items = resolve(body, cfg.array_source)
            if not isinstance(items, list):
                raise bad_request(f"config.array_source {cfg.array_source!r} does not name an array in the payload")
        elif isinstance(body.get("alerts"), list):
            items = body["alerts"]
        else:
            items = [body]
        if not items:
            raise bad_request("the payload holds no events")
        if len(items) > MAX_BATCH:
            raise bad_request(f"a batch holds at most {MAX_BATCH} events (got {len(items)})")
        bad = [i for i, item in enumerate(items) if not isinstance(item, dict)]
        if bad:
            raise bad_request(f"alerts[{bad[0]}]: an event must be a JSON object")
        return items
