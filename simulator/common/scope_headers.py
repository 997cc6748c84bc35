"""A request header read straight from the ASGI scope.

`request.headers.get(name)` builds Starlette's Headers and walks it through the Mapping ABC
(get -> __getitem__ -> KeyError); on a Table API request that happened three times. This reads the
same raw list the same way: the first header whose raw name equals the lowercase `name` (ASGI
servers give names in lowercase; Starlette compares them as they are, and so does this), its value
decoded as Latin-1.
"""

from __future__ import annotations

from typing import Any


def request_header(request: Any, name: str, default: str | None = None) -> str | None:
    """request.headers.get(name, default), the same answer; `name` in lowercase."""
    key = name.encode("latin-1")
    for raw_name, value in request.scope["headers"]:
        if raw_name == key:
            return value.decode("latin-1")
    return default
