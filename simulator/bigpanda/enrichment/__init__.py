"""Mapping enrichment: tables, CSV uploads, the CMDB delta, and routes."""
