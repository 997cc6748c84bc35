"""Steps of incident_settings.feature: the Incidents module settings, and what the ticket shows."""

from pytest_bdd import scenarios

scenarios("incident_settings.feature")
