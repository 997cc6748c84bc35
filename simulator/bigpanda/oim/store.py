"""Open Integration Manager state of one organisation: a configuration per OIM app key
(ingest.py turns payloads into the organisation's alerts through it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bpsn.simulator.bigpanda.alerts.normalize import MAX_BATCH
from bpsn.simulator.bigpanda.errors import BpError, bad_request

from .config import CompiledConfig, OimConfigBody, compile_config, resolve


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


def split_events(cfg: CompiledConfig, body: Any) -> list[dict[str, Any]]:
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
