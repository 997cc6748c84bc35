"""The integration core (bpsn.integration): what the BigPanda v3 ServiceNow app does, over HTTP only."""
