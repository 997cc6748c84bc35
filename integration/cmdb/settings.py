"""CMDB sync settings: which CI classes and fields make up the schema, and the seed's
connection defaults (page size 100, max pages 10, max retries 3, retry interval 5 s,
sync interval 24 h). From the environment as BPSN_CMDB_* (classes as JSON)."""

from __future__ import annotations

import re

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .planner import KEY_FIELD, ClassSchema

NAME = re.compile(r"^[a-z][a-z0-9_]{0,79}$")
DEFAULT_CLASSES: dict[str, list[str]] = {
    "cmdb_ci_server": ["name", "sys_class_name", "host_name", "fqdn", "ip_address", "os", "operational_status",
                       "install_status", "support_group", "location", "environment"],
    "cmdb_ci_appl": ["name", "version", "running_on", "operational_status", "support_group", "environment"],
    "cmdb_ci_service": ["name", "service_classification", "operational_status", "support_group"],
}


class CmdbSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BPSN_CMDB_")

    classes: dict[str, list[str]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_CLASSES.items()},
        description="CI class (ServiceNow table) -> the fields sent for it; sys_id is always the key")
    page_size: int = Field(100, ge=1, le=10_000, description="CMDB records per ServiceNow page")
    max_pages: int = Field(10, ge=1, le=100_000, description="Pages read per table in one sync pass")
    max_retries: int = Field(3, ge=0, le=20, description="Retries of a failed CMDB call")
    retry_interval: float = Field(5.0, gt=0, le=3600, description="Seconds between those retries")
    sync_interval: float = Field(86_400.0, gt=0, description="Seconds from one full sync cycle to the next")
    throttle_backoff: tuple[float, ...] = Field(
        (60.0, 300.0, 900.0), min_length=1,
        description="Seconds to back off after a call still answered 429 once its retries are spent")
    backoff_jitter: float = Field(0.25, ge=0, le=1, description="Each backoff is lengthened by up to this fraction")
    key_prefix_length: int = Field(2, ge=1, le=8, description="The record hashes are kept in ServiceNow in one "
                                                            "row per sys_id prefix of this length")
    job_poll_limit: int = Field(60, ge=1, description="v1 export: job polls (retry_interval apart) before giving up")

    @field_validator("classes")
    @classmethod
    def _check_classes(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        if not value:
            raise ValueError("configure at least one CI class")
        for table, fields in value.items():
            if not NAME.match(table):
                raise ValueError(f"CI class {table!r} is not a table name (lowercase letters, digits, _)")
            bad = [f for f in fields if not NAME.match(f)]
            if bad:
                raise ValueError(f"{table}: {', '.join(map(repr, bad))} are not field names")
            if not [f for f in fields if f != KEY_FIELD]:
                raise ValueError(f"{table}: list at least one field besides {KEY_FIELD}")
            repeated = sorted({f for f in fields if fields.count(f) > 1})
            if repeated:
                raise ValueError(f"{table}: fields repeat: {', '.join(repeated)}")
        return value

    @field_validator("throttle_backoff")
    @classmethod
    def _check_backoff(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(v <= 0 for v in value):
            raise ValueError("every throttle backoff must be a positive number of seconds")
        return value

    def schemas(self) -> list[ClassSchema]:
        return [ClassSchema(table, tuple(f for f in fields if f != KEY_FIELD))
                for table, fields in self.classes.items()]
