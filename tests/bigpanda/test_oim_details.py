"""OIM as its seed describes it: the event timestamp's source tag and format, the Sample Payload
object's own GET and POST, fields the configuration references that the sample lacks, and the
switchable ten-minute wait after an integration is created (simulator clock)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from bpsn.simulator.bigpanda.backend import BigPandaBackend
from bpsn.simulator.bigpanda.oim.timeformat import read_time
from bpsn.testing import call_asgi

ORG = {"Authorization": "Bearer demo-org-token"}
ADMIN = {"X-Bpsn-Admin-Token": "bpsn-admin-token"}
KEY = "demo-oim-app-key"
SAMPLE = {"host": "db-01", "check": "disk", "sev": "critical", "when": "01/02/2026 10:30:00"}
CONFIG = {"primary_property": [{"name": "host"}], "secondary_property": [{"name": "check"}],
          "additional_attributes": [{"name": "host", "source": ["@host"]}, {"name": "check", "source": ["@check"]}],
          "status": {"source": ["@sev"], "default_to": "critical", "status_map": {"critical": ["critical"]}},
          "timestamp": {"source": ["@when"], "format": "%d/%m/%Y %H:%M:%S"}, "bp_timestamp": {"is_selected": False}}
WHEN = datetime(2026, 2, 1, 10, 30, tzinfo=UTC).timestamp()


@pytest.fixture
def bp(fresh_bigpanda: tuple[BigPandaBackend, FastAPI]) -> tuple[BigPandaBackend, FastAPI]:
    return fresh_bigpanda  # tests/bigpanda/conftest.py


def call(app: FastAPI, method: str, url: str, headers: dict[str, str] = ORG, **kwargs: Any) -> httpx.Response:
    return call_asgi(app, method, url, base_url="http://bp.test", headers=headers, **kwargs)


def configure(app: FastAPI, config: dict[str, Any] = CONFIG, sample: Any = SAMPLE, key: str = KEY) -> httpx.Response:
    return call(app, "POST", f"/configurations/alerts/oim/{key}", json={"config": config, "sample_payload": sample})


def errors(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text
    assert r.json()["status"] == status
    return " | ".join(r.json()["errors"])


def alert_start(backend: BigPandaBackend, app: FastAPI, event: dict[str, Any]) -> float:
    r = call(app, "POST", "/oim/api/alerts", json={"app_key": KEY, **event})
    assert r.status_code == 201, r.text
    return backend.orgs["demo"].alerts[r.json()["alerts"][0]["id"]].start


# --- the event timestamp's format ------------------------------------------------------------------

@pytest.mark.parametrize(("value", "fmt", "expected"), [
    ("01/02/2026 10:30:00", "%d/%m/%Y %H:%M:%S", WHEN),
    ("2026-02-01 10:30:00+0100", "%Y-%m-%d %H:%M:%S%z", WHEN - 3600),
    (1_769_941_800_000, "epoch_millis", WHEN),
    ("1769941800", "epoch_seconds", WHEN),
    ("2026-02-01T10:30:00Z", "iso8601", WHEN),
    ("01/02/2026 10:30:00", None, None),  # no format: neither epoch nor ISO 8601
    ("2026-02-01T10:30:00Z", "epoch_seconds", None),
    (1_769_941_800, "%d/%m/%Y", None),
])
def test_read_time_honours_the_format(value: Any, fmt: str | None, expected: float | None) -> None:
    assert read_time(value, fmt) == expected


def test_the_configured_format_reads_the_event_time(bp: tuple[BigPandaBackend, FastAPI]) -> None:
    backend, app = bp
    assert configure(app).status_code == 200
    assert alert_start(backend, app, SAMPLE) == WHEN
    late = {**SAMPLE, "host": "db-02", "when": "not a date"}  # unreadable: the time it entered BigPanda
    assert alert_start(backend, app, late) == backend.clock.now()


def test_without_the_format_the_same_value_is_not_read(bp: tuple[BigPandaBackend, FastAPI]) -> None:
    backend, app = bp
    config = copy.deepcopy(CONFIG)
    del config["timestamp"]["format"]
    assert configure(app, config).status_code == 200
    assert alert_start(backend, app, SAMPLE) == backend.clock.now()


def test_a_bad_format_or_a_sample_it_cannot_read_is_refused(bp: tuple[BigPandaBackend, FastAPI]) -> None:
    _, app = bp
    config = copy.deepcopy(CONFIG)
    config["timestamp"]["format"] = "dd/mm/yyyy"
    assert "config.timestamp.format: 'dd/mm/yyyy' is not a timestamp format" in errors(configure(app, config), 400)
    config["timestamp"]["format"] = "epoch_millis"
    message = errors(configure(app, config), 400)
    assert "format 'epoch_millis' cannot read the sample payload's @when value '01/02/2026 10:30:00'" in message


# --- the Sample Payload object ---------------------------------------------------------------------

def test_the_sample_payload_has_its_own_get_and_post(bp: tuple[BigPandaBackend, FastAPI]) -> None:
    _, app = bp
    url = f"/configurations/alerts/oim/{KEY}/sample_payload"
    assert "is not found" in errors(call(app, "GET", url), 404)
    assert call(app, "POST", url, json={"sample_payload": SAMPLE}).json() == {"sample_payload": SAMPLE}
    assert call(app, "GET", url).json() == {"sample_payload": SAMPLE}
    # a configuration created afterwards may send the sample blank: the object is used
    created = configure(app, sample={})
    assert created.status_code == 200 and created.json()["sample_payload"] == SAMPLE
    # a new sample without a field the configuration references is refused, naming it; nothing changes
    lacking = {k: v for k, v in SAMPLE.items() if k != "check"}
    message = errors(call(app, "POST", url, json={"sample_payload": lacking}), 400)
    assert "missing from the sample payload: @check (config.additional_attributes[1].source[0])" in message
    assert call(app, "GET", url).json() == {"sample_payload": SAMPLE}
    richer = {**SAMPLE, "team": "dba"}
    assert call(app, "POST", url, json={"sample_payload": richer}).status_code == 200
    assert call(app, "GET", f"/configurations/alerts/oim/{KEY}").json()["sample_payload"] == richer
    assert "extra" in errors(call(app, "POST", url, json={"sample_payload": SAMPLE, "extra": 1}), 400).lower()
    assert errors(call(app, "POST", url, json={"sample_payload": {}}), 400)
    assert call(app, "GET", url, headers={"Authorization": "Bearer BPUdemo-user-key"}).status_code == 403


def test_a_configuration_referencing_a_field_the_sample_lacks_is_refused(bp: tuple[BigPandaBackend, FastAPI]) -> None:
    _, app = bp
    config = copy.deepcopy(CONFIG)
    config["additional_attributes"].append({"name": "team", "source": ["@owner.team"]})
    message = errors(configure(app, config), 400)
    assert "@owner.team (config.additional_attributes[2].source[0])" in message


# --- the ten-minute wait ------------------------------------------------------------------------------

def new_integration(app: FastAPI) -> str:
    r = call(app, "POST", "/_sim/organizations/demo/integrations", headers=ADMIN, json={"source_system": "oim.mytool"})
    assert r.status_code == 201, r.text
    return str(r.json()["app_key"])


def test_the_wait_is_off_by_default(bp: tuple[BigPandaBackend, FastAPI]) -> None:
    _, app = bp
    assert call(app, "GET", "/_sim/organizations/demo/oim", headers=ADMIN).json() == {"enabled": False,
                                                                                      "seconds": None}
    assert configure(app, key=new_integration(app)).status_code == 200


def test_an_early_post_is_refused_until_ten_minutes_have_passed(bp: tuple[BigPandaBackend, FastAPI]) -> None:
    backend, app = bp
    on = call(app, "PUT", "/_sim/organizations/demo/oim", headers=ADMIN, json={"enabled": True})
    assert on.json() == {"enabled": True, "seconds": 600.0}
    key = new_integration(app)
    message = errors(configure(app, key=key), 404)
    assert "is not found yet" in message and "retry in 600 s" in message
    assert errors(call(app, "POST", f"/configurations/alerts/oim/{key}/sample_payload",
                       json={"sample_payload": SAMPLE}), 404)
    backend.clock.advance(599)
    assert "retry in 1 s" in errors(configure(app, key=key), 404)
    assert configure(app, key=KEY).status_code == 200  # the demo integration was created long ago
    backend.clock.advance(1)
    assert configure(app, key=key).status_code == 200
    off = call(app, "PUT", "/_sim/organizations/demo/oim", headers=ADMIN, json={"enabled": False})
    assert off.json() == {"enabled": False, "seconds": None}
    assert configure(app, key=new_integration(app)).status_code == 200


def test_the_oim_admin_routes_are_strict_and_guarded(bp: tuple[BigPandaBackend, FastAPI]) -> None:
    _, app = bp
    url = "/_sim/organizations/demo/oim"
    assert call(app, "PUT", url, headers=ADMIN, json={"enabled": True, "minutes": 10}).status_code == 400
    assert call(app, "PUT", url, headers=ADMIN, json={"enabled": "yes"}).status_code == 400
    assert call(app, "PUT", url, json={"enabled": True}).status_code == 401
    bad = call(app, "POST", "/_sim/organizations/demo/integrations", headers=ADMIN, json={"source_system": "nagios"})
    assert bad.status_code == 400
