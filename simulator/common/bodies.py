"""Request bodies taken exactly as their schema documents them.

Pydantic's default (lax) mode would take `"5"` or `true` for an integer and `0` or `"yes"` for a
boolean, so the simulator would accept bodies its own OpenAPI document calls invalid. A body
model that inherits `StrictBody` takes a JSON value only of the documented type; anything else
is a 400 that names the field. One exception, as JSON Schema (and every JavaScript server) has
it: a whole number written `5.0` is the integer 5.

`AdminBody` is a StrictBody that also refuses fields it does not declare: the simulators' own
admin API (/_sim) has no real server to mirror, so a typo such as `"stauts": 500` in a fault
rule is a 400 naming it, not a rule that fires as a no-op. Emulated APIs keep the vendors'
leniency towards unknown fields.

`json_nesting_over` measures how deep a JSON text nests before anything parses it, and
`json_values_over` how many values it holds.
"""

from __future__ import annotations

import operator
import re
import types
from itertools import accumulate, count, repeat
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, model_validator


def _takes_int_not_float(annotation: Any) -> bool:
    if annotation is int:
        return True
    if get_origin(annotation) in (Union, types.UnionType):
        options = get_args(annotation)
        return int in options and float not in options
    return False


class StrictBody(BaseModel):
    model_config = ConfigDict(strict=True)

    @model_validator(mode="before")
    @classmethod
    def _whole_numbers(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        fixed = dict(data)
        for name, field in cls.model_fields.items():
            key = field.alias or name
            value = fixed.get(key)
            if isinstance(value, float) and value.is_integer() and _takes_int_not_float(field.annotation):
                fixed[key] = int(value)
        return fixed


class AdminBody(StrictBody):
    model_config = ConfigDict(strict=True, extra="forbid")


# --- JSON nesting, measured before parsing ------------------------------------------------------
# json.loads recurses once per level: ten thousand nested arrays raise RecursionError (a 500),
# and a few hundred reach code that walks the value recursively. Routes that parse a body
# themselves check its depth first, in C-speed byte operations, without building anything.
_OPEN_CLOSE = bytes.maketrans(b"[]{}", b"\x02\x00\x02\x00")
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"\\')
_STRING = re.compile(rb'"[^"]*"')  # no nested quantifier: linear


def json_nesting_over(data: bytes, limit: int) -> bool:
    """Whether JSON text nests arrays and objects more than `limit` deep (brackets inside strings
    do not count). Invalid JSON may give either answer; the parser refuses it afterwards."""
    s = data.translate(None, _NOT_STRUCTURE)
    if b'"' in s:  # drop escaped backslashes, then escaped quotes, then whole strings
        s = _STRING.sub(b"", s.replace(b"\\\\", b"").replace(b'\\"', b""))
    s = s.translate(_OPEN_CLOSE, b'"\\')
    if b"\x02" * (limit + 1) in s:
        return True
    # after byte i the depth is 2 * (opens so far) - (i + 1): C-level prefix sums, no Python loop
    return max(map(operator.sub, accumulate(s), count(1)), default=0) > limit


# --- JSON width, measured before parsing ---------------------------------------------------------
# Parsing a body and walking its fields runs on the event loop: 140,000 members (1.6 MB, within the
# size limit) held every other request up for 0.3-0.7 s. Commas outside strings count the values.
_NOT_COMMA_OR_STRING = bytes(b for b in range(256) if b not in b',"\\')


def json_values_over(data: bytes, limit: int) -> bool:
    """Whether JSON text holds more than `limit` values in its arrays and objects together
    (commas inside strings do not count). Invalid JSON may give either answer."""
    if data.count(b",") < limit:  # the common case: no need to look at strings
        return False
    s = data.translate(None, _NOT_COMMA_OR_STRING).replace(b"\\\\", b"").replace(b'\\"', b"")
    outside_strings = s.split(b'"')[::2]  # what lies between a closing quote and the next opening one
    return sum(map(bytes.count, outside_strings, repeat(b","))) >= limit
