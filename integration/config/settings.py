"""Where the core connects and with what: from the environment (BPSN_*), defaults for the demo.

Pointing the core at a real BigPanda organisation or ServiceNow instance is a change here,
never of code.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

WritePath = Literal["import_set", "batch"]


class ConnectionSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BPSN_")

    bigpanda_url: str = "http://127.0.0.1:8001"
    bigpanda_console_url: str = "https://a.bigpanda.io"
    bigpanda_bearer_token: SecretStr = SecretStr("BPUdemo-user-key")
    bigpanda_api_key: SecretStr = SecretStr("demo-org-token")
    incidents_app_key: SecretStr = SecretStr("demo-incidents-app-key")
    servicenow_url: str = "http://127.0.0.1:8002"
    servicenow_user: str = "bigpanda.integration"
    servicenow_password: SecretStr = SecretStr("bigpanda")

    poll_interval: float = Field(15.0, gt=0, description="Seconds between polls when the queue is drained")
    retrieval_count: int = Field(30, ge=1, le=100, description="Shares retrieved per poll")
    bigpanda_requests_per_second: float = Field(
        4.5, gt=0, description="Pacing of the core's BigPanda calls: BigPanda allows 5 per second per token; "
        "the default leaves room for other tools that use the same token")
    bigpanda_burst: int = Field(5, ge=1, le=5, description="Requests that may leave back to back: never more than "
                                "this many in burst / rate seconds, counted from each answer (so network delay "
                                "cannot push them into one of BigPanda's seconds)")
    write_path: WritePath = Field(
        "import_set", description="How tickets reach ServiceNow: `import_set` (the v3 app's way: each poll's "
        "writes as rows of x_bip_panda_shareincident in one insertMultiple; the instance's transform map writes "
        "the incident) or `batch` (Table API writes through the Batch API, one request per 100)")
    http_timeout: float = Field(10.0, gt=0)
    max_attempts: int = Field(6, ge=1)
