"""Scenarios of transform_rules.feature."""

from pytest_bdd import scenarios

from bpsn.steps.transform_rules import *  # noqa: F401,F403

scenarios("transform_rules.feature")
