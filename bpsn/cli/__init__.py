"""The `bpsn` command: the simulators, the stack, the core, and their tools."""

from __future__ import annotations

from typing import Any

__all__ = ["app"]


def __getattr__(name: str) -> Any:
    """`bpsn.cli.app`, imported on first use: `python -m bpsn.cli` imports this package before
    __main__ runs, and __main__ tunes the collector before the command's imports (see main())."""
    if name == "app":
        from .main import app
        return app
    raise AttributeError(f"module 'bpsn.cli' has no attribute {name!r}")
