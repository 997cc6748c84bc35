"""Batch API route: POST /api/now/v1/batch (the versioned URL only, as documented)."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from bpsn.simulator.common.route_group import RouteGroup
from bpsn.simulator.servicenow.errors import ERROR_RESPONSES, SnError
from bpsn.simulator.servicenow.import_sets.routes import JSON_TYPE, RATE_LIMITED
from bpsn.simulator.servicenow.records.business_rules import Actor
from bpsn.simulator.servicenow.security.auth import caller

from .runner import IN_BATCH, MAX_ITEMS, BatchRunner, Item, Limits


class Header(BaseModel):
    name: StrictStr
    value: StrictStr


# An id may be a JSON number, echoed as text (our choice: ServiceNow's examples send strings, some
# clients send numbers); every other field takes exactly the JSON type documented.
Id = StrictStr | StrictInt | StrictFloat


def _text(value: str | int | float | None) -> str | None:
    return None if value is None else str(value)


class RestRequest(BaseModel):
    id: Id = Field(description="The item's id, echoed in the answer as text")
    url: StrictStr | None = Field(None, description="Path and query on the instance, e.g. /api/now/table/incident")
    method: StrictStr | None = Field(None, examples=["GET"])
    headers: list[Header] | None = None
    body: StrictStr | None = Field(None, description="Base64-encoded request body")
    exclude_response_headers: StrictBool = False


class BatchRequest(BaseModel):
    batch_request_id: Id | None = Field(None, description="Echoed in the answer as text")
    rest_requests: list[RestRequest]


class ServicedRequest(BaseModel):
    id: str
    status_code: int
    status_text: str
    headers: list[Header]
    body: str = Field(description="Base64-encoded response body")
    execution_time: int = Field(description="Milliseconds")
    error_message: str | None = None
    redirect_url: str | None = None


class BatchResponse(BaseModel):
    batch_request_id: str | None
    serviced_requests: list[ServicedRequest]
    unserviced_requests: list[str] = Field(description="Ids not run because a size or time limit was reached")


DESCRIPTION = f"""
Runs each `rest_requests` item, in order, as its own call to this instance (dispatched in-process)
with the batch caller's credentials: every item meets its own route's ACLs, so a denied item is a
403 inside a 200 batch. Items are not atomic: nothing is rolled back when a later item fails.

Limits: an item body over 5 MB or a response over 10 MB (or the lower
`X-BATCHREQUEST-MAX-OUTPUT-SIZE`) ends the batch, and that item and the rest are listed in
`unserviced_requests`; so does the 30 s quota, which here is measured in real elapsed time (the
simulator clock does not move during a request), configurable with `BPSN_SN_BATCH_QUOTA_SECONDS`.

Our choices: at most {MAX_ITEMS} items (400 above); an item missing `url` or `method`, with a body
that is not Base64 or a URL off the instance's `/api/` paths gets a 400 ServiceNow error body
(Base64) as its answer; a nested batch call is answered 400; an item's own `Authorization` header is
replaced by the batch caller's; `Accept` and `Content-Type` default to application/json;
`error_message` is the answer's `error.message` for any 4xx/5xx.
"""


def build_batch_router() -> RouteGroup:
    r = RouteGroup(tags=["Batch API"], responses=ERROR_RESPONSES)

    @r.post("/api/now/v1/batch", response_model=BatchResponse, name="batch", responses=RATE_LIMITED,
            summary="Several REST calls in one request", description=DESCRIPTION)
    async def batch(request: Request, body: BatchRequest, who: Actor = Depends(caller)) -> JSONResponse:
        if IN_BATCH.get():
            raise SnError(400, "Nested batch requests are not supported", "A batch item may not call the Batch API")
        if len(body.rest_requests) > MAX_ITEMS:
            raise SnError(400, "Too many requests in batch",
                          f"A batch holds at most {MAX_ITEMS} rest_requests (simulator limit); "
                          f"this one has {len(body.rest_requests)}")
        items = [Item(str(r.id), r.url, r.method, [(h.name, h.value) for h in r.headers or []], r.body,
                      r.exclude_response_headers) for r in body.rest_requests]
        limits = Limits.for_request(request.headers)
        runner = BatchRunner(request.app, request.headers.get("authorization", ""), limits)
        serviced, unserviced = await runner.run(items)
        resp = JSONResponse({"batch_request_id": _text(body.batch_request_id), "serviced_requests": serviced,
                             "unserviced_requests": unserviced})
        resp.headers["content-type"] = JSON_TYPE
        return resp

    return r

