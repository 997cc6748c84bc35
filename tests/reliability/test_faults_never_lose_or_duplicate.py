"""Faults between the core and the two systems never lose or duplicate a ticket."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bpsn.testing import InProcessBench


@pytest.fixture
def bench() -> Iterator[InProcessBench]:
    b = InProcessBench()
    yield b
    b.close()


# the ticket writes: staging rows through the Import Set API (the default write path); the
# share-staging companion's rows come after them in a poll, so the first faults hit the tickets
TICKET_WRITES = {"method": "POST", "path": "/api/now/import/x_bip_panda_shareincident/insertMultiple"}


def add_fault(bench: InProcessBench, backend: object, **spec: object) -> None:
    backend.faults.add(**spec)  # type: ignore[attr-defined]


def send(bench: InProcessBench, host: str) -> str:
    r = bench.send_alerts({"status": "critical", "host": host, "check": "CPU load"})
    assert r.status_code == 201
    return str(r.json()["alerts"][0]["incident_id"])


def one_ticket_each(bench: InProcessBench, incident_ids: list[str]) -> None:
    for incident_id in incident_ids:
        assert len(bench.tickets(f"correlation_id={incident_id}")) == 1, incident_id
        assert len(bench.incident(incident_id).tickets) == 1, incident_id


def test_servicenow_errors_are_retried(bench: InProcessBench) -> None:
    add_fault(bench, bench.servicenow, **TICKET_WRITES, status=503, times=2)
    incident = send(bench, "web-1")
    bench.poll()
    one_ticket_each(bench, [incident])
    assert bench.servicenow.journal.totals["status:503"] == 2


def test_a_create_whose_answer_was_lost_makes_no_second_ticket(bench: InProcessBench) -> None:
    add_fault(bench, bench.servicenow, **TICKET_WRITES, drop_connection=True,
              after_handling=True, times=1)
    incident = send(bench, "web-2")
    bench.poll()
    one_ticket_each(bench, [incident])


def test_a_lost_callback_answer_is_redelivered_without_a_second_ticket(bench: InProcessBench) -> None:
    add_fault(bench, bench.bigpanda, method="POST", path="/integrations/v3/servicenow/callbacks",
              drop_connection=True, after_handling=True, times=1)
    incidents = [send(bench, f"db-{n}") for n in range(3)]
    bench.poll()  # the callback was applied, its answer lost; the client retries: unknown shares
    bench.advance(121)
    bench.poll()
    one_ticket_each(bench, incidents)


def test_bigpanda_outage_during_retrieval_loses_nothing(bench: InProcessBench) -> None:
    add_fault(bench, bench.bigpanda, method="GET", path="/integrations/v3/servicenow/shares", status=502, times=2)
    incidents = [send(bench, f"api-{n}") for n in range(4)]
    bench.poll()
    one_ticket_each(bench, incidents)


def test_a_dead_servicenow_leaves_shares_for_later(bench: InProcessBench) -> None:
    add_fault(bench, bench.servicenow, **TICKET_WRITES, status=500,
              times=bench.settings.max_attempts)
    incident = send(bench, "cache-1")
    bench.poll()  # every attempt failed: the core reports an error; the share is delivered again
    assert bench.tickets(f"correlation_id={incident}") == []
    bench.poll()
    one_ticket_each(bench, [incident])
