"""Load on the whole stack: realistic alerts into BigPanda, timed until ServiceNow shows the result.

Two kinds of users, both seeded (``bpsn.alertgen``):

* ``AlertStreamUser`` posts alerts from its hosts (new hosts, updates, resolves, as the mix says)
  and waits until ServiceNow has a ticket whose correlation_id is the BigPanda incident the alert
  created or joined.
* ``IncidentLifecycleUser`` (``BPSN_LOAD_LIFECYCLE_USERS`` of them; none by default) runs one
  incident from start to end, again and again: a fresh host raises one alert (an incident of its
  own), a BigPanda user sets the mapped incident tag, an analyst edits the mapped ticket field in
  ServiceNow, and the alert clears.

Locust rows besides the HTTP calls, all ``E2E`` with times in ms (failures: a timeout or a wrong value):

* ``alert_to_ticket``: from just before the alert POST until the ticket exists;
* ``tag_sync_to_servicenow``: from just before the BigPanda tag POST until the ticket field holds the value;
* ``tag_sync_to_bigpanda``: from just before the ServiceNow PATCH until the core's tags call that set
  the value in BigPanda was answered (its time in BigPanda's request journal; the value is then checked
  on the incident). It includes the core's 5 s coalesce window;
* ``resolve_to_ticket_resolved``: from just before the "ok" alert POST until the ticket is in state 6.

Tickets are found by one watcher per process (``ticket_watch.py``), not by one wait per user.
Run against ``bpsn up`` (BigPanda on 8001, ServiceNow on 8002 by default)::

    BPSN_LOAD_SERVICENOW_URL=http://127.0.0.1:8002 \\
        locust -f loadtests/locustfile.py --headless -u 4 -r 4 -t 30s -H http://127.0.0.1:8001

Settings (environment): BPSN_LOAD_SERVICENOW_URL (default http://127.0.0.1:8002), BPSN_LOAD_SEED (first
user's seed, default 7; user n gets seed + n; Locust worker w adds 1000 * w), BPSN_LOAD_TICKET_TIMEOUT
(seconds to wait for each ticket or ticket state, default 30), BPSN_LOAD_TAG_TIMEOUT (seconds for each
tag to cross, default ticket timeout + 20). The alert mix (``bpsn load`` sets these from
``loadtests/profiles.yaml``): BPSN_LOAD_HOSTS_PER_USER (8), BPSN_LOAD_NEW_HOST_RATIO (chance a task first
swaps a host for a new one, 0), BPSN_LOAD_RESOLVE_RATIO (chance a task sends "ok" for an alert it raised,
untimed, row ``POST /data/v2/alerts [ok]``, 0), BPSN_LOAD_STATUSES (weights such as ``critical=2,warning=1``),
BPSN_LOAD_WAIT (``min,max`` seconds between tasks, ``0.1,0.3``), BPSN_LOAD_TASK_RATE (when > 0, each user
starts at most this many tasks per second instead, Locust's constant_throughput), BPSN_LOAD_OWN_SERVICE=1 (every host a
service of its own, so hosts do not correlate by service). Lifecycles: BPSN_LOAD_LIFECYCLE_USERS (0),
BPSN_LOAD_LIFECYCLE_PAUSE (each step waits a seeded 0..this many seconds first, so that it starts anywhere in
the core's poll cycle; ``bpsn load`` sets the poll interval; default 1), BPSN_LOAD_ANALYST_KEY (a BigPanda user API key other than the core's, so the edits do not spend the core's
5 requests/s; default BPUload-analyst-key), BPSN_LOAD_TAG / BPSN_LOAD_TAG_FIELD (the Text tag and the
ticket field the core maps both ways; component / subcategory).

BPSN_LOAD_SAMPLES_DIR: when set, every process that runs users appends one CSV row per E2E sample to
``samples-<pid>.csv`` there (unix time at the end, metric, latency in ms, ok, BigPanda incident id, and
for alert_to_ticket whether the ticket did not exist yet when the alert was accepted).
"""

from __future__ import annotations

import base64
import itertools
import os
import time
from pathlib import Path
from typing import IO, Any, ClassVar
from urllib.parse import urlencode

import gevent
from faker.exceptions import UniquenessException
from gevent.lock import Semaphore
from locust import FastHttpUser, between, constant_throughput, events, task
from ticket_watch import Ticket, TicketWatch

from bpsn.alertgen import AlertGenerator, Host

SERVICENOW_URL = os.environ.get("BPSN_LOAD_SERVICENOW_URL", "http://127.0.0.1:8002").rstrip("/")
SEED = int(os.environ.get("BPSN_LOAD_SEED", "7"))
TICKET_TIMEOUT = float(os.environ.get("BPSN_LOAD_TICKET_TIMEOUT", "30"))
TAG_TIMEOUT = float(os.environ.get("BPSN_LOAD_TAG_TIMEOUT", str(TICKET_TIMEOUT + 20)))
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
TASK_RATE = float(os.environ.get("BPSN_LOAD_TASK_RATE", "0"))  # > 0: tasks per second per user, not WAIT
OWN_SERVICE = os.environ.get("BPSN_LOAD_OWN_SERVICE", "0") == "1"
LIFECYCLE_USERS = int(os.environ.get("BPSN_LOAD_LIFECYCLE_USERS", "0"))
LIFECYCLE_PAUSE = float(os.environ.get("BPSN_LOAD_LIFECYCLE_PAUSE", "1"))  # max seconds before each step
ANALYST_KEY = os.environ.get("BPSN_LOAD_ANALYST_KEY", "BPUload-analyst-key")
TAG_NAME = os.environ.get("BPSN_LOAD_TAG", "component")
TAG_FIELD = os.environ.get("BPSN_LOAD_TAG_FIELD", "subcategory")
SAMPLES_DIR = os.environ.get("BPSN_LOAD_SAMPLES_DIR")
MAX_RAISED = 200  # alerts a user remembers for later resolves
JOURNAL_POLL_S = 0.2  # how often a lifecycle looks for the core's tags call (the time comes from the journal)
ANALYST_TRIES = 4  # the analysts share one key (5 requests/s): a 429 is waited out as Retry-After says
ALERT_POST = "POST /data/v2/alerts"
ANALYST = {"Authorization": f"Bearer {ANALYST_KEY}"}
SN_ADMIN = {"Authorization": SERVICENOW_ADMIN_AUTH}
BP_ADMIN = {"X-Bpsn-Admin-Token": os.environ.get("BPSN_BP_ADMIN_TOKEN", "bpsn-admin-token")}  # BigPanda /_sim

WATCH = TicketWatch(SERVICENOW_URL, SERVICENOW_ADMIN_AUTH)


class Samples:
    """One CSV row per E2E sample of this process (the file is opened on the first sample)."""

    file: IO[str] | None = None

    @classmethod
    def write(cls, metric: str, latency_ms: float, ok: bool, incident_id: str, waited: str = "") -> None:
        if not SAMPLES_DIR:
            return
        if cls.file is None:
            Path(SAMPLES_DIR).mkdir(parents=True, exist_ok=True)
            cls.file = open(Path(SAMPLES_DIR) / f"samples-{os.getpid()}.csv", "a", buffering=1)  # noqa: SIM115
            cls.file.write("time,metric,latency_ms,ok,incident_id,waited\n")
        cls.file.write(f"{time.time():.3f},{metric},{latency_ms:.1f},{int(ok)},{incident_id},{waited}\n")

    @classmethod
    def close(cls) -> None:
        if cls.file is not None:
            cls.file.close()
            cls.file = None


@events.quitting.add_listener
def _stop(**_: object) -> None:
    WATCH.stop()
    Samples.close()


class NotSeen(Exception):
    """ServiceNow or BigPanda did not show the expected ticket, state or tag in time (or answered badly)."""


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000


class AlertSource(FastHttpUser):
    """What both users share: a seeded alert generator, hosts, posting, and recording samples."""

    abstract = True
    wait_time = constant_throughput(TASK_RATE) if TASK_RATE > 0 else between(WAIT_MIN, WAIT_MAX)
    network_timeout = max(TICKET_TIMEOUT, TAG_TIMEOUT) + 10  # long-polls must not be cut short
    _user_numbers: ClassVar[itertools.count[int]] = itertools.count()

    def on_start(self) -> None:
        worker = getattr(self.environment.runner, "worker_index", 0) or 0  # distinct streams per worker
        self.alerts_seed = SEED + 1000 * worker + next(AlertSource._user_numbers)
        self.alerts = AlertGenerator(seed=self.alerts_seed, app_key=ALERTS_APP_KEY)
        WATCH.start()

    def new_host(self, own_service: bool) -> Host:
        try:
            host = self.alerts.host()
        except UniquenessException:  # long runs use up the unique words; the serial keeps names apart
            self.alerts.fake.unique.clear()
            host = self.alerts.host()
        if own_service:  # users differ by seed: the seed keeps hosts and services of two users apart
            host.name = f"{host.name}-u{self.alerts_seed}"  # BigPanda correlates by host: one user's incident
            host.service = f"{host.service}-{host.name}"
        return host

    def post(self, alert: dict[str, Any], name: str = ALERT_POST) -> tuple[bool, str | None]:
        """Post one alert: (accepted, the incident it created or joined; None for an exact duplicate)."""
        with self.client.post("/data/v2/alerts", json=self.alerts.batch([alert]), name=name,
                              headers={"Authorization": f"Bearer {ORG_TOKEN}"}, catch_response=True) as r:
            if r.status_code == 204:
                return True, None
            if r.status_code != 201:
                r.failure(f"expected 201 or 204, got {r.status_code}: {(r.text or '')[:200]}")
                return False, None
            return True, r.json()["alerts"][0]["incident_id"]

    def record(self, metric: str, latency_ms: float, error: Exception | None, incident_id: str,
               waited: str = "") -> None:
        self.environment.events.request.fire(request_type="E2E", name=metric, response_time=latency_ms,
                                             response_length=0, exception=error, context={})
        Samples.write(metric, latency_ms, error is None, incident_id, waited)

    def alert_to_ticket(self, started: float, incident_id: str) -> Ticket | None:
        """Wait for the incident's ticket and record the sample timed from `started`."""
        accepted = time.perf_counter()
        ticket = WATCH.wait(incident_id, TICKET_TIMEOUT)
        if ticket is None:
            why = f"; ticket watch: {WATCH.last_error}" if WATCH.last_error else ""
            self.record("alert_to_ticket", _ms(started), NotSeen(f"no ServiceNow ticket within "
                                                                 f"{TICKET_TIMEOUT:g} s{why}"), incident_id)
            return None
        # a ticket that already existed counts from when the alert was accepted
        latency = (max(ticket.seen, accepted) - started) * 1000
        self.record("alert_to_ticket", latency, None, incident_id, str(int(ticket.seen > accepted)))
        return ticket

    def servicenow_wait(self, query: str, timeout: float, name: str) -> Exception | None:
        """Long-poll ServiceNow until a ticket matches `query`; None when one does, else the reason."""
        params = urlencode({"table": "incident", "sysparm_query": query, "timeout": timeout})
        with self.client.get(f"{SERVICENOW_URL}/_sim/wait?{params}", name=name, headers=SN_ADMIN,
                             catch_response=True) as r:
            # messages carry no ids, so Locust's error report groups them
            if r.status_code != 200:
                r.failure(f"expected 200, got {r.status_code}" + (f" ({r.error!r})" if r.error else ""))
                return NotSeen(f"/_sim/wait answered {r.status_code}")
            if not r.json().get("matched"):
                return NotSeen(f"no matching ServiceNow ticket within {timeout:g} s")
            return None


class AlertStreamUser(AlertSource):
    def on_start(self) -> None:
        super().on_start()
        self.hosts: list[Host] = [self.new_host(OWN_SERVICE) for _ in range(HOSTS_PER_USER)]
        self.raised: list[tuple[Host, str]] = []

    @task
    def alert_stream(self) -> None:
        rng = self.alerts.fake.random
        if RESOLVE_RATIO and self.raised and rng.random() < RESOLVE_RATIO:
            self.resolve_one()
            return
        if NEW_HOST_RATIO and rng.random() < NEW_HOST_RATIO:
            self.hosts[rng.randrange(len(self.hosts))] = self.new_host(OWN_SERVICE)
        host = self.alerts.fake.random_element(self.hosts)
        alert = self.alerts.alert(host, status=self.pick_status())
        if RESOLVE_RATIO:
            self.raised = [*self.raised[-(MAX_RAISED - 1):], (host, alert["check"])]
        started = time.perf_counter()
        _, incident_id = self.post(alert)
        if incident_id is not None:  # None: failed (already reported) or an exact duplicate
            self.alert_to_ticket(started, incident_id)

    def pick_status(self) -> str | None:
        if not STATUS_WEIGHTS:
            return None  # the generator's own draw (critical, critical, warning)
        names = list(STATUS_WEIGHTS)
        return self.alerts.fake.random.choices(names, weights=[STATUS_WEIGHTS[n] for n in names])[0]

    def resolve_one(self) -> None:
        """Send "ok" for an alert this user raised (untimed: its incident may hold other alerts)."""
        host, check = self.raised.pop(self.alerts.fake.random.randrange(len(self.raised)))
        self.post(self.alerts.alert(host, status="ok", check=check), name=f"{ALERT_POST} [ok]")


class IncidentLifecycleUser(AlertSource):
    abstract = LIFECYCLE_USERS == 0  # Locust runs no abstract user class
    fixed_count = LIFECYCLE_USERS
    tag_id: ClassVar[str | None] = None  # the mapped tag's definition id, listed once per process
    _listing: ClassVar[Semaphore] = Semaphore()

    @task
    def lifecycle(self) -> None:
        host = self.new_host(own_service=True)  # a host and service of its own: the alert is the incident
        alert = self.alerts.alert(host, status="critical")
        started = time.perf_counter()
        _, incident_id = self.post(alert)
        if incident_id is None:
            return
        ticket = self.alert_to_ticket(started, incident_id)
        environment, tag_id = self.environment_of(incident_id), self.mapped_tag_id()
        if ticket is None or environment is None or tag_id is None:
            return
        n = self.alerts.fake.random_int(0, 10**9)  # fresh values, so a stale one never matches
        self.pause()
        if not self.tag_to_servicenow(environment, incident_id, tag_id, f"bp-{self.alerts_seed}-{n}"):
            return
        self.pause()
        if not self.tag_to_bigpanda(environment, incident_id, tag_id, ticket.sys_id, f"sn-{self.alerts_seed}-{n}"):
            return
        self.pause()
        started = time.perf_counter()
        ok, _ = self.post(self.alerts.alert(host, status="ok", check=alert["check"]), name=f"{ALERT_POST} [ok]")
        if ok:
            error = self.servicenow_wait(f"correlation_id={incident_id}^state=6", TICKET_TIMEOUT,
                                         "GET /_sim/wait [resolved]")
            self.record("resolve_to_ticket_resolved", _ms(started), error, incident_id)

    def pause(self) -> None:
        """A seeded pause before each step: each step begins wherever the core is in its poll cycle.
        (Straight after the previous step it would begin just after a poll, and always wait a whole interval.)"""
        gevent.sleep(self.alerts.fake.random.uniform(0, LIFECYCLE_PAUSE))

    def analyst_call(self, method: str, path: str, name: str, expected: int, **kwargs: Any) -> tuple[Any, float] | None:
        """A BigPanda call with the analysts' key: (the answer, perf_counter() just before the call that got it),
        or None (a failure, already reported). A 429 is not a failure: the call is made again after its
        Retry-After (it shows in BigPanda's journal)."""
        for attempt in range(ANALYST_TRIES):
            started = time.perf_counter()
            with self.client.request(method, path, headers=ANALYST, name=name, catch_response=True, **kwargs) as r:
                if r.status_code == 429 and attempt + 1 < ANALYST_TRIES:
                    r.success()
                    retry_after = float(r.headers.get("Retry-After") or 1)
                elif r.status_code != expected:
                    r.failure(f"expected {expected}, got {r.status_code}: {(r.text or '')[:200]}")
                    return None
                else:
                    return r, started
            gevent.sleep(retry_after)
        return None

    def mapped_tag_id(self) -> str | None:
        with IncidentLifecycleUser._listing:  # one listing per process, however many users start at once
            if IncidentLifecycleUser.tag_id is None:
                answer = self.analyst_call("GET", "/resources/v2.0/incidents/tags/definitions",
                                           "GET /resources/v2.0/incidents/tags/definitions", 200)
                found = [d["id"] for d in answer[0].json() if d.get("name") == TAG_NAME] if answer else []
                if answer and not found:
                    self.record("tag_sync_to_servicenow", 0, NotSeen(f"BigPanda has no tag {TAG_NAME!r}"), "")
                IncidentLifecycleUser.tag_id = found[0] if found else None
        return IncidentLifecycleUser.tag_id

    def incident(self, incident_id: str) -> dict[str, Any] | None:
        """The BigPanda incident as the simulator renders it (its admin route: no rate limit)."""
        with self.client.get(f"/_sim/wait?incident_id={incident_id}&timeout=0", name="GET /_sim/wait [incident]",
                             headers=BP_ADMIN, catch_response=True) as r:
            if r.status_code != 200 or not r.json().get("matched"):
                r.failure(f"incident not found (status {r.status_code})")
                return None
            return r.json()["incident"]

    def environment_of(self, incident_id: str) -> str | None:
        incident = self.incident(incident_id)
        return incident["environments"][0] if incident and incident.get("environments") else None

    def tag_to_servicenow(self, environment: str, incident_id: str, tag_id: str, value: str) -> bool:
        answer = self.analyst_call("POST", f"/resources/v2.0/environments/{environment}/incidents/{incident_id}/tags",
                                   "POST /resources/v2.0/environments/{env}/incidents/{id}/tags", 204,
                                   json=[{"tag_id": tag_id, "tag_value": value}])
        if answer is None:
            return False
        started = answer[1]  # the edit is the call BigPanda accepted
        error = self.servicenow_wait(f"correlation_id={incident_id}^{TAG_FIELD}={value}", TAG_TIMEOUT,
                                     "GET /_sim/wait [ticket field]")
        self.record("tag_sync_to_servicenow", _ms(started), error, incident_id)
        return error is None

    def tag_to_bigpanda(self, environment: str, incident_id: str, tag_id: str, sys_id: str, value: str) -> bool:
        edited = time.time()  # wall clock: compared with the simulator's journal times (same machine)
        with self.client.request("PATCH", f"{SERVICENOW_URL}/api/now/table/incident/{sys_id}",
                                 json={TAG_FIELD: value}, headers=SN_ADMIN, catch_response=True,
                                 name="PATCH /api/now/table/incident [analyst]") as r:
            if r.status_code != 200:
                r.failure(f"expected 200, got {r.status_code}: {(r.text or '')[:200]}")
                return False
        path = f"/resources/v2.0/environments/{environment}/incidents/{incident_id}/tags"
        answered = self.core_call_after(path, edited, TAG_TIMEOUT)
        if answered is None:
            error: Exception | None = NotSeen(f"the core set no BigPanda tag within {TAG_TIMEOUT:g} s")
            latency = (time.time() - edited) * 1000
        else:
            latency = (answered - edited) * 1000
            incident = self.incident(incident_id) or {}
            shown = next((t["value"] for t in incident.get("incident_tags", []) if t["tag_id"] == tag_id), None)
            error = None if shown == value else NotSeen("the BigPanda tag does not hold the edited value")
        self.record("tag_sync_to_bigpanda", latency, error, incident_id)
        return error is None

    def core_call_after(self, path: str, after: float, timeout: float) -> float | None:
        """When BigPanda answered the first successful POST to `path` made after `after` (its journal time)."""
        deadline = time.monotonic() + timeout
        query = urlencode({"method": "POST", "path": path, "limit": 20})
        while time.monotonic() < deadline:
            with self.client.get(f"/_sim/journal?{query}", name="GET /_sim/journal [tags]",
                                 headers=BP_ADMIN, catch_response=True) as r:
                if r.status_code != 200:
                    r.failure(f"expected 200, got {r.status_code}")
                    return None
                times = [e["time"] for e in r.json()["entries"] if e["time"] > after and 200 <= e["status"] < 300]
            if times:
                return min(times)
            gevent.sleep(JOURNAL_POLL_S)
        return None
