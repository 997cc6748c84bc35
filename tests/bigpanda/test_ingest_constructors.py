"""The shortcuts of issue #19's third pass: the ingest path's positional constructors against the
dataclasses' own, and a new incident's first activities, made in place, against what
Organization._activity makes (same ids, same order, same params)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from test_ingest_equivalence import KEY

from bpsn.base.clock import SimClock
from bpsn.simulator.bigpanda.backend import BigPandaBackend, Principal
from bpsn.simulator.bigpanda.models import (
    Activity,
    Alert,
    AlertEvent,
    Incident,
    Snooze,
    make_activity,
    make_alert,
    make_alert_event,
    make_incident,
    positional_constructor,
)
from bpsn.simulator.bigpanda.organization import IngestResult, _make_result
from bpsn.simulator.bigpanda.sharing.queue import Share, _make_share

PAIRS = [(Alert, make_alert), (AlertEvent, make_alert_event), (Incident, make_incident), (Share, _make_share),
         (Activity, make_activity), (IngestResult, _make_result)]


def _values(cls: type) -> list[Any]:
    # a distinct object per field, so a field set from the wrong argument shows
    return [[f.name] if f.name.endswith("s") else f"{f.name}-value" for f in dataclasses.fields(cls)]


@pytest.mark.parametrize(("cls", "make"), PAIRS, ids=[c.__name__ for c, _ in PAIRS])
def test_a_positional_constructor_makes_what_the_dataclass_makes(cls: type, make: Any) -> None:
    assert make is not cls  # the shortcut is in use for the ingest path's classes
    values = _values(cls)
    made, expected = make(*values), cls(*values)
    assert type(made) is cls and made == expected and repr(made) == repr(expected)
    assert list(vars(made).items()) == list(vars(expected).items())  # same fields, same order, same objects
    assert all(getattr(made, f.name) is v for f, v in zip(dataclasses.fields(cls), values, strict=True))
    with pytest.raises(TypeError):
        make(*values[:-1])  # every field, none defaulted


def test_a_dataclass_whose_init_does_more_gets_its_own_constructor() -> None:
    @dataclasses.dataclass(frozen=True)
    class Frozen:
        a: int

    @dataclasses.dataclass
    class Checked:
        a: int

        def __post_init__(self) -> None:
            self.a += 1

    @dataclasses.dataclass(slots=True)
    class Slotted:
        a: int

    class Plain:
        pass

    @dataclasses.dataclass
    class Later:
        a: int
        b: list[int] = dataclasses.field(init=False, default_factory=list)

    @dataclasses.dataclass
    class Given:
        a: int
        b: dataclasses.InitVar[int]

    @dataclasses.dataclass
    class OwnInit:
        a: int

        def __init__(self, a: int) -> None:
            self.a = a * 2

    @dataclasses.dataclass
    class OwnNew:
        a: int

        def __new__(cls, *args: Any) -> OwnNew:
            return super().__new__(cls)

    for cls in (Frozen, Checked, Slotted, Plain, Later, Given, OwnInit, OwnNew):
        assert positional_constructor(cls) is cls
    @dataclasses.dataclass
    class Odd:
        self: int
        cls: str

    assert positional_constructor(Odd)(1, "c") == Odd(1, "c")
    assert positional_constructor(Share) is not Share and positional_constructor(Snooze)(True, 1.0, True) == Snooze(
        True, 1.0, True)


def test_a_new_incidents_activities_are_what_activity_makes() -> None:
    backend = BigPandaBackend(clock=SimClock.virtual())
    org = backend.orgs["demo"]
    org.rate_limits.enabled = False
    state = backend.rng.getstate()
    [result] = backend.ingest(Principal(org, "org", "t"), {"app_key": KEY, "status": "critical", "host": "h",
                                                            "check": "c"})
    incident = org.incidents[result.incident_id]
    backend.rng.setstate(state)
    ids = [backend.rng.object_id() for _ in range(5)]  # alert, incident, its activity, the share, its activity
    assert [result.alert_id, result.incident_id] == ids[:2]
    now = incident.start
    assert incident.activities == [
        Activity(ids[2], "incident_created", now, "system", {}),
        Activity(ids[4], "incident_shared", now, "system",
                 {"share_target": "servicenow", "share_auto": True, "firstTime": True})]
    assert list(incident.activities[1].params) == ["share_target", "share_auto", "firstTime"]
    assert incident.tickets == [] and incident.tag_meta == {} and incident.version == 2
    assert incident.assignee is None and incident.merged_into is None and incident.snooze == Snooze()
    [share] = org.shares.pending()
    assert share.id == ids[3] and share.errors == [] and share.deliveries == 0 and share.lease_until is None
