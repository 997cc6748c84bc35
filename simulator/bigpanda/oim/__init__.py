"""Open Integration Manager: configurations, filters, the payload-to-alert mapping, ingest and routes."""
