"""ServiceNow simulator settings: defaults for the demo instance, overridable by environment."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceNowSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BPSN_SN_")

    instance_url: str = "http://127.0.0.1:8002"
    seed: int = 1
    state_file: str | None = None
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="Largest request body; 413 above it")
    snapshot_dir: Path = Field(Path("snapshots"), description="The only folder /_sim/snapshot/save and /load "
                               "read and write (file names inside it; relative to the working directory)")
    journal_max_entries: int = 10_000
    encryption_key: SecretStr | None = Field(
        None, description="Key material for password2 fields. Unset: a random key from `secrets` each "
                          "time the instance starts, so values encrypted by an earlier process (a state "
                          "file) cannot be decrypted by a later one; set it to keep them across restarts.")
    password_hash_iterations: int = Field(
        100_000, ge=1, le=10_000_000,
        description="PBKDF2-HMAC-SHA256 iterations for one-way password fields (sys_user.user_password); "
                    "each hash keeps its own count, so changing this locks nobody out. A check runs in a "
                    "worker thread, never on the event loop; 100,000 (about 50 ms here) keeps a simulator's "
                    "start-up and wrong-password tests quick.")
    login_max_failures: int = Field(
        5, ge=1, description="Failed basic-auth or OAuth password-grant attempts for one user name, within "
                             "login_failure_window seconds of the simulator clock, after which every attempt "
                             "for that name is answered 401 without checking the password until the oldest "
                             "failure leaves the window.")
    login_failure_window: float = Field(
        60.0, gt=0, description="Seconds of simulator clock over which login_max_failures failures are counted.")
    admin_password: str = "admin"
    integration_user: str = "bigpanda.integration"
    integration_password: str = "bigpanda"
    analyst_user: str = "noc.analyst"
    analyst_password: str = "analyst"
    oauth_client_id: str = "bpsn-demo-client"
    oauth_client_secret: str = "bpsn-demo-secret"
    default_limit: int = 10_000
    wait_timeout_max: float = 120.0
