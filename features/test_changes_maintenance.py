"""Scenarios of changes_maintenance.feature."""

from pytest_bdd import scenarios

from bpsn.steps.changes_maintenance import *  # noqa: F401,F403

scenarios("changes_maintenance.feature")
