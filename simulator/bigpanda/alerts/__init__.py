"""Alerts API: payloads normalised into alert events, and POST /data/v2/alerts."""
