"""The OIM forwarder's pure parts (events, configuration, bodies under 6 MB) and its handling of
refused bodies (split, report), with a fake API and a virtual clock."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from bpsn.base.clock import SimClock
from bpsn.integration.changes.ci_resolution import CiRef, CiResolution
from bpsn.integration.clients.bigpanda import BigPandaError
from bpsn.integration.oim.batching import MAX_OIM_BODY, Batch, TooLarge, body_bytes, encode, pack
from bpsn.integration.oim.events import OimSelection, OimSelectionError, desired_config, record_event, status_of
from bpsn.integration.oim.runner import OimForwarder, OimReport, Unreachable
from bpsn.simulator.bigpanda.oim.apply import build_alert
from bpsn.simulator.bigpanda.oim.config import OimConfigBody, compile_config

SELECTION = OimSelection(instance_url="https://acme.service-now.com")
ROW = {"sys_id": "i" * 32, "number": "INC0010001", "state": "2", "active": "true", "priority": "1",
       "short_description": "Checkout fails", "description": "HTTP 500", "assignment_group": "g1",
       "sys_updated_on": "2026-01-01 00:00:00"}


def events(*sizes: int) -> list[tuple[str, dict[str, Any]]]:
    return [(f"incident INC{i}", {"n": i, "pad": "x" * size}) for i, size in enumerate(sizes)]


# --- bodies under the limit ----------------------------------------------------------------------
def test_the_body_is_exactly_what_json_says() -> None:
    [batch] = pack("key", events(3, 4))
    assert isinstance(batch, Batch)
    assert json.loads(batch.body) == {"app_key": "key", "alerts": [{"n": 0, "pad": "xxx"}, {"n": 1, "pad": "xxxx"}]}
    assert batch.size == len(batch.body) == len(body_bytes("key", [encode(e) for _, e in events(3, 4)]))


def test_a_batch_is_closed_exactly_at_the_limit() -> None:
    items = events(100, 100, 100)
    two = len(body_bytes("k", [encode(items[0][1]), encode(items[1][1])]))
    fits, over = pack("k", items, limit=two), pack("k", items, limit=two - 1)
    assert [b.indexes for b in fits] == [(0, 1), (2,)]  # type: ignore[union-attr]
    assert [b.indexes for b in over] == [(0,), (1,), (2,)]  # type: ignore[union-attr]
    assert all(b.size <= two for b in fits)  # type: ignore[union-attr]


def test_six_megabytes_of_records_go_in_bodies_under_six_megabytes() -> None:
    out = pack("demo-oim-app-key", events(2_500_000, 2_500_000, 2_500_000))
    assert [b.indexes for b in out] == [(0, 1), (2,)]  # type: ignore[union-attr]
    assert all(isinstance(b, Batch) and b.size <= MAX_OIM_BODY for b in out)


def test_at_most_max_events_per_body() -> None:
    out = pack("k", events(*[1] * 5), max_events=2)
    assert [b.indexes for b in out] == [(0, 1), (2, 3), (4,)]  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="max_events"):
        pack("k", events(1), max_events=0)


def test_a_record_too_large_alone_is_refused_in_its_place_with_a_clear_message() -> None:
    out = pack("k", events(10, 7_000_000, 10))
    assert [type(u) for u in out] == [Batch, TooLarge, Batch]
    refused = out[1]
    assert isinstance(refused, TooLarge)
    assert (refused.index, refused.record, refused.limit) == (1, "incident INC1", MAX_OIM_BODY)
    assert refused.size == len(body_bytes("k", [encode(events(10, 7_000_000)[1][1])]))
    assert refused.message.startswith(f"incident INC1 is not sent to OIM: as one event its request body is "
                                      f"{refused.size:,} bytes, over BigPanda's limit of 6,291,456 bytes (6 MB)")


def test_non_ascii_text_is_counted_in_bytes() -> None:
    item = [("r", {"t": "é" * 10})]
    limit = len(body_bytes("k", [encode(item[0][1])]))
    assert isinstance(pack("k", item, limit=limit)[0], Batch)
    assert isinstance(pack("k", item, limit=limit - 1)[0], TooLarge)


# --- records -> events, and the configuration ---------------------------------------------------------
@pytest.mark.parametrize(("fields", "status"), [
    ({}, "critical"), ({"priority": "2"}, "critical"), ({"priority": "3"}, "warning"),
    ({"state": "6"}, "ok"), ({"state": "7"}, "ok"), ({"state": "8"}, "ok"), ({"active": "false"}, "ok"),
])
def test_status(fields: dict[str, str], status: str) -> None:
    assert status_of({**ROW, **fields}, SELECTION) == status


def test_the_event_of_a_record() -> None:
    event = record_event(ROW, CiResolution((CiRef("c1", "web-prod-01"),), "ci", "incident INC0010001"), SELECTION)
    assert event == {
        "ci": "web-prod-01", "ci_level": "ci", "number": "INC0010001", "table": "incident", "state": "2",
        "priority": "1", "short_description": "Checkout fails", "description": "HTTP 500", "assignment_group": "g1",
        "ticket_url": f"https://acme.service-now.com/nav_to.do?uri=incident.do?sys_id={'i' * 32}",
        "status": "critical", "updated_at": 1_767_225_600}


def test_the_configuration_is_valid_for_bigpanda_and_maps_an_event() -> None:
    selection = OimSelection(instance_url="x", extra_fields=("close_code", "u_Region"))
    body = desired_config(selection)
    compiled = compile_config(OimConfigBody.model_validate(body).config, body["sample_payload"])
    event = record_event({**ROW, "close_code": "fixed", "u_Region": "emea"},
                         CiResolution((CiRef("c1", "web-prod-01"),), "ci", "r"), selection)
    alert = build_alert(compiled, event, now=0, where="alert")
    assert alert is not None
    assert (alert["primary_property"], alert["host"], alert["secondary_property"], alert["status"]) == (
        "host", "web-prod-01", "check", "critical")
    assert (alert["incident_identifier"], alert["close_code"], alert["u_region"], alert["timestamp"]) == (
        "INC0010001", "fixed", "emea", 1_767_225_600)


def test_without_a_ci_the_number_is_the_primary_property() -> None:
    body = desired_config(SELECTION)
    compiled = compile_config(OimConfigBody.model_validate(body).config, body["sample_payload"])
    alert = build_alert(compiled, record_event(ROW, CiResolution(), SELECTION), now=0, where="alert")
    assert alert is not None and (alert["primary_property"], "host" in alert) == ("servicenow_number", False)


@pytest.mark.parametrize(("fields", "message"), [
    ({"table": "Incident;drop"}, "not a ServiceNow table name"),
    ({"query": "active=true^ORpriority=1"}, "AND conditions only"),
    ({"ci_tag": "status"}, "not a usable OIM tag name"),
    ({"extra_fields": ("priority",)}, "cannot be a tag of its own"),
])
def test_a_selection_that_cannot_work_is_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(OimSelectionError, match=message):
        OimSelection(instance_url="x", **fields)


# --- refused bodies: split, then report ----------------------------------------------------------------
class FakeOimApi:
    """Refuses bodies over `max_size` with 413 and events marked bad with 400; fails with `status`."""

    app_key = "k"

    def __init__(self, max_size: int = 10**9, status: int | None = None) -> None:
        self.max_size, self.status = max_size, status
        self.sent: list[list[int]] = []

    async def send_alerts(self, body: bytes) -> int:
        alerts = json.loads(body)["alerts"]
        request = httpx.Request("POST", "http://bp/oim/api/alerts")
        if self.status is not None:
            raise BigPandaError(httpx.Response(self.status, json={"errors": ["down"]}, request=request))
        if len(body) > self.max_size:
            raise BigPandaError(httpx.Response(413, json={"errors": ["too large"]}, request=request))
        if any(a.get("bad") for a in alerts):
            raise BigPandaError(httpx.Response(400, json={"errors": ["alert: no primary property"]}, request=request))
        self.sent.append([a["n"] for a in alerts])
        return 201


def forwarder(api: FakeOimApi) -> OimForwarder:
    async def no_wait(seconds: float) -> None:
        clock.advance(seconds)
    clock = SimClock.virtual()
    return OimForwarder(None, api, None, clock, SELECTION, sleep=no_wait)  # type: ignore[arg-type]


def send(fw: OimForwarder, items: list[tuple[str, dict[str, Any]]]) -> OimReport:
    report = OimReport()
    [batch] = pack("k", items)
    asyncio.run(fw._send(batch, items, report))  # type: ignore[arg-type]
    return report


def test_a_body_refused_as_too_large_is_split_until_it_fits() -> None:
    api = FakeOimApi(max_size=len(body_bytes("k", [encode({"n": 0, "pad": "x" * 100})] * 2)))
    report = send(forwarder(api), events(*[100] * 5))
    assert api.sent == [[0, 1], [2], [3, 4]]
    assert (report.alerts, report.requests, report.rejected) == (5, 3, [])


def test_a_single_refused_record_is_reported_and_the_others_go() -> None:
    items = events(1, 1, 1, 1)
    items[2][1]["bad"] = True
    api = FakeOimApi()
    report = send(forwarder(api), items)
    assert api.sent == [[0, 1], [3]]
    assert report.rejected == [("BigPanda refused incident INC2 as an OIM alert: BigPanda answered 400: "
                                "alert: no primary property")]


@pytest.mark.parametrize("status", [429, 503])
def test_bigpanda_still_failing_stops_the_pass(status: int) -> None:
    with pytest.raises(Unreachable):
        send(forwarder(FakeOimApi(status=status)), events(1))


def test_a_missing_configuration_is_made_again_next_pass() -> None:
    fw = forwarder(FakeOimApi(status=404))
    fw._configured = True
    with pytest.raises(Unreachable, match="configured again next pass"):
        send(fw, events(1))
    assert fw._configured is False


def test_requests_are_paced_on_the_clock() -> None:
    api = FakeOimApi()
    fw = forwarder(api)
    start = fw.clock.now()
    for i in range(7):
        send(fw, events(i))
    assert len(api.sent) == 7 and fw.clock.now() - start == pytest.approx(1.0)
