"""Scenarios of notified_changes.feature."""

from pytest_bdd import scenarios

scenarios("notified_changes.feature")
