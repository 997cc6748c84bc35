"""Incidents API: actions on incidents, BPQL lookup and search, the published shapes, and their routes."""
