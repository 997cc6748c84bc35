"""Scenarios of alert_configuration.feature."""

from pytest_bdd import scenarios

from bpsn.steps.alert_configuration import *  # noqa: F401,F403

scenarios("alert_configuration.feature")
