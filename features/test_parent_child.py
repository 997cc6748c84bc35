"""Scenarios of parent_child.feature."""

from pytest_bdd import scenarios

from bpsn.steps.parent_child import *  # noqa: F401,F403

scenarios("parent_child.feature")
