"""Scenarios of cmdb_sync.feature."""

from pytest_bdd import scenarios

from bpsn.steps.cmdb_sync import *  # noqa: F401,F403

scenarios("cmdb_sync.feature")
