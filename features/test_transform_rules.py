"""Scenarios of transform_rules.feature."""

from pytest_bdd import scenarios

scenarios("transform_rules.feature")
