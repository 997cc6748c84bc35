"""Scenarios of incident_tasks.feature."""

from pytest_bdd import scenarios

scenarios("incident_tasks.feature")
