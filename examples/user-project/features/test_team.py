"""Binds team.feature to bpsn's step library (registered by its pytest plugin)."""

from pytest_bdd import scenarios

scenarios("team.feature")
