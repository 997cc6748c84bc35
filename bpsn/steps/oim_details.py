"""Binds features/oim_details.feature: the OIM event timestamp's format, the Sample Payload object,
fields the configuration references that the sample lacks, and the switchable ten-minute wait,
all through BigPanda's OIM API (org token) and its /_sim admin API, on the bench's virtual clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
from pytest_bdd import given, parsers, then, when

from bpsn.harness.base import Harness


def _config(source: str | None = None, fmt: str | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "primary_property": [{"name": "host"}], "secondary_property": [{"name": "check"}],
        "additional_attributes": [{"name": "host", "source": ["@host"]}, {"name": "check", "source": ["@check"]}],
        "status": {"source": ["@sev"], "default_to": "critical", "status_map": {"critical": ["critical"]}},
        "bp_timestamp": {"is_selected": source is None}}
    if source is not None:
        config["timestamp"] = {"source": [source], **({"format": fmt} if fmt is not None else {})}
    return config


def _config_url(app_key: str) -> str:
    return f"/configurations/alerts/oim/{app_key}"


def _post_config(bpsn_bench: Harness, bpsn_context: dict[str, Any], config: dict[str, Any],
                 sample: Any = None, app_key: str | None = None) -> httpx.Response:
    key = app_key or bpsn_bench.credentials.bigpanda_oim_app_key
    body = {"config": config, "sample_payload": bpsn_context["oim_sample"] if sample is None else sample}
    bpsn_context["oim_config"] = config
    bpsn_context["oim_answer"] = r = bpsn_bench.alerts_client.post(_config_url(key), json=body)
    return r


def _configured(bpsn_bench: Harness, bpsn_context: dict[str, Any], config: dict[str, Any]) -> None:
    r = _post_config(bpsn_bench, bpsn_context, config)
    assert r.status_code == 200, r.text


def _errors(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status"] == status, body
    return " | ".join(body["errors"])


# --- given --------------------------------------------------------------------------------------------
@given("the OIM sample event is")
def sample_event(bpsn_context: dict[str, Any], datatable: list[list[str]]) -> None:
    bpsn_context["oim_sample"] = {field: value for field, value in datatable[1:]}


@given(parsers.parse('the OIM integration takes the event time from "{source}" in the format "{fmt}"'))
def configured_with_format(bpsn_bench: Harness, bpsn_context: dict[str, Any], source: str, fmt: str) -> None:
    _configured(bpsn_bench, bpsn_context, _config(source, fmt))


@given(parsers.parse('the OIM integration takes the event time from "{source}" with no format'))
def configured_without_format(bpsn_bench: Harness, bpsn_context: dict[str, Any], source: str) -> None:
    _configured(bpsn_bench, bpsn_context, _config(source))


@given("BigPanda holds to the ten-minute wait after an OIM integration is created")
def wait_on(bpsn_bench: Harness) -> None:
    answer = bpsn_bench.admins["bigpanda"].call("PUT", f"/organizations/{bpsn_bench.organization}/oim",
                                                json={"enabled": True})
    assert answer == {"enabled": True, "seconds": 600.0}, answer


# --- when ---------------------------------------------------------------------------------------------
@when(parsers.parse('the tool sends an OIM event for host "{host}" with "{field}" set to "{value}"'))
def send_event(bpsn_bench: Harness, bpsn_context: dict[str, Any], host: str, field: str, value: str) -> None:
    event = {**bpsn_context["oim_sample"], "host": host, field: value}
    r = bpsn_bench.alerts_client.post("/oim/api/alerts",
                                      json={"app_key": bpsn_bench.credentials.bigpanda_oim_app_key, **event})
    assert r.status_code == 201, r.text
    bpsn_context.setdefault("oim_alerts", {})[host] = r.json()["alerts"][0]


@when(parsers.parse('the OIM configuration takes the event time from "{source}" in the format "{fmt}"'))
def post_with_format(bpsn_bench: Harness, bpsn_context: dict[str, Any], source: str, fmt: str) -> None:
    _post_config(bpsn_bench, bpsn_context, _config(source, fmt))


@when(parsers.parse('the OIM configuration also maps the tag "{tag}" from "{source}"'))
def post_with_extra_tag(bpsn_bench: Harness, bpsn_context: dict[str, Any], tag: str, source: str) -> None:
    config = _config()
    config["additional_attributes"].append({"name": tag, "source": [source]})
    _post_config(bpsn_bench, bpsn_context, config)


@when("the tool's sample event is posted as the integration's Sample Payload")
def post_sample(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    r = bpsn_bench.alerts_client.post(_config_url(bpsn_bench.credentials.bigpanda_oim_app_key) + "/sample_payload",
                                      json={"sample_payload": bpsn_context["oim_sample"]})
    assert r.status_code == 200, r.text


@when(parsers.parse('a Sample Payload without the field "{field}" is posted'))
def post_lacking_sample(bpsn_bench: Harness, bpsn_context: dict[str, Any], field: str) -> None:
    lacking = {k: v for k, v in bpsn_context["oim_sample"].items() if k != field}
    bpsn_context["oim_answer"] = bpsn_bench.alerts_client.post(
        _config_url(bpsn_bench.credentials.bigpanda_oim_app_key) + "/sample_payload", json={"sample_payload": lacking})


@when("the OIM integration is configured with a blank sample payload")
def configure_blank_sample(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    r = _post_config(bpsn_bench, bpsn_context, _config(), sample={})
    assert r.status_code == 200, r.text


@when(parsers.parse('an OIM integration "{source_system}" is created in BigPanda'))
def create_integration(bpsn_bench: Harness, bpsn_context: dict[str, Any], source_system: str) -> None:
    created = bpsn_bench.admins["bigpanda"].call("POST", f"/organizations/{bpsn_bench.organization}/integrations",
                                                 json={"source_system": source_system})
    bpsn_context["new_app_key"] = created["app_key"]


@when(parsers.re(r"its OIM configuration is posted (?:at once|again)"))
def post_new_integration(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    _post_config(bpsn_bench, bpsn_context, _config(), app_key=bpsn_context["new_app_key"])


# --- then ---------------------------------------------------------------------------------------------
@then(parsers.parse("BigPanda's alert for host \"{host}\" started at {when} UTC"))
def alert_started(bpsn_bench: Harness, bpsn_context: dict[str, Any], host: str, when: str) -> None:
    sent = bpsn_context["oim_alerts"][host]
    incident = bpsn_bench.incident(sent["incident_id"])
    alert = next(a for a in incident.alerts if a.id == sent["id"])
    expected = datetime.strptime(when, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()
    assert alert.raw["start"] == int(expected), (alert.raw["start"], int(expected))


@then(parsers.parse('BigPanda refuses the OIM configuration with 400 naming "{text}"'))
def config_refused(bpsn_context: dict[str, Any], text: str) -> None:
    assert text in _errors(bpsn_context["oim_answer"], 400)


@then(parsers.parse('BigPanda refuses the Sample Payload with 400 naming "{text}"'))
def sample_refused(bpsn_context: dict[str, Any], text: str) -> None:
    assert text in _errors(bpsn_context["oim_answer"], 400)


@then("the integration's Sample Payload reads back as the sample event")
def sample_reads_back(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    r = bpsn_bench.alerts_client.get(_config_url(bpsn_bench.credentials.bigpanda_oim_app_key) + "/sample_payload")
    assert r.status_code == 200 and r.json() == {"sample_payload": bpsn_context["oim_sample"]}, r.text


@then("the OIM configuration holds the sample event")
def config_holds_sample(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    r = bpsn_bench.alerts_client.get(_config_url(bpsn_bench.credentials.bigpanda_oim_app_key))
    assert r.status_code == 200, r.text
    assert r.json()["sample_payload"] == bpsn_context["oim_sample"]
    assert r.json()["config"] == bpsn_context["oim_config"]


@then(parsers.parse("BigPanda answers 404 that the integration is not found yet, to retry in {seconds:d} s"))
def not_found_yet(bpsn_context: dict[str, Any], seconds: int) -> None:
    message = _errors(bpsn_context["oim_answer"], 404)
    assert "is not found yet" in message and f"retry in {seconds} s" in message, message


@then("BigPanda accepts the OIM configuration")
def accepted(bpsn_context: dict[str, Any]) -> None:
    r = bpsn_context["oim_answer"]
    assert r.status_code == 200 and r.json()["config"] == bpsn_context["oim_config"], r.text
