"""Load on the whole stack: realistic alerts into BigPanda, timed until ServiceNow has the ticket.

Each user posts seeded alerts (``bpsn.alertgen``) to the BigPanda simulator at the Locust host,
then long-polls the ServiceNow simulator's ``/_sim/wait`` for an incident whose correlation_id
is the BigPanda incident the alert created or joined. Locust reports three rows:

* ``POST /data/v2/alerts`` and ``GET /_sim/wait``: the HTTP calls themselves;
* ``E2E alert_to_ticket``: from just before the POST until the wait matched (ms). A wait that
  times out or answers badly counts as a failure of this row.

Run against ``bpsn up`` (BigPanda on 8001, ServiceNow on 8002 by default)::

    BPSN_LOAD_SERVICENOW_URL=http://127.0.0.1:8002 \\
        locust -f loadtests/locustfile.py --headless -u 4 -r 4 -t 30s -H http://127.0.0.1:8001

Settings (environment): BPSN_LOAD_SERVICENOW_URL (default http://127.0.0.1:8002),
BPSN_LOAD_SEED (first user's seed, default 7; user n gets seed + n),
BPSN_LOAD_TICKET_TIMEOUT (seconds to wait for each ticket, default 30).
"""

from __future__ import annotations

import base64
import itertools
import os
import time
from urllib.parse import urlencode

from locust import FastHttpUser, between, task

from bpsn.alertgen import AlertGenerator, Host

SERVICENOW_URL = os.environ.get("BPSN_LOAD_SERVICENOW_URL", "http://127.0.0.1:8002").rstrip("/")
SEED = int(os.environ.get("BPSN_LOAD_SEED", "7"))
TICKET_TIMEOUT = float(os.environ.get("BPSN_LOAD_TICKET_TIMEOUT", "30"))
ORG_TOKEN = "demo-org-token"
SERVICENOW_ADMIN_AUTH = "Basic " + base64.b64encode(
    os.environ.get("BPSN_LOAD_SERVICENOW_ADMIN", "admin:admin").encode()).decode()
ALERTS_APP_KEY = "demo-alerts-app-key"
HOSTS_PER_USER = 8


class TicketNotFound(Exception):
    """The ServiceNow ticket did not appear (timeout or a bad answer from /_sim/wait)."""


class AlertToTicketUser(FastHttpUser):
    wait_time = between(0.1, 0.3)
    network_timeout = TICKET_TIMEOUT + 10  # the long-poll must not be cut short by the client
    _user_numbers = itertools.count()

    def on_start(self) -> None:
        self.alerts = AlertGenerator(seed=SEED + next(self._user_numbers), app_key=ALERTS_APP_KEY)
        self.hosts: list[Host] = [self.alerts.host() for _ in range(HOSTS_PER_USER)]

    @task
    def alert_to_ticket(self) -> None:
        started = time.perf_counter()
        incident_id = self.post_alert()
        if incident_id is None:  # failed (already reported) or an exact duplicate: nothing to follow
            return
        error = self.wait_for_ticket(incident_id)
        self.environment.events.request.fire(
            request_type="E2E", name="alert_to_ticket",
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0, exception=error, context={})

    def post_alert(self) -> str | None:
        """Post one alert; the BigPanda incident it created or joined, or None."""
        alert = self.alerts.alert(self.alerts.fake.random_element(self.hosts))
        with self.client.post("/data/v2/alerts", json=self.alerts.batch([alert]), name="POST /data/v2/alerts",
                              headers={"Authorization": f"Bearer {ORG_TOKEN}"}, catch_response=True) as r:
            if r.status_code == 204:
                return None
            if r.status_code != 201:
                r.failure(f"expected 201, got {r.status_code}: {(r.text or '')[:200]}")
                return None
            return r.json()["alerts"][0]["incident_id"]

    def wait_for_ticket(self, incident_id: str) -> Exception | None:
        """Long-poll ServiceNow until the ticket exists; None when it does, else the reason."""
        query = urlencode({"table": "incident", "sysparm_query": f"correlation_id={incident_id}",
                           "timeout": TICKET_TIMEOUT})
        # The ServiceNow simulator's admin routes take an admin's basic auth.
        with self.client.get(f"{SERVICENOW_URL}/_sim/wait?{query}", name="GET /_sim/wait",
                             headers={"Authorization": SERVICENOW_ADMIN_AUTH}, catch_response=True) as r:
            # Messages carry no ids, so Locust's error report groups them.
            if r.status_code != 200:
                r.failure(f"expected 200, got {r.status_code}" + (f" ({r.error!r})" if r.error else ""))
                return TicketNotFound(f"/_sim/wait answered {r.status_code}")
            if not r.json().get("matched"):
                return TicketNotFound(f"no ServiceNow ticket within {TICKET_TIMEOUT:g} s")
            return None
