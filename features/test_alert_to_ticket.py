"""Binds features/alert_to_ticket.feature (steps in bpsn/steps/common.py)."""

from pytest_bdd import scenarios

scenarios("alert_to_ticket.feature")
