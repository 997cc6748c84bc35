"""The core's logs: JSON lines or a human format, a level from the configuration, no credential ever.

`configure_logging(level, fmt)` puts one handler on the root logger (calling it again replaces
it). Each record becomes one line: in JSON `{"time", "level", "logger", "message", ...}` plus
the structured fields passed with `extra=` (`log.info("...", extra={"organization": "acme"})`).
Levels are the configuration's words: ERROR, WARN (WARNING is accepted), INFO, DEBUG.

Redaction is the handler's job, so it covers every logger, including third-party ones: the
`Redactor` knows every credential the core has loaded (bootstrap registers each configuration
version and the connection settings) and masks them in the message, its arguments, the
structured fields, the traceback and, last, the formatted line itself. A credential logged by
mistake is therefore masked too. Values shorter than `MIN_SECRET_LENGTH` are not registered:
masking every "a" would garble the logs and protect nothing.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any, Literal

from bpsn.integration.log_levels import LEVELS, level_number, normalize_level  # noqa: F401 - part of this module's API

if TYPE_CHECKING:
    from bpsn.integration.config.models import IntegrationConfig
    from bpsn.integration.config.settings import ConnectionSettings

LogFormat = Literal["json", "human"]
NAMES = {number: name for name, number in LEVELS.items()}
MASK = "[redacted]"
MIN_SECRET_LENGTH = 4
# an Authorization header's value, even one never registered: HTTP's capital B, a token-like word
BEARER = re.compile(r"\b(Bearer\s+)(?=[A-Za-z0-9._~+/=-]*[0-9_-])[A-Za-z0-9._~+/=-]{8,}")
# what a LogRecord carries of its own; anything else on it came in through `extra=`
STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class Redactor:
    """Every credential value the process knows, and how to mask them in any text."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def add(self, *values: str) -> None:
        with self._lock:
            for value in values:
                if value and len(value) >= MIN_SECRET_LENGTH:
                    self._values.add(value)
                    self._values.add(json.dumps(value)[1:-1])  # as it appears inside a JSON string

    def add_config(self, config: IntegrationConfig) -> None:
        from bpsn.integration.config.models import CREDENTIAL_FIELDS
        self.add(*(getattr(config, name).reveal() for name in CREDENTIAL_FIELDS))

    def add_connection(self, settings: ConnectionSettings) -> None:
        """The environment's credentials; the built-in demo defaults are public (`bpsn up` prints them) and the
        ServiceNow one, `bigpanda`, is part of ordinary words (`bigpanda.integration`): those are left alone."""
        names = ("bigpanda_bearer_token", "bigpanda_api_key", "incidents_app_key", "servicenow_password")
        defaults = type(settings).model_fields
        self.add(*(getattr(settings, n).get_secret_value() for n in names
                   if getattr(settings, n) != defaults[n].default))

    def redact(self, text: str) -> str:
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)  # a secret containing another goes first
        for value in values:
            if value in text:
                text = text.replace(value, MASK)
        return BEARER.sub(lambda m: m.group(1) + MASK, text)

    def redact_value(self, value: Any) -> Any:
        """Structured fields keep their shape; strings inside them are masked."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {self.redact(str(k)): self.redact_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.redact_value(v) for v in value]
        if value is None or isinstance(value, bool | int | float):
            return value
        return self.redact(str(value))


REDACTOR = Redactor()  # the process's registry: logging is process-wide, so is what it must hide


class RedactingFilter(logging.Filter):
    """Masks credentials in a record before any formatter sees it (message, fields, traceback)."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        r = self.redactor
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the message: still one masked line, never a crash
            message = f"{record.msg!s} {record.args!s}"
        record.msg, record.args = r.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = r.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = r.redact(record.stack_info)
        for key in extra_keys(record):
            setattr(record, key, r.redact_value(getattr(record, key)))
        return True


def extra_keys(record: logging.LogRecord) -> list[str]:
    return [k for k in record.__dict__ if k not in STANDARD_ATTRS and not k.startswith("_")]


def _time(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per line; structured fields never overwrite the four base keys."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {"time": _time(record), "level": NAMES.get(record.levelno, record.levelname),
                               "logger": record.name, "message": record.getMessage()}
        for key in extra_keys(record):
            out[key if key not in out else f"extra_{key}"] = getattr(record, key)
        if record.exc_info or record.exc_text:
            out["exception"] = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
        return self.redactor.redact(json.dumps(out, default=str, ensure_ascii=False))


class HumanFormatter(logging.Formatter):
    """`time LEVEL logger: message key=value ...` for a terminal."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={getattr(record, k)}" for k in extra_keys(record))
        line = (f"{_time(record)} {NAMES.get(record.levelno, record.levelname):<5} {record.name}: "
                f"{record.getMessage()}" + (f"  {fields}" if fields else ""))
        if record.exc_info or record.exc_text:
            line += "\n" + (record.exc_text or self.formatException(record.exc_info))  # type: ignore[arg-type]
        return self.redactor.redact(line)


class CoreLogHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler this module installed, so configuring again replaces it."""


def configure_logging(level: str = "INFO", fmt: LogFormat = "json", *, stream: IO[str] | None = None,
                      redactor: Redactor = REDACTOR) -> CoreLogHandler:
    if fmt not in ("json", "human"):
        raise ValueError(f"unknown log format {fmt!r}: use json or human")
    normalize_level(level)  # refused before anything is installed
    handler = CoreLogHandler(stream or sys.stderr)
    handler.addFilter(RedactingFilter(redactor))
    handler.setFormatter(JsonFormatter(redactor) if fmt == "json" else HumanFormatter(redactor))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, CoreLogHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    set_level(level)
    return handler


def set_level(level: str) -> None:
    number = level_number(level)
    logging.getLogger().setLevel(number)
    # httpx logs a line per request at INFO: only when DEBUG was asked for; httpcore's socket steps never
    logging.getLogger("httpx").setLevel(number if number <= logging.DEBUG else logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


def most_verbose(levels: Iterable[str], default: str = "INFO") -> str:
    """One process, several organisations: the process logs at the most verbose level any asks for."""
    numbers = [level_number(level) for level in levels]
    return NAMES[min(numbers)] if numbers else normalize_level(default)
