"""The two simulators (bpsn.simulator): BigPanda and ServiceNow, and what they share."""
