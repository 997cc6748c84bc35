"""Binds features/flapping.feature (steps in bpsn/steps/common.py)."""

from pytest_bdd import scenarios

scenarios("flapping.feature")
