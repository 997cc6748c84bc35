"""Scenarios of parent_child.feature."""

from pytest_bdd import scenarios

scenarios("parent_child.feature")
