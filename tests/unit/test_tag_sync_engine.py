"""The tag sync table: inbound guards, outbound coalescing, and echo suppression, without I/O."""

from __future__ import annotations

import pytest

from bpsn.integration.engine.tags import SetIncidentTags, TagMapping, TagSync

MAPPINGS = (TagMapping("component", "subcategory"), TagMapping("team", "assignment_group"),
            TagMapping("customer", "company", "to_servicenow"), TagMapping("problem", "problem_id", "to_bigpanda"))
GROUPS = {("sys_user_group", "Network Operations"): "g1"}


def synced(**bigpanda: str) -> TagSync:
    sync = TagSync(MAPPINGS)
    sync.inbound_fields("I1", dict(bigpanda), {}, GROUPS)
    return sync


def test_new_ticket_takes_every_inbound_tag_and_resolves_references() -> None:
    sync = TagSync(MAPPINGS)
    fields = sync.inbound_fields("I1", {"component": "nginx", "team": "Network Operations", "customer": "ACME",
                                        "problem": "PRB1"}, None, GROUPS)
    assert fields == {"subcategory": "nginx", "assignment_group": "g1", "company": "ACME"}


def test_unknown_reference_name_leaves_the_field_alone() -> None:
    assert TagSync(MAPPINGS).inbound_fields("I1", {"team": "Nobody"}, {"assignment_group": "g9"}, GROUPS) == {}


def test_a_tag_unchanged_on_bigpanda_is_not_written_even_if_the_ticket_differs() -> None:
    sync = synced(component="nginx")
    assert sync.inbound_fields("I1", {"component": "nginx"}, {"subcategory": "envoy"}, GROUPS) == {}


def test_a_value_the_ticket_already_has_is_not_written() -> None:
    sync = TagSync(MAPPINGS)
    assert sync.inbound_fields("I1", {"component": "nginx"}, {"subcategory": "nginx"}, GROUPS) == {}


def test_a_servicenow_change_in_the_window_wins_over_a_bigpanda_change() -> None:
    sync = synced(component="nginx")
    sync.ticket_changed("I1", {"subcategory": "envoy"}, now=100.0)
    assert sync.inbound_fields("I1", {"component": "haproxy"}, {"subcategory": "envoy"}, GROUPS) == {}
    assert sync.due(105.0) == [SetIncidentTags("I1", {"component": "envoy"})]


def test_an_edit_of_unmapped_fields_queues_nothing() -> None:
    sync = synced(component="nginx", team="Network Operations")
    sync.ticket_changed("I1", {"subcategory": "nginx", "assignment_group": "Network Operations"}, now=10.0)
    assert sync.next_due() is None


def test_outbound_waits_for_the_window_and_sends_the_last_value_once() -> None:
    sync = synced(component="nginx")
    sync.ticket_changed("I1", {"subcategory": "a"}, now=10.0)
    sync.ticket_changed("I1", {"subcategory": "b"}, now=14.9)
    assert sync.due(14.9) == []
    (command,) = sync.due(15.0)
    assert command.values == {"component": "b"}
    sync.sent(command)
    assert sync.due(100.0) == [] and sync.next_due() is None
    assert sync.inbound_fields("I1", {"component": "b"}, {"subcategory": "b"}, GROUPS) == {}  # the echo


def test_changed_and_changed_back_inside_the_window_sends_nothing() -> None:
    sync = synced(component="nginx")
    sync.ticket_changed("I1", {"subcategory": "redis"}, now=10.0)
    sync.ticket_changed("I1", {"subcategory": "nginx"}, now=12.0)
    assert sync.due(20.0) == [] and sync.next_due() is None


def test_one_way_mappings() -> None:
    sync = synced(customer="ACME", problem="P1")
    sync.ticket_changed("I1", {"company": "Globex", "problem_id": "P2"}, now=0.0)
    assert sync.due(5.0) == [SetIncidentTags("I1", {"problem": "P2"})]


def test_a_failed_write_forgets_what_bigpanda_showed() -> None:
    sync = synced(component="nginx")
    sync.forget("I1")
    assert sync.inbound_fields("I1", {"component": "nginx"}, {"subcategory": ""}, GROUPS) == {"subcategory": "nginx"}


@pytest.mark.parametrize("kwargs", [{"tag": "", "field": "x"}, {"tag": "t", "field": "x", "direction": "up"}])
def test_bad_mappings_are_refused(kwargs: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        TagMapping(**kwargs)  # type: ignore[arg-type]
