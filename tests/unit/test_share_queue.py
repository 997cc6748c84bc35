"""The share queue: order, coalescing, one in flight per incident, leases, dead letters."""

from __future__ import annotations

from bpsn.simulator.bigpanda.sharing.queue import ShareQueue


def queue(lease: float = 60, deliveries: int = 3) -> ShareQueue:
    return ShareQueue(lease, deliveries)


def ids(shares: list) -> list[str]:  # type: ignore[type-arg]
    return [s.incident_id for s in shares]


def test_shares_come_out_in_order_up_to_the_limit() -> None:
    q = queue()
    for n in range(5):
        q.enqueue(f"s{n}", f"i{n}", "env", "servicenow", "incident#new", 0)
    out, more = q.lease(3, 0)
    assert ids(out) == ["i0", "i1", "i2"] and more
    out, more = q.lease(3, 0)
    assert ids(out) == ["i3", "i4"] and not more


def test_pending_changes_of_one_incident_coalesce() -> None:
    q = queue()
    first = q.enqueue("s1", "i1", "env", "servicenow", "incident#new", 0)
    second = q.enqueue("s2", "i1", "env", "servicenow", "incident#resolved", 1)
    assert first is second and first.triggers == ["incident#new", "incident#resolved"]
    assert len(q) == 1


def test_one_share_per_incident_in_flight() -> None:
    q = queue()
    q.enqueue("s1", "i1", "env", "servicenow", "incident#new", 0)
    [leased], _ = q.lease(10, 0)
    q.enqueue("s2", "i1", "env", "servicenow", "incident#alerts-updated", 1)
    assert q.lease(10, 1) == ([], False)  # held back until s1 is acknowledged
    assert q.acknowledge(leased.id) is leased
    [nxt], _ = q.lease(10, 2)
    assert nxt.id == "s2"


def test_an_expired_lease_is_delivered_again_first() -> None:
    q = queue(lease=60)
    q.enqueue("s1", "i1", "env", "servicenow", "incident#new", 0)
    q.enqueue("s2", "i2", "env", "servicenow", "incident#new", 0)
    [first], _ = q.lease(1, 0)
    again, _ = q.lease(10, 61)
    assert [s.id for s in again] == ["s1", "s2"] and again[0].deliveries == 2


def test_expired_share_merges_into_a_newer_pending_one() -> None:
    q = queue(lease=60)
    q.enqueue("s1", "i1", "env", "servicenow", "incident#new", 0)
    q.lease(1, 0)
    q.enqueue("s2", "i1", "env", "servicenow", "incident#resolved", 10)
    out, _ = q.lease(10, 61)
    assert [s.id for s in out] == ["s2"] and out[0].triggers == ["incident#new", "incident#resolved"]


def test_a_late_callback_still_acknowledges() -> None:
    q = queue(lease=60)
    q.enqueue("s1", "i1", "env", "servicenow", "incident#new", 0)
    q.lease(1, 0)
    q.expire_leases(61)
    assert q.acknowledge("s1") is not None
    assert len(q) == 0 and q.acknowledged == 1


def test_failures_dead_letter_after_max_deliveries() -> None:
    q = queue(deliveries=2)
    q.enqueue("s1", "i1", "env", "servicenow", "incident#new", 0)
    for _ in range(2):
        [s], _ = q.lease(1, 0)
        q.fail(s.id, "ServiceNow said 403")
    assert len(q) == 0 and [s.id for s in q.dead_letters] == ["s1"]
    assert q.dead_letters[0].errors == ["ServiceNow said 403"] * 2


def test_unknown_acknowledgements_are_reported_as_such() -> None:
    assert queue().acknowledge("nope") is None
