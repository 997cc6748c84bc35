"""Outside pytest: both simulators and the core on loopback ports, for a script or unittest."""

import bpsn

with bpsn.running() as stack:
    print(f"BigPanda {stack.bigpanda_url}, ServiceNow {stack.servicenow_url}")
    stack.send_alerts({"status": "critical", "host": "web-9", "check": "cpu"})
    report = stack.poll()
    tickets = stack.tickets()
    print(f"{report.created} ticket created: {tickets[0]['number']}")
    assert len(tickets) == 1
