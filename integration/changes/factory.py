"""Builds the changes forwarder next to a core's runner, sharing its HTTP clients (so the user
key's pacing and retries are shared too) and its clock."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from bpsn.integration.clients.lookups import ReferenceCache
from bpsn.integration.runner import IntegrationRunner

from .client import ChangesApi
from .lookups import CiLookupGatherer
from .mapping import ChangeSettings
from .runner import ChangesForwarder


class ChangesConnection(BaseSettings):
    """The changes module's settings, from the environment (BPSN_*)."""

    model_config = SettingsConfigDict(env_prefix="BPSN_")

    changes_app_key: SecretStr = SecretStr("demo-changes-app-key")
    changes_poll_interval: float = Field(60.0, gt=0, description="Seconds between passes")
    changes_lookback_seconds: float = Field(86400.0, ge=0, description="How far back the first pass reads")
    changes_batch: int = Field(100, ge=1, le=1000, description="Records read per table and page")
    maintenance_ci_tag: str = Field("host", min_length=1, description="Alert tag a plan's condition matches")
    open_outage_seconds: int = Field(4 * 3600, gt=0, description="Plan length of an outage without an end")
    changes_per_minute: int = Field(400, ge=1, description="BigPanda's changes limit per minute")
    changes_per_week: int = Field(50_000, ge=1, description="BigPanda's changes limit per week")


def build_changes_forwarder(runner: IntegrationRunner,
                            connection: ChangesConnection | None = None) -> ChangesForwarder:
    c = connection or ChangesConnection()
    settings = ChangeSettings(instance_url=runner.instance_url, ci_tag=c.maintenance_ci_tag,
                              open_outage_seconds=c.open_outage_seconds)
    api = ChangesApi(runner.bigpanda.api, c.changes_app_key.get_secret_value())
    gatherer = CiLookupGatherer(runner.servicenow, ReferenceCache(runner.servicenow, runner.clock.now))
    return ChangesForwarder(runner.servicenow, api, gatherer, runner.clock, settings,
                            lookback=c.changes_lookback_seconds, batch=c.changes_batch,
                            poll_interval=c.changes_poll_interval, changes_per_minute=c.changes_per_minute,
                            changes_per_week=c.changes_per_week)
