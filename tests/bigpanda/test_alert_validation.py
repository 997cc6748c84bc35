"""POST /data/v2/alerts: every kind of bad alert gets the status and body it got before the
ingestion path was made cheaper (issue #19), and a bad alert anywhere in a batch changes
nothing. The accepted values are normalised as before too (numbers, booleans, arrays, nulls),
and the reply's bytes are what the pydantic model rendered by JSONResponse gave."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from bpsn.simulator.bigpanda.alerts.routes import accepted_reply
from bpsn.simulator.bigpanda.backend import BigPandaBackend
from bpsn.simulator.bigpanda.organization import IngestResult
from bpsn.testing import call_asgi

ORG = {"Authorization": "Bearer demo-org-token"}
KEY = "demo-alerts-app-key"
OK = {"status": "critical", "host": "h1", "check": "cpu"}
STATUSES = "ok, critical, warning, unknown, acknowledged"
NO_PRIMARY = ("alert: no primary property: send one of host, service, application, device, "
              "or name a tag that is present in primary_property")

BAD: list[tuple[str, Any, str]] = [
    ("list_body", ["x"], "Call is missing parameters or malformed: the body must be a JSON object"),
    ("string_body", "x", "Call is missing parameters or malformed: the body must be a JSON object"),
    ("app_key_number", {"app_key": 5, **OK}, "app_key must be a string"),
    ("alerts_not_a_list", {"app_key": KEY, "alerts": {"a": 1}}, "alerts must be a non-empty array"),
    ("alerts_empty", {"app_key": KEY, "alerts": []}, "alerts must be a non-empty array"),
    ("too_many", {"app_key": KEY, "alerts": [OK] * 1001}, "a batch holds at most 1000 alerts (got 1001)"),
    ("no_app_key", OK, "app_key is required"),
    ("unknown_app_key", {"app_key": "nope", **OK}, "app_key 'nope' is not an integration of this organization"),
    ("item_not_object", {"app_key": KEY, "alerts": [OK, 7]}, "alerts[1]: an alert must be a JSON object"),
    ("no_status", {"app_key": KEY, "host": "h"}, f"alert: status must be one of {STATUSES} (got None)"),
    ("bad_status", {"app_key": KEY, "status": "down", "host": "h"},
     f"alert: status must be one of {STATUSES} (got 'down')"),
    ("status_number", {"app_key": KEY, "status": 3, "host": "h"}, f"alert: status must be one of {STATUSES} (got 3)"),
    ("status_not_ascii", {"app_key": KEY, "status": "cr\u0130tical", "host": "h"},
     f"alert: status must be one of {STATUSES} (got 'cr\u0130tical')"),
    ("timestamp_bool", {"app_key": KEY, **OK, "timestamp": True}, "alert: timestamp must be epoch seconds"),
    ("timestamp_string", {"app_key": KEY, **OK, "timestamp": "1"}, "alert: timestamp must be epoch seconds"),
    ("timestamp_negative", {"app_key": KEY, **OK, "timestamp": -1}, "alert: timestamp must be epoch seconds"),
    ("timestamp_ms", {"app_key": KEY, **OK, "timestamp": 1.7e12},
     "alert: timestamp 1700000000000.0 looks like milliseconds; send epoch seconds"),
    ("description_number", {"app_key": KEY, **OK, "description": 5}, "alert: description must be a string"),
    ("description_long", {"app_key": KEY, **OK, "description": "x" * 2049},
     "alert: description is 2049 characters; at most 2048 are allowed"),
    ("array_too_long", {"app_key": KEY, **OK, "team": ["a"] * 31},
     "alert: tag 'team' has 31 values; at most 30 are allowed"),
    ("array_nested", {"app_key": KEY, **OK, "team": ["a", {"b": 1}]},
     "alert: tag 'team' holds a nested value; nested objects are not supported"),
    ("array_in_array", {"app_key": KEY, **OK, "team": ["a", ["b"]]},
     "alert: tag 'team' holds a nested value; nested objects are not supported"),
    ("array_item_long", {"app_key": KEY, **OK, "team": ["a", "y" * 513]},
     "alert: a value of tag 'team' is longer than 512 characters"),
    ("tag_object", {"app_key": KEY, **OK, "team": {"a": 1}},
     "alert: tag 'team' is an object; nested objects are not supported"),
    ("no_primary", {"app_key": KEY, "status": "critical", "check": "cpu"}, NO_PRIMARY),
    ("primary_empty", {"app_key": KEY, "status": "critical", "host": ""}, NO_PRIMARY),
    ("primary_empty_array", {"app_key": KEY, "status": "critical", "host": []}, NO_PRIMARY),
    ("primary_property_absent_tag", {"app_key": KEY, **OK, "primary_property": "cluster"},
     "alert: primary_property names tag 'cluster', which the alert does not carry"),
    ("primary_property_number", {"app_key": KEY, **OK, "primary_property": 3},
     "alert: primary_property names tag 3, which the alert does not carry"),
    ("secondary_property_absent_tag", {"app_key": KEY, **OK, "secondary_property": "sensor"},
     "alert: secondary_property names tag 'sensor', which the alert does not carry"),
    ("identifier_number", {"app_key": KEY, **OK, "incident_identifier": 12},
     "alert: incident_identifier must be a string"),
    ("first_problem_wins", {"app_key": KEY, "status": "bad", "host": "h", "description": 5},
     f"alert: status must be one of {STATUSES} (got 'bad')"),
    ("tag_before_primary", {"app_key": KEY, "status": "ok", "team": {"a": 1}},
     "alert: tag 'team' is an object; nested objects are not supported"),
    ("third_of_a_batch", {"app_key": KEY, "alerts": [OK, {**OK, "host": "h2"}, {**OK, "status": "bad"}]},
     f"alerts[2]: status must be one of {STATUSES} (got 'bad')"),
    ("batch_of_one", {"app_key": KEY, "alerts": [{**OK, "status": "bad"}]},
     f"alert: status must be one of {STATUSES} (got 'bad')"),
]


@pytest.mark.parametrize(("body", "message"), [pytest.param(b, m, id=name) for name, b, m in BAD])
def test_a_bad_alert_is_a_400_with_the_same_body_and_changes_nothing(
        fresh_bigpanda: tuple[BigPandaBackend, FastAPI], body: Any, message: str) -> None:
    backend, app = fresh_bigpanda
    r = call_asgi(app, "POST", "/data/v2/alerts", headers=ORG, json=body)
    assert (r.status_code, r.json()) == (400, {"status": 400, "errors": [message]})
    org = backend.orgs["demo"]
    assert (org.alerts, org.incidents, org.shares.pending()) == ({}, {}, [])


def test_a_body_that_is_not_json_is_a_400(fresh_bigpanda: tuple[BigPandaBackend, FastAPI]) -> None:
    _, app = fresh_bigpanda
    r = call_asgi(app, "POST", "/data/v2/alerts", headers={**ORG, "Content-Type": "application/json"},
                  content=b"{bad")
    assert (r.status_code, r.json()) == (400, {"status": 400, "errors": ["body.1: JSON decode error"]})


def test_tag_values_are_normalised_and_the_reply_names_alerts_and_incidents(
        fresh_bigpanda: tuple[BigPandaBackend, FastAPI]) -> None:
    backend, app = fresh_bigpanda
    body = {"app_key": KEY, "alerts": [
        {"status": "Acknowledged", "host": "h1", "check": "cpu", "port": 8080, "load": 0.5, "up": True,
         "down": False, "roles": ["web", 3, None, True], "gone": None, "timestamp": 100},
        {"status": "WARNING", "host": "h1", "check": "disk", "incident_identifier": "id-1", "timestamp": 50},
    ]}
    r = call_asgi(app, "POST", "/data/v2/alerts", headers=ORG, json=body)
    assert r.status_code == 201, r.text
    org = backend.orgs["demo"]
    accepted = r.json()
    assert accepted["status"] == "created" and [a["created"] for a in accepted["alerts"]] == [True, True]
    by_id = {a["id"]: a for a in accepted["alerts"]}
    first, second = (org.alerts[a["id"]] for a in accepted["alerts"])  # oldest timestamp first
    assert (second.tags, second.status, second.acknowledged, second.incident_key) == (
        {"host": "h1", "check": "cpu", "port": "8080", "load": "0.5", "up": "true", "down": "false",
         "roles": "web|3||true"}, "unknown", True, "h1__cpu")
    assert (first.incident_key, first.status, first.start) == ("id-1", "warning", 50.0)
    assert by_id[first.id]["incident_id"] == by_id[second.id]["incident_id"] == first.incident_id
    again = call_asgi(app, "POST", "/data/v2/alerts", headers=ORG, json=body)
    assert (again.status_code, again.content) == (204, b"")  # exact duplicates change nothing


@pytest.mark.parametrize("ids", [("a1b2c3", "00ff"), ("id-with-dash", "x"), ('quote"d', "back\\slash"),
                                 ("naïve", "\u2028"), ("", "0")])
def test_the_accepted_reply_is_what_json_response_renders(ids: tuple[str, str]) -> None:
    results = [IngestResult(ids[0], ids[1], created=True, changed=True),
               IngestResult("abc123", "def456", created=False, changed=True)]
    rendered = JSONResponse({"status": "created", "alerts": [
        {"id": r.alert_id, "incident_id": r.incident_id, "created": r.created} for r in results]}).body
    assert accepted_reply(results) == rendered
