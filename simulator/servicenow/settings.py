"""ServiceNow simulator settings: defaults for the demo instance, overridable by environment."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceNowSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BPSN_SN_")

    instance_url: str = "http://127.0.0.1:8002"
    seed: int = 1
    state_file: str | None = None
    journal_max_entries: int = 10_000
    encryption_key: str = "bpsn-demo-instance-key"
    admin_password: str = "admin"
    integration_user: str = "bigpanda.integration"
    integration_password: str = "bigpanda"
    analyst_user: str = "noc.analyst"
    analyst_password: str = "analyst"
    oauth_client_id: str = "bpsn-demo-client"
    oauth_client_secret: str = "bpsn-demo-secret"
    default_limit: int = 10_000
    wait_timeout_max: float = 120.0
