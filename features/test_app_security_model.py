"""Scenarios of app_security_model.feature."""

from pytest_bdd import scenarios

scenarios("app_security_model.feature")
