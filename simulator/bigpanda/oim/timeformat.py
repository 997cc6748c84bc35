"""The OIM event timestamp's `format`: how the source tag's value is read.

BigPanda documents that the source tag and format of the event time can be configured; it
publishes no format syntax. Our choice: `epoch_seconds`, `epoch_millis`, `iso8601`, or a
strftime pattern (any text with a `%` directive, e.g. `%d/%m/%Y %H:%M:%S`; no zone in the
pattern means UTC). Without a format, a value is read as before: epoch seconds (milliseconds
above 1e11), numeric text, or ISO 8601. A value the format cannot read falls through to the
next source, then to the time the event entered BigPanda.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

KEYWORDS = ("epoch_seconds", "epoch_millis", "iso8601")


def format_problem(fmt: str) -> str | None:
    """Why `fmt` is not a usable format, or None."""
    if fmt in KEYWORDS:
        return None
    if "%" not in fmt:
        return f"{fmt!r} is not a timestamp format: use one of {', '.join(KEYWORDS)} or a strftime pattern"
    try:
        datetime.now(UTC).strftime(fmt)
    except ValueError as exc:
        return f"{fmt!r} is not a valid strftime pattern: {exc}"
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _aware(parsed: datetime) -> float:
    return (parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)).timestamp()


def _valid(seconds: float | None) -> float | None:
    return seconds if seconds is not None and not math.isnan(seconds) and seconds >= 0 else None


def read_time(value: Any, fmt: str | None) -> float | None:
    """Epoch seconds of `value` read with `fmt`, or None when it cannot be read that way."""
    if fmt is None:
        number = _number(value)
        if number is not None:
            return _valid(number / 1000.0 if number > 1e11 else number)
        return read_time(value, "iso8601")
    if fmt == "epoch_seconds":
        return _valid(_number(value))
    if fmt == "epoch_millis":
        number = _number(value)
        return _valid(number / 1000.0) if number is not None else None
    if not isinstance(value, str):
        return None
    try:
        if fmt == "iso8601":
            return _valid(_aware(datetime.fromisoformat(value.strip())))
        return _valid(_aware(datetime.strptime(value.strip(), fmt)))
    except ValueError:
        return None
