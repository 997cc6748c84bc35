"""Scenarios of bigpanda_permissions.feature."""

from pytest_bdd import scenarios

scenarios("bigpanda_permissions.feature")
