"""The shortcuts of issue #19's second pass, each against what it stands for: the 201 body written
by hand against FastAPI's rendering of the model, whatever the ids hold; the new-incident shortcut
of Organization._new_alert against the old path with flapping off (threshold 0: every incident
flaps at once, the case where the shortcut must step aside); a batch's first bad alert named by
its position, however many good ones come before it."""

from __future__ import annotations

import random

import pytest
from bigpanda_ingest_reference import ReferenceBackend
from fastapi.responses import JSONResponse
from test_ingest_equivalence import KEY, STEPS, _alert, _state, _step

from bpsn.base.clock import SimClock
from bpsn.simulator.bigpanda.alerts.normalize import normalize_all
from bpsn.simulator.bigpanda.alerts.routes import AcceptedAlert, AlertsAccepted, accepted_reply
from bpsn.simulator.bigpanda.backend import BigPandaBackend
from bpsn.simulator.bigpanda.errors import BpError
from bpsn.simulator.bigpanda.organization import IngestResult
from bpsn.simulator.bigpanda.settings import BigPandaSettings

# hex ids as the simulator makes them, and ids a snapshot could hold that JSON must escape (or not)
IDS = ["5f0c3a9e1b2d4c6e8f0a1b2c", "", 'a"b', "a\\b", "é", "a\nb", "\x1f", "\x7f", "x y", "日本", "a,b",
       '","created":true}', "~!#", "\t"]


def _rendered(results: list[IngestResult]) -> bytes:
    model = AlertsAccepted(alerts=[AcceptedAlert(id=r.alert_id, incident_id=r.incident_id, created=r.created)
                                   for r in results])
    return bytes(JSONResponse(model.model_dump()).body)


@pytest.mark.parametrize("seed", range(4))
def test_the_201_body_is_what_jsonresponse_renders_of_the_model_whatever_the_ids(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(500):
        results = [IngestResult(rng.choice(IDS), rng.choice(IDS), rng.random() < 0.5, True)
                   for _ in range(rng.randint(1, 5))]
        assert accepted_reply(results) == _rendered(results), results


@pytest.mark.parametrize("seed", range(4))
def test_with_flapping_off_random_sequences_give_the_same_replies_and_state_as_the_old_path(seed: int) -> None:
    settings = BigPandaSettings(flapping_threshold=0)
    new = BigPandaBackend(settings, clock=SimClock.virtual())
    old = ReferenceBackend(settings, clock=SimClock.virtual())
    for backend in (new, old):
        backend.orgs["demo"].rate_limits.enabled = False
    rng = random.Random(seed)
    for step in range(150):
        body = {"app_key": KEY, "alerts": [_alert(rng, new.clock.now()) for _ in range(rng.randint(1, 6))]}
        assert _step(new, body) == _step(old, body), f"step {step}"
        advance = rng.choice(STEPS)
        for backend in (new, old):
            backend.clock.advance(advance)
    assert _state(new) == _state(old)
    assert any(i.flapping for i in new.orgs["demo"].incidents.values())


@pytest.mark.parametrize(("raws", "message"), [
    ([{"status": "ok", "host": "h"}, {"status": "ok", "host": "h"}, {"status": "down", "host": "h"}],
     "alerts[2]: status must be one of ok, critical, warning, unknown, acknowledged (got 'down')"),
    ([{"status": "ok", "host": "h"}, {"status": "ok", "host": {"a": 1}}],
     "alerts[1]: tag 'host' is an object; nested objects are not supported"),
    ([{"status": "ok", "check": "c"}], "alert: no primary property: send one of host, service, application, "
                                       "device, or name a tag that is present in primary_property"),
])
def test_a_refused_alert_is_named_by_its_position_in_the_batch(raws: list[object], message: str) -> None:
    with pytest.raises(BpError) as refused:
        normalize_all(raws, 1_000.0, "api.test")
    assert refused.value.messages == [message]


def test_a_batch_of_plain_alerts_normalizes_as_each_alert_does_alone() -> None:
    from bpsn.simulator.bigpanda.alerts.normalize import normalize
    raws = [{"status": "CRITICAL", "host": "h1", "check": "cpu", "timestamp": 5},
            {"status": "acknowledged", "host": "h2", "sensor": "t", "description": "d"},
            {"status": "ok", "service": "s", "check": "", "primary_property": "service"},
            {"status": "warning", "host": "h3", "check": "c", "secondary_property": "host", "tags": [1, True, "x"]}]
    assert normalize_all(raws, 9.0, "src") == [normalize(r, now=9.0, source_system="src") for r in raws]
