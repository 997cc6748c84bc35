"""OIM forwarding: selected ServiceNow records -> BigPanda alerts through the Open Integration
Manager, with the OIM configuration kept by the core (events.py, batching.py, runner.py)."""
