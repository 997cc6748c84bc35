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
BPSN_LOAD_SEED (first user's seed, default 7; user n gets seed + n; Locust worker w adds 1000 * w),
BPSN_LOAD_TICKET_TIMEOUT (seconds to wait for each ticket, default 30).

The alert mix (``bpsn load`` sets these from ``loadtests/profiles.yaml``; unset = the behaviour above):
BPSN_LOAD_HOSTS_PER_USER (default 8), BPSN_LOAD_NEW_HOST_RATIO (chance a task first swaps a host for a
new one, default 0), BPSN_LOAD_RESOLVE_RATIO (chance a task sends "ok" for an alert it raised instead;
untimed, reported as ``POST /data/v2/alerts [ok]``, default 0), BPSN_LOAD_STATUSES (weights such as
``critical=2,warning=1``; default: the generator's own draw), BPSN_LOAD_WAIT (``min,max`` seconds
between tasks, default ``0.1,0.3``).

BPSN_LOAD_OWN_SERVICE=1 gives every host a service of its own, so hosts do not correlate by service
(the generator's 28 services otherwise cap the open incidents; a storm then mostly updates them).

BPSN_LOAD_SAMPLES_DIR: when set, every process that runs users appends one CSV row per
``alert_to_ticket`` sample to ``samples-<pid>.csv`` there (unix time at the end, latency in ms, ok,
BigPanda incident id): ``bpsn load`` draws latency over time from them and checks their incidents.
"""

from __future__ import annotations

import base64
import itertools
import os
import time
from pathlib import Path
from typing import IO
from urllib.parse import urlencode

from faker.exceptions import UniquenessException
from locust import FastHttpUser, between, events, task

from bpsn.alertgen import AlertGenerator, Host

SERVICENOW_URL = os.environ.get("BPSN_LOAD_SERVICENOW_URL", "http://127.0.0.1:8002").rstrip("/")
SEED = int(os.environ.get("BPSN_LOAD_SEED", "7"))
TICKET_TIMEOUT = float(os.environ.get("BPSN_LOAD_TICKET_TIMEOUT", "30"))
ORG_TOKEN = "demo-org-token"
SERVICENOW_ADMIN_AUTH = "Basic " + base64.b64encode(
    os.environ.get("BPSN_LOAD_SERVICENOW_ADMIN", "admin:admin").encode()).decode()
ALERTS_APP_KEY = "demo-alerts-app-key"
HOSTS_PER_USER = int(os.environ.get("BPSN_LOAD_HOSTS_PER_USER", "8"))
NEW_HOST_RATIO = float(os.environ.get("BPSN_LOAD_NEW_HOST_RATIO", "0"))
RESOLVE_RATIO = float(os.environ.get("BPSN_LOAD_RESOLVE_RATIO", "0"))
STATUS_WEIGHTS = {k.strip(): float(v) for k, v in (pair.split("=") for pair in
                  os.environ.get("BPSN_LOAD_STATUSES", "").split(",") if pair.strip())}
WAIT_MIN, WAIT_MAX = (float(x) for x in os.environ.get("BPSN_LOAD_WAIT", "0.1,0.3").split(","))
OWN_SERVICE = os.environ.get("BPSN_LOAD_OWN_SERVICE", "0") == "1"
SAMPLES_DIR = os.environ.get("BPSN_LOAD_SAMPLES_DIR")
MAX_RAISED = 200  # alerts a user remembers for later resolves


class Samples:
    """One CSV row per alert_to_ticket sample of this process (opened on the first sample)."""

    file: IO[str] | None = None

    @classmethod
    def write(cls, latency_ms: float, ok: bool, incident_id: str) -> None:
        if not SAMPLES_DIR:
            return
        if cls.file is None:
            Path(SAMPLES_DIR).mkdir(parents=True, exist_ok=True)
            cls.file = open(Path(SAMPLES_DIR) / f"samples-{os.getpid()}.csv", "a", buffering=1)  # noqa: SIM115
            cls.file.write("time,latency_ms,ok,incident_id\n")
        cls.file.write(f"{time.time():.3f},{latency_ms:.1f},{int(ok)},{incident_id}\n")

    @classmethod
    def close(cls) -> None:
        if cls.file is not None:
            cls.file.close()
            cls.file = None


@events.quitting.add_listener
def _close_samples(**_: object) -> None:
    Samples.close()


class TicketNotFound(Exception):
    """The ServiceNow ticket did not appear (timeout or a bad answer from /_sim/wait)."""


class AlertToTicketUser(FastHttpUser):
    wait_time = between(WAIT_MIN, WAIT_MAX)
    network_timeout = TICKET_TIMEOUT + 10  # the long-poll must not be cut short by the client
    _user_numbers = itertools.count()

    def on_start(self) -> None:
        worker = getattr(self.environment.runner, "worker_index", 0) or 0  # distinct streams per worker
        self.alerts_seed = SEED + 1000 * worker + next(self._user_numbers)
        self.alerts = AlertGenerator(seed=self.alerts_seed, app_key=ALERTS_APP_KEY)
        self.hosts: list[Host] = [self.new_host() for _ in range(HOSTS_PER_USER)]
        self.raised: list[tuple[Host, str]] = []

    def new_host(self) -> Host:
        try:
            host = self.alerts.host()
        except UniquenessException:  # long runs use up the unique words; the serial keeps names apart
            self.alerts.fake.unique.clear()
            host = self.alerts.host()
        if OWN_SERVICE:  # users differ by seed, so prefix the worker and user to keep services apart
            host.service = f"{host.service}-{self.alerts_seed}-{host.name}"
        return host

    @task
    def alert_to_ticket(self) -> None:
        rng = self.alerts.fake.random
        if RESOLVE_RATIO and self.raised and rng.random() < RESOLVE_RATIO:
            self.resolve_one()
            return
        if NEW_HOST_RATIO and rng.random() < NEW_HOST_RATIO:
            self.hosts[rng.randrange(len(self.hosts))] = self.new_host()
        started = time.perf_counter()
        incident_id = self.post_alert()
        if incident_id is None:  # failed (already reported) or an exact duplicate: nothing to follow
            return
        error = self.wait_for_ticket(incident_id)
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.environment.events.request.fire(
            request_type="E2E", name="alert_to_ticket", response_time=elapsed_ms,
            response_length=0, exception=error, context={})
        Samples.write(elapsed_ms, error is None, incident_id)

    def pick_status(self) -> str | None:
        if not STATUS_WEIGHTS:
            return None  # the generator's own draw (critical, critical, warning)
        names = list(STATUS_WEIGHTS)
        return self.alerts.fake.random.choices(names, weights=[STATUS_WEIGHTS[n] for n in names])[0]

    def resolve_one(self) -> None:
        """Send "ok" for an alert this user raised (untimed: it updates a ticket, it makes none)."""
        host, check = self.raised.pop(self.alerts.fake.random.randrange(len(self.raised)))
        alert = self.alerts.alert(host, status="ok", check=check)
        with self.client.post("/data/v2/alerts", json=self.alerts.batch([alert]), name="POST /data/v2/alerts [ok]",
                              headers={"Authorization": f"Bearer {ORG_TOKEN}"}, catch_response=True) as r:
            if r.status_code not in (201, 204):
                r.failure(f"expected 201 or 204, got {r.status_code}: {(r.text or '')[:200]}")

    def post_alert(self) -> str | None:
        """Post one alert; the BigPanda incident it created or joined, or None."""
        host = self.alerts.fake.random_element(self.hosts)
        alert = self.alerts.alert(host, status=self.pick_status())
        if RESOLVE_RATIO:
            self.raised = [*self.raised[-(MAX_RAISED - 1):], (host, alert["check"])]
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
