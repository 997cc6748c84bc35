"""Scenarios of tag_sync.feature."""

from pytest_bdd import scenarios

from bpsn.steps.tag_sync import *  # noqa: F401,F403

scenarios("tag_sync.feature")
