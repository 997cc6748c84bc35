"""Scenarios of ai_features.feature."""

from pytest_bdd import scenarios

from bpsn.steps.ai_features import *  # noqa: F401,F403

scenarios("ai_features.feature")
