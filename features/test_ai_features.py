"""Scenarios of ai_features.feature."""

from pytest_bdd import scenarios

scenarios("ai_features.feature")
