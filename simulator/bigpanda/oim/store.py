"""Open Integration Manager state of one organisation: a configuration and a Sample Payload
object per OIM app key (ingest.py turns payloads into the organisation's alerts through it),
and the switchable ten-minute wait after an integration is created.

The wait (BigPanda: "wait ten minutes before attempting to create or update rules using the
API. POST requests sent immediately after saving an integration ... may not be successful"):
when `wait_seconds` is set, a configuration or sample POST for an integration created through
`/_sim` less than that many seconds ago (simulator clock) is refused. Our choice of answer:
404, the integration is not found yet, with the seconds left; BigPanda documents only that
such a POST may fail. Integrations from fixtures or the demo organisation count as created
long ago.
"""

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


DOCUMENTED_WAIT_SECONDS = 600.0


class OimStore:
    def __init__(self) -> None:
        self.configs: dict[str, StoredConfig] = {}
        self.samples: dict[str, dict[str, Any]] = {}  # the Sample Payload objects, with or without a config
        self.created_at: dict[str, float] = {}  # integrations created through /_sim: app key -> time
        self.wait_seconds: float | None = None  # the ten-minute rule: None when switched off

    def reset(self) -> None:
        self.configs.clear()
        self.samples.clear()
        self.created_at.clear()
        self.wait_seconds = None

    def require_settled(self, app_key: str, now: float) -> None:
        """The ten-minute rule (when on): 404 for a POST too soon after the integration was created."""
        created = self.created_at.get(app_key)
        if self.wait_seconds is None or created is None or now - created >= self.wait_seconds:
            return
        left = self.wait_seconds - (now - created)
        raise BpError(404, f"OIM integration with app key {app_key!r} is not found yet: it was created "
                           f"{now - created:.0f} s ago and rules can be created or updated "
                           f"{self.wait_seconds:.0f} s after that; retry in {left:.0f} s")

    # --- the Sample Payload object --------------------------------------------------------------------
    def sample(self, app_key: str) -> dict[str, Any]:
        found = self.samples.get(app_key)
        if found is None:
            raise BpError(404, f"OIM sample payload for app key {app_key!r} is not found")
        return found

    def put_sample(self, app_key: str, sample: Any, now: float) -> dict[str, Any]:
        """Replace the sample; a configuration already stored must still find every field it references."""
        if not isinstance(sample, dict) or not sample:
            raise bad_request("sample_payload must be a JSON object holding a sample event")
        stored = self.configs.get(app_key)
        if stored is not None:
            compiled = compile_config(OimConfigBody.model_validate({"config": stored.config}).config, sample)
            stored.sample_payload, stored.compiled = sample, compiled
            stored.updated_at, stored.revision = now, stored.revision + 1
        self.samples[app_key] = sample
        return sample

    # --- configuration ---------------------------------------------------------------------------
    def put(self, app_key: str, body: OimConfigBody, now: float) -> tuple[StoredConfig, bool]:
        """Create or update; returns (stored, created). A refused body changes nothing."""
        stored = self.configs.get(app_key)
        fields = body.model_fields_set
        sample = body.sample_payload
        if stored is None:
            if "sample_payload" not in fields:
                raise bad_request("sample_payload is required when creating a configuration: send a sample "
                                  "event (a JSON object) for field validation")
            if _blank(sample) and app_key not in self.samples:
                raise bad_request("sample_payload is required when creating a configuration: it is blank and this "
                                  "integration has no Sample Payload object; send a sample event (a JSON object) "
                                  "for field validation")
        elif "sample_payload" not in fields:
            raise bad_request("sample_payload must be included when updating a configuration; it may be blank ({})")
        if isinstance(sample, str) and not _blank(sample):
            raise bad_request("sample_payload must be a JSON object (or blank on update)")
        effective = self.samples.get(app_key) if _blank(sample) else sample
        assert isinstance(effective, dict)
        compiled = compile_config(body.config, effective)
        config = body.config.model_dump(mode="json", exclude_unset=True)
        self.samples[app_key] = effective
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
