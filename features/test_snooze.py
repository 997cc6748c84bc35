"""Binds features/snooze.feature (steps in bpsn/steps/common.py)."""

from pytest_bdd import scenarios

scenarios("snooze.feature")
