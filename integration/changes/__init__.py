"""Changes and maintenance: ServiceNow change requests, change tasks and outages -> BigPanda
changes (Root Cause Changes) and maintenance plans. The CI fallback chain is described in
ci_resolution.py."""
