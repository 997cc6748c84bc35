"""Scenarios of oim_forwarding.feature."""

from pytest_bdd import scenarios

from bpsn.steps.oim_forwarding import *  # noqa: F401,F403

scenarios("oim_forwarding.feature")
