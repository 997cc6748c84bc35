"""Maintenance plans: state, BPQL conditions and routes."""
