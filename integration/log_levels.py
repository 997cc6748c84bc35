"""Log levels as the configuration names them (ERROR, WARN, INFO, DEBUG)."""

from __future__ import annotations

import logging

LEVELS = {"ERROR": logging.ERROR, "WARN": logging.WARNING, "INFO": logging.INFO, "DEBUG": logging.DEBUG}


def normalize_level(value: str) -> str:
    """`warn`, `WARNING`, ` info ` -> the configuration's word; anything else is refused, naming the choices."""
    name = str(value).strip().upper()
    name = "WARN" if name == "WARNING" else name
    if name not in LEVELS:
        raise ValueError(f"unknown log level {value!r}: use one of {', '.join(LEVELS)}")
    return name


def level_number(value: str) -> int:
    return LEVELS[normalize_level(value)]
