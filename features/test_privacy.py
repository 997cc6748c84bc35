"""Scenarios of privacy.feature."""

from pytest_bdd import scenarios

from bpsn.steps.privacy import *  # noqa: F401,F403

scenarios("privacy.feature")
