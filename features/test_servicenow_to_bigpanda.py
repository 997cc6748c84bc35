"""Binds features/servicenow_to_bigpanda.feature (steps in features/conftest.py)."""

from pytest_bdd import scenarios

scenarios("servicenow_to_bigpanda.feature")
