"""The OIM routes' request bodies: at most 6 MB, refused before they are held in memory.

A `Content-Length` over the limit is refused at once, before any of the body is received.
A streamed (chunked) body is counted as it arrives and spooled: the first 256 KB in memory,
the rest in a temporary file, so a body that turns out too large never sits in memory. Only a
body within the limit is parsed, and only if it nests at most MAX_JSON_DEPTH deep (400
otherwise, measured before parsing). Either way the answer is BigPanda's error body with 413
(our choice: BigPanda documents the 6 MB limit, not the response).
"""

from __future__ import annotations

import json
import tempfile
from typing import Any

from fastapi import Request
from pydantic import BaseModel, ValidationError

from bpsn.simulator.bigpanda.errors import BpError, bad_request
from bpsn.simulator.common.bodies import json_nesting_over

MAX_OIM_BODY = 6 * 1024 * 1024
MAX_JSON_DEPTH = 64  # our choice (BigPanda publishes none); monitoring payloads nest under 10
SPOOL_IN_MEMORY = 256 * 1024


def too_large(size: int, limit: int = MAX_OIM_BODY, *, declared: bool = False) -> BpError:
    got = f"Content-Length {size}" if declared else f"at least {size} bytes"
    return BpError(413, f"the request body is larger than {limit // (1024 * 1024)} MB ({got}); at most "
                        f"{limit} bytes are accepted")


def check_content_length(request: Request) -> None:
    """A route dependency: refuses a declared size over 6 MB before anything reads the body."""
    check_declared_size(request, MAX_OIM_BODY)


def check_declared_size(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > limit:
        raise too_large(int(declared), limit, declared=True)


async def read_limited(request: Request, limit: int = MAX_OIM_BODY) -> bytes:
    """The body, counted as it arrives: 413 as soon as it passes `limit`."""
    check_declared_size(request, limit)
    size = 0
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large(size, limit)
            spool.write(chunk)
        spool.seek(0)
        return spool.read()


async def read_json(request: Request, limit: int = MAX_OIM_BODY) -> Any:
    data = await read_limited(request, limit)
    if not data.strip():
        raise bad_request("the body is empty: send a JSON object")
    if json_nesting_over(data, MAX_JSON_DEPTH):  # json.loads would recurse per level
        raise bad_request(f"the body nests arrays and objects more than {MAX_JSON_DEPTH} levels deep")
    try:
        return json.loads(data)
    except RecursionError:  # a backstop: the check above already refuses such bodies
        raise bad_request(f"the body nests arrays and objects more than {MAX_JSON_DEPTH} levels deep") from None
    except UnicodeDecodeError:
        raise bad_request("the body is not UTF-8 text") from None
    except ValueError as e:
        raise bad_request(f"the body is not valid JSON: {e}") from None


def validate(model: type[BaseModel], data: Any) -> Any:
    """The model of `data`, or a 400 listing each problem as `location: message`."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise bad_request(*[f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
                            for err in e.errors()]) from None


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with its $defs inlined, for `openapi_extra` request bodies."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def expand(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return expand({**defs[ref.removeprefix("#/$defs/")],
                               **{k: v for k, v in node.items() if k != "$ref"}})
            return {k: expand(v) for k, v in node.items()}
        if isinstance(node, list):
            return [expand(v) for v in node]
        return node

    return expand(schema)


def json_body(schema: dict[str, Any], example: Any) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": schema, "example": example}}}}
