"""Binds features/reopen.feature (steps in bpsn/steps/common.py)."""

from pytest_bdd import scenarios

scenarios("reopen.feature")
