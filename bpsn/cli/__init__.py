"""The `bpsn` command: the simulators, the stack, the core, and their tools."""

from .main import app

__all__ = ["app"]
