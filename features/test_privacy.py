"""Scenarios of privacy.feature."""

from pytest_bdd import scenarios

scenarios("privacy.feature")
