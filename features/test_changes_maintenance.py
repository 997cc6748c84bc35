"""Scenarios of changes_maintenance.feature."""

from pytest_bdd import scenarios

scenarios("changes_maintenance.feature")
