"""Scenarios of incident_tasks.feature."""

from pytest_bdd import scenarios

from bpsn.steps.incident_tasks import *  # noqa: F401,F403

scenarios("incident_tasks.feature")
