"""Binds features/reopen.feature (steps in features/conftest.py)."""

from pytest_bdd import scenarios

scenarios("reopen.feature")
