"""ServiceNow's own /_sim admin routes, and the example fixtures."""
