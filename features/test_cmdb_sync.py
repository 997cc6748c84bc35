"""Scenarios of cmdb_sync.feature."""

from pytest_bdd import scenarios

scenarios("cmdb_sync.feature")
