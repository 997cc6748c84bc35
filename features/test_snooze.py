"""Binds features/snooze.feature (steps in features/conftest.py)."""

from pytest_bdd import scenarios

scenarios("snooze.feature")
