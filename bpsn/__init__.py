"""bpsn: a test bench for the BigPanda <-> ServiceNow v3 incident integration."""

__version__ = "0.1.0"
