"""BigPanda simulator settings: the demo organisation, overridable by environment (BPSN_BP_*)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class BigPandaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BPSN_BP_")

    base_url: str = "http://127.0.0.1:8001"
    console_url: str = "https://a.bigpanda.io"
    seed: int = 1
    journal_max_entries: int = 10_000

    organization: str = "demo"
    org_token: str = "demo-org-token"
    user_api_key: str = "BPUdemo-user-key"
    user_email: str = "integration@demo.example.com"
    # a second user of the organisation: a person at BigPanda's console (the harness acts as them
    # when a test tags, snoozes or relates a change), with their own rate-limit budget
    operator_api_key: str = "BPUdemo-operator-key"
    operator_email: str = "sre@demo.example.com"
    alerts_app_key: str = "demo-alerts-app-key"
    incidents_app_key: str = "demo-incidents-app-key"
    changes_app_key: str = "demo-changes-app-key"
    oim_app_key: str = "demo-oim-app-key"
    environment: str = "production"
    accept_unknown_app_keys: bool = False

    # The /_sim admin API's credential (Authorization: Bearer or X-Bpsn-Admin-Token). The default is
    # a public demo value: override it (BPSN_BP_ADMIN_TOKEN) on any machine others can reach.
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024)  # largest request body; 413 above it (OIM: 6 MB)
    admin_token: SecretStr = Field(SecretStr("bpsn-admin-token"), min_length=1)
    # Snapshots over HTTP are read and written only inside this directory (the CLI's --state-file
    # is the operator's own path and is not confined).
    snapshot_dir: Path = Path("snapshots")
    # Encrypts the credentials a snapshot holds (Fernet); unset: derived from admin_token, so a
    # snapshot loads with working credentials wherever the same admin token is in force.
    snapshot_key: SecretStr | None = None

    # BigPanda's documented limits (answered with 429); Retry-After is our choice.
    rate_limit_enabled: bool = True
    rate_limit_per_second: int = 5
    alerts_per_second: int = 5
    incidents_v1_per_minute: int = 150
    changes_per_minute: int = 400

    # Our choices where BigPanda publishes nothing (see the OpenAPI description).
    share_lease_seconds: float = 120.0
    share_max_deliveries: int = 6
    retrieval_default_limit: int = 30
    retrieval_max_limit: int = 100
    correlation_window_seconds: float = 3600.0
    reopen_window_seconds: float = 4 * 3600.0
    flapping_threshold: int = 4
    flapping_window_seconds: float = 1800.0

    # Push mode (docs: "up to 6 times, 15 minutes apart", for status >= 501 and connection errors).
    # Our choices: any other status below 200 or from 300 up goes to the dead letters at once.
    push_max_attempts: int = Field(6, ge=1)
    push_retry_interval_seconds: float = Field(900.0, gt=0)
    push_retry_statuses: str = Field("501-599", pattern=r"^\s*\d{3}(-\d{3})?(\s*,\s*\d{3}(-\d{3})?)*\s*$",
                                     description='codes and ranges, e.g. "429,500-599"')
    push_timeout_seconds: float = Field(10.0, gt=0)
