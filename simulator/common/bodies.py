"""Request bodies taken exactly as their schema documents them.

Pydantic's default (lax) mode would take `"5"` or `true` for an integer and `0` or `"yes"` for a
boolean, so the simulator would accept bodies its own OpenAPI document calls invalid. A body
model that inherits `StrictBody` takes a JSON value only of the documented type; anything else
is a 400 that names the field. One exception, as JSON Schema (and every JavaScript server) has
it: a whole number written `5.0` is the integer 5.
"""

from __future__ import annotations

import types
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
