"""Scenarios of upgrade_rehearsal.feature."""

from pytest_bdd import scenarios

scenarios("upgrade_rehearsal.feature")
