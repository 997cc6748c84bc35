"""Scenarios of tag_sync.feature."""

from pytest_bdd import scenarios

scenarios("tag_sync.feature")
