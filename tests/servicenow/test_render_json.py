"""A record's JSON text written straight from the row (Renderer.record_json, the Table API's raw
values) is the very text the general rendering gives once encoded: every table of the seeded
instance, every kind of caller (admin, field ACLs that mask or leave out), every rendering option."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from bpsn.base.clock import SimClock
from bpsn.simulator.servicenow.backend import SYSTEM, ServiceNowBackend
from bpsn.simulator.servicenow.records.business_rules import Actor
from bpsn.simulator.servicenow.records.render import TO_JSON

FIELD_CHOICES: list[tuple[str, ...]] = [
    (), ("number", "number", "caller_id", "no_such_field", "sys_id"), ("caller_id.name", "number"),
    ("user_password", "sys_id", "user_name"), ("bearer_token", "api_key", "name"),
    ("work_notes", "comments", "opened_by"), ("no_such_field",),
]


@pytest.fixture(scope="module")
def backend() -> ServiceNowBackend:
    b = ServiceNowBackend(clock=SimClock.virtual())
    caller = b.store.select("sys_user", limit=1)[0]["sys_id"]
    group = b.store.select("sys_user_group", limit=1)[0]["sys_id"]
    b.insert("incident", {"short_description": 'quotes " \\ slash\n tab\t é ☃ \u2028 \x01', "caller_id": caller,
                          "assignment_group": group, "work_notes": "looked at it", "impact": "1"}, SYSTEM)
    b.insert("incident", {"short_description": "no references", "caller_id": "", "comments": "hello"}, SYSTEM)
    b.insert("x_bip_panda_config", {"name": "default", "bearer_token": "secret-token", "api_key": ""}, SYSTEM)
    return b


def _actors(b: ServiceNowBackend) -> list[Actor]:
    names = ["admin", b.settings.integration_user, b.settings.analyst_user, "bigpanda.admin", "alice.ops"]
    actors = [b.identities.actor_for(n) for n in names]
    assert all(actors)
    return [SYSTEM, *[a for a in actors if a is not None]]


def test_every_record_renders_to_the_same_text(backend: ServiceNowBackend) -> None:
    checked = 0
    for table in sorted(backend.dictionary.tables):
        for row in backend.store.select(table, limit=3):
            for actor, fields, display, exclude in itertools.product(
                    _actors(backend), FIELD_CHOICES, ("false", "true", "all"), (False, True)):
                opts: dict[str, Any] = {"display_value": display, "exclude_reference_link": exclude, "fields": fields}
                general = TO_JSON(backend.render(table, row, actor, **opts))
                assert backend.render_json(table, row, actor, **opts) == general, \
                    (table, row.get("sys_id"), actor.user_name, opts)
                checked += 1
    assert checked > 5_000  # the seeded instance: every table, not a handful of rows


def test_masked_and_left_out_fields_match(backend: ServiceNowBackend) -> None:
    """The field ACLs' two answers other than read, on the raw path itself."""
    [config] = backend.store.select("x_bip_panda_config", limit=1)
    analyst = backend.identities.actor_for(backend.settings.analyst_user)
    assert analyst is not None
    text = backend.render_json("x_bip_panda_config", config, analyst)
    assert text == TO_JSON(backend.render("x_bip_panda_config", config, analyst))
    assert '"bearer_token":"********"' in text and '"api_key":""' in text


def test_values_that_are_not_text_take_the_general_path(backend: ServiceNowBackend) -> None:
    row = dict(backend.store.select("incident", limit=1)[0])
    row.update(short_description=5, description=None, caller_id=7, impact=1.5,  # type: ignore[dict-item]
               work_notes=True)
    for exclude in (False, True):
        opts: dict[str, Any] = {"exclude_reference_link": exclude, "display_value": "false", "fields": ()}
        assert backend.render_json("incident", row, **opts) == TO_JSON(backend.render("incident", row, **opts))


def test_values_not_text_in_fields_shown_as_empty_take_the_general_path(backend: ServiceNowBackend) -> None:
    """A journal or an empty reference shows as "" whatever it holds: the general path says so too."""
    row = dict(backend.store.select("incident", limit=1)[0])
    for odd in ({"work_notes": None}, {"caller_id": 0}, {"parent": b"x"}, {"sys_id": None}):
        changed = {**row, **odd}
        for caller in (SYSTEM, backend.identities.actor_for(backend.settings.analyst_user)):
            assert caller is not None
            opts: dict[str, Any] = {"display_value": "false", "exclude_reference_link": False, "fields": ()}
            try:
                general = TO_JSON(backend.render("incident", changed, caller, **opts))
            except TypeError:
                with pytest.raises(TypeError):
                    backend.render_json("incident", changed, caller, **opts)
                continue
            assert backend.render_json("incident", changed, caller, **opts) == general, odd


def test_a_caller_who_may_not_read_the_record_gets_an_empty_object(backend: ServiceNowBackend) -> None:
    row = backend.store.select("x_bip_panda_config", limit=1)[0]
    reader = Actor("nobody", "0" * 32, frozenset({"x_bip_panda.admin"}))
    assert backend.render("x_bip_panda_config", row, reader) == {}
    assert backend.render_json("x_bip_panda_config", row, reader) == "{}"
