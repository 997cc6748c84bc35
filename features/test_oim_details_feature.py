"""Scenarios of oim_details.feature."""

from pytest_bdd import scenarios

scenarios("oim_details.feature")
