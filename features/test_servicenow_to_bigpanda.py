"""Binds features/servicenow_to_bigpanda.feature (steps in bpsn/steps/common.py)."""

from pytest_bdd import scenarios

scenarios("servicenow_to_bigpanda.feature")
