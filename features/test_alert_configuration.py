"""Scenarios of alert_configuration.feature."""

from pytest_bdd import scenarios

scenarios("alert_configuration.feature")
