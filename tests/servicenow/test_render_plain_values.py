"""Renderer._every_field_json writes values that need no JSON escape as they are, and encodes them
one by one otherwise: both give the general rendering's text, whatever the values hold (quotes,
backslashes, control characters, lone surrogates, line separators, non-BMP characters)."""

from __future__ import annotations

import random

import pytest

from bpsn.simulator.servicenow.backend import ServiceNowBackend
from bpsn.simulator.servicenow.records.render import ESCAPED, TO_JSON, RenderOptions

SAFE = ["a", "Z", " ", "0", "/", ":", "é", "€", "😀", "u001f", "\x7f", "\u2028", "\ud800", "\udfff"]
ESCAPES = ['"', "\\", "\x00", "\n", "\t", "\x1f"]


@pytest.fixture(scope="module")
def backend() -> ServiceNowBackend:
    return ServiceNowBackend()


def _value(rng: random.Random, escapes: float) -> str:
    if rng.random() < 0.4:
        return ""
    alphabet = SAFE + (ESCAPES if rng.random() < escapes else [])
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 8)))


@pytest.mark.parametrize("table", ["incident", "sys_user", "change_request"])
def test_plain_and_escaped_values_render_as_the_general_path(backend: ServiceNowBackend, table: str) -> None:
    rng = random.Random(table)
    names = list(backend.dictionary.fields(table))
    plain = 0
    for _ in range(400):
        row = {name: _value(rng, 0.005) for name in names}
        row["sys_class_name"] = table
        plain += all(not set(v.encode("utf-8", "surrogatepass")) & set(ESCAPED) for v in row.values())
        for exclude in (False, True):
            opts = RenderOptions(backend.settings.instance_url, "false", exclude)
            assert backend.renderer.record_json(table, row, opts) == TO_JSON(backend.renderer.record(table, row, opts))
    assert 0 < plain < 400  # both ways taken
