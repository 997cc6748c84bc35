"""Scenarios of staging_transform.feature."""

from pytest_bdd import scenarios

scenarios("staging_transform.feature")
