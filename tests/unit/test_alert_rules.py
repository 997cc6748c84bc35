"""Alert normalisation: BigPanda's property, status and size rules, and their 400 messages."""

from __future__ import annotations

import pytest

from bpsn.simulator.bigpanda.alerts.normalize import normalize, split_batch
from bpsn.simulator.bigpanda.errors import BpError


def norm(**raw: object):  # type: ignore[no-untyped-def]
    return normalize(raw, now=1000.0, source_system="api.test")


def test_primary_and_secondary_follow_the_documented_order() -> None:
    e = norm(status="critical", service="checkout", device="sw-1", sensor="temp")
    assert (e.primary_property, e.primary_value) == ("service", "checkout")
    assert (e.secondary_property, e.secondary_value) == ("sensor", "temp")
    assert e.incident_key == "checkout__temp" and e.timestamp == 1000.0


def test_explicit_properties_and_incident_identifier() -> None:
    e = norm(status="warning", host="h", pod="p-1", primary_property="pod", incident_identifier="custom-key")
    assert e.primary_property == "pod" and e.incident_key == "custom-key"


def test_arrays_become_pipe_joined_tags() -> None:
    assert norm(status="ok", host="h", teams=["a", "b", 3]).tags["teams"] == "a|b|3"


@pytest.mark.parametrize(("raw", "message"), [
    ({"status": "critical", "check": "cpu"}, "no primary property"),
    ({"status": "broken", "host": "h"}, "status must be one of"),
    ({"host": "h"}, "status must be one of"),
    ({"status": "ok", "host": "h", "description": "x" * 2049}, "at most 2048"),
    ({"status": "ok", "host": "h", "meta": {"a": 1}}, "nested objects are not supported"),
    ({"status": "ok", "host": "h", "tags": list(range(31))}, "at most 30"),
    ({"status": "ok", "host": "h", "timestamp": 1_700_000_000_000}, "milliseconds"),
    ({"status": "ok", "host": "h", "primary_property": "pod"}, "does not carry"),
])
def test_bad_alerts_are_refused_with_a_message_that_says_why(raw: dict[str, object], message: str) -> None:
    with pytest.raises(BpError) as err:
        normalize(raw, now=0, source_system="x")
    assert err.value.status == 400 and message in err.value.messages[0]


def test_acknowledged_is_kept_as_a_flag() -> None:
    e = norm(status="acknowledged", host="h")
    assert e.acknowledged and e.status == "unknown"


def test_batches_and_single_alerts() -> None:
    assert split_batch({"app_key": "k", "alerts": [{"a": 1}]}) == ("k", [{"a": 1}])
    assert split_batch({"app_key": "k", "status": "ok"}) == ("k", [{"app_key": "k", "status": "ok"}])
    with pytest.raises(BpError):
        split_batch({"alerts": []})
