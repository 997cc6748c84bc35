"""Binds features/flapping.feature (steps in features/conftest.py)."""

from pytest_bdd import scenarios

scenarios("flapping.feature")
