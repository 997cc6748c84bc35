"""Steps of incident_settings.feature: the Incidents module settings, and what the ticket shows."""

from pytest_bdd import scenarios

from bpsn.steps.incident_settings import *  # noqa: F401,F403

scenarios("incident_settings.feature")
