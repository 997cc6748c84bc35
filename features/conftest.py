"""The project's own features use the step library (bpsn.steps)."""

from bpsn.steps.common import *  # noqa: F401,F403
