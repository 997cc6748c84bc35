"""Scenarios of oim_forwarding.feature."""

from pytest_bdd import scenarios

scenarios("oim_forwarding.feature")
