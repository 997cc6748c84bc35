"""The cheaper ingestion path (issue #19) against the old one (bigpanda_ingest_reference.py): seeded random
alert sequences (new alerts, updates, duplicates, late events, resolves, reopens, flapping,
snoozes, correlation by built-in and custom patterns with windows and filters, environments with
filters, maintenance plans, leases and callbacks, bad batches) go through both; every reply and
the whole resulting state (alerts, incidents with their activity feeds, correlation index, shares,
the random source) must be equal."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import pytest
from bigpanda_ingest_reference import ReferenceBackend, ReferenceOrganization

from bpsn.base.clock import SimClock
from bpsn.simulator.bigpanda.admin.fixtures import PatternIn, set_patterns
from bpsn.simulator.bigpanda.backend import BigPandaBackend, Principal
from bpsn.simulator.bigpanda.errors import BpError
from bpsn.simulator.bigpanda.models import Environment
from bpsn.simulator.bigpanda.sharing.push import PushTarget

KEY = "demo-alerts-app-key"
HOSTS = [f"h{i}" for i in range(8)]
STATUSES = ["ok", "ok", "critical", "CRITICAL", "warning", "unknown", "acknowledged", "Ok"]
STEPS = [0, 0, 1, 30, 600, 900, 2_000, 3_600, 5_000, 20_000]  # 900 and 3,600: exactly a window


def _alert(rng: random.Random, now: float) -> dict[str, Any]:
    alert: dict[str, Any] = {"status": rng.choice(STATUSES), "host": rng.choice(HOSTS),
                             "check": rng.choice(["cpu", "disk", "mem"])}
    if rng.random() < 0.4:
        alert["service"] = rng.choice(["s0", "s1", "s2"])
    if rng.random() < 0.5:
        alert["region"] = rng.choice(["eu-1", "eu-2", "us-1"])
    if rng.random() < 0.5:
        alert["cluster"] = rng.choice(["c0", "c1"])
    if rng.random() < 0.5:
        alert["description"] = rng.choice(["", "high", "very high", "low"])
    if rng.random() < 0.2:
        alert["timestamp"] = int(now - rng.choice([0, 10, 500, 4_000]))
    if rng.random() < 0.1:
        alert["incident_identifier"] = rng.choice(["id-a", "id-b"])
    if rng.random() < 0.1:
        alert["ports"] = [rng.randint(1, 3), "x", None, True]
    if rng.random() < 0.05:
        alert[""] = "blank"  # a tag named "": part of the dedup key when there is no secondary property
        alert.pop("check")
    if rng.random() < 0.05:
        alert["host"] = None  # then service (if any) is the primary property, else the alert is refused
    if rng.random() < 0.03:
        alert["status"] = "down"  # refused: the whole batch changes nothing
    return alert


def _setup(backend: BigPandaBackend, variant: str) -> None:
    org = backend.orgs["demo"]
    org.rate_limits.enabled = False
    if variant in ("patterns", "all"):
        set_patterns(org, [PatternIn(id="by_host", tags=["host"], window=900),
                           PatternIn(id="by_cluster_eu", tags=["cluster"], window=3_000, filter='region = "eu-*"'),
                           PatternIn(id="by_service_check", tags=["service", "check"], window=7_200),
                           PatternIn(id="by_region", tags=["region"], window=600, active=False)])
    if variant in ("environments", "all"):
        org.environments["env-critical"] = Environment("env-critical", "critical only", 'severity = "critical"',
                                                       autoshare_targets=["servicenow", "jira"])
        org.environments["env-eu"] = Environment("env-eu", "eu", 'region = "eu-*"', autoshare_targets=["servicenow"])
        org.push.configure("env-critical", "jira", PushTarget("http://127.0.0.1:9/push"))  # push mode for one target
    if variant in ("maintenance", "all"):
        now = backend.clock.now()
        org.maintenance.create({"name": "h1 and h2", "condition": {"IN": ["host", ["h1", "h2"]]},
                                "start": int(now + 3_000), "end": int(now + 400_000)}, rng=backend.rng, by="test", now=now)


def _state(backend: BigPandaBackend) -> dict[str, Any]:
    org = backend.orgs["demo"]
    # fingerprints differ in form (a dict of tags, not sorted pairs); what they decide is in the replies
    alerts = {i: replace(a, fingerprint=()) for i, a in org.alerts.items()}
    return {"alerts": alerts, "alerts_by_key": org.alerts_by_key, "incidents": org.incidents,
            "correlation_index": org.correlation_index, "pending": org.shares.pending(),
            "leased": org.shares.leased(), "dead": org.shares.dead_letters, "pushes": list(org.push.queue.values()), "rng": backend.rng.getstate(),
            "notified": backend.notifier.version}


def _step(backend: BigPandaBackend, body: dict[str, Any]) -> Any:
    try:
        return backend.ingest(Principal(backend.orgs["demo"], "org", "t"), body)
    except BpError as exc:
        return ("error", exc.status, exc.messages)


@pytest.mark.parametrize("variant", ["default", "patterns", "environments", "maintenance", "all"])
@pytest.mark.parametrize("seed", range(6))
def test_random_alert_sequences_give_the_same_replies_and_state_as_the_old_path(seed: int, variant: str) -> None:
    new, old = BigPandaBackend(clock=SimClock.virtual()), ReferenceBackend(clock=SimClock.virtual())
    assert type(old.orgs["demo"]) is ReferenceOrganization and type(new.orgs["demo"]) is not ReferenceOrganization
    for backend in (new, old):
        _setup(backend, variant)
    rng = random.Random(seed)
    for step in range(250):
        body = {"app_key": KEY, "alerts": [_alert(rng, new.clock.now()) for _ in range(rng.randint(1, 6))]}
        assert _step(new, body) == _step(old, body), f"step {step}"
        advance, action = rng.choice(STEPS), rng.random()
        for backend in (new, old):
            backend.clock.advance(advance)
            org = backend.orgs["demo"]
            if action < 0.1 and org.incidents:  # snooze the newest incident, cancelled by updates
                incident = org.incidents[list(org.incidents)[-1]]
                incident.snooze.snoozed, incident.snooze.end_time = True, backend.clock.now() + 1_000
                incident.snooze.cancel_on_incident_updates = True
            elif action < 0.25:
                shares, _ = backend.retrieve_shares(org, "servicenow", 5)
                backend.callback(org, [{"share_id": s["share_id"]} for s in shares[:3]])
            elif action < 0.4:
                backend.tick()
    assert _state(new) == _state(old)
    assert len(new.orgs["demo"].incidents) > 10  # the sequence did exercise correlation and lifecycles
