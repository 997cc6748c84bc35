"""Maintenance plans v2 (user API key): create, list, get, patch, delete, stop."""

from __future__ import annotations

import zoneinfo
from functools import lru_cache
from typing import Any

from fastapi import Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field, field_validator

from bpsn.simulator.bigpanda.auth import principal
from bpsn.simulator.bigpanda.backend import BigPandaBackend, Principal
from bpsn.simulator.bigpanda.errors import doc
from bpsn.simulator.common.bodies import StrictBody
from bpsn.simulator.common.route_group import RouteGroup

from .plans import MAX_CONDITION_CHARS, MAX_PLANS

MAX_EPOCH_SECONDS = 10**11  # beyond this it is milliseconds
CONDITION_DOC = (f"BPQL object, at most {MAX_CONDITION_CHARS} characters serialised: "
                 '`{"=": [tag, value]}`, `{"!=": [tag, value]}`, `{"IN": [tag, [values]]}`, '
                 '`{"AND": [conditions]}`, `{"OR": [conditions]}`, `{"NOT": condition}`; a value is a '
                 'string (`*` is a wildcard) or `{"type": "regex"|"formal-regex", "value": "..."}`')


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) | {"UTC"}


def _seconds(value: int | None) -> int | None:
    if value is not None and value >= MAX_EPOCH_SECONDS:
        raise ValueError(f"{value} looks like milliseconds; send epoch seconds")
    return value


def _zone(value: str | None) -> str | None:
    if value is not None and value not in _zones():
        raise ValueError(f"time zone {value!r} is not an IANA time zone name, e.g. UTC or Europe/Paris")
    return value


class CustomTag(StrictBody):
    name: str = Field(min_length=1, max_length=256)
    value: str = Field(max_length=4096)


class PlanPatch(StrictBody):
    """Every field optional: what is sent replaces the plan's value; the result is validated whole."""

    name: str | None = Field(None, min_length=1, max_length=512)
    condition: dict[str, Any] | None = Field(None, description=CONDITION_DOC,
                                             examples=[{"=": ["host", "prod-api-1"]}])
    start: int | None = Field(None, ge=0, description="Epoch seconds")
    end: int | None = Field(None, ge=0, description="Epoch seconds, after start")
    time_zone: str | None = Field(None, max_length=64)
    description: str | None = Field(None, max_length=4096)
    custom_tags: list[CustomTag] | None = Field(None, max_length=100)
    frequency: str | None = Field(None, max_length=64, examples=["Daily"],
                                  description="Stored and echoed; recurrence is not simulated (our choice)")
    frequency_data: dict[str, Any] | None = Field(None, examples=[{"relativity": "First", "duration": 10800}])
    post_maintenance_action: str | None = Field(None, max_length=64, examples=["None"])
    maintenance_key: str | None = Field(None, min_length=1, max_length=256, examples=["CNG-17810"])

    _s = field_validator("start", "end")(_seconds)
    _z = field_validator("time_zone")(_zone)


class PlanIn(PlanPatch):
    name: str = Field(min_length=1, max_length=512)
    condition: dict[str, Any] = Field(description=CONDITION_DOC, examples=[{"=": ["host", "prod-api-1"]}])
    start: int = Field(ge=0, description="Epoch seconds")
    end: int = Field(ge=0, description="Epoch seconds, after start")
    time_zone: str = Field("UTC", max_length=64)
    post_maintenance_action: str = Field("None", max_length=64)


class PlanOut(BaseModel):
    id: str
    name: str
    condition: dict[str, Any]
    start: int
    end: int
    time_zone: str
    description: str
    custom_tags: list[CustomTag]
    frequency: str | None
    frequency_data: dict[str, Any] | None
    post_maintenance_action: str
    maintenance_key: str
    status: str = Field(description="planned before start, active until end, expired after (from the clock)")
    created_at: int
    created_by: str
    updated_at: int
    updated_by: str


class PlanList(BaseModel):
    items: list[PlanOut]
    page: int
    per_page: int
    total: int


USER_ONLY = {403: doc(403, "Not a user API key: the org token is refused")}
NOT_FOUND = {404: doc(404, "No such maintenance plan")}
CHOICE = ("Our choices where BigPanda is silent: `status` is computed from the simulator clock; "
          "`frequency` is stored but plans do not recur; an alert's `maintenance_plans` are matched "
          "when the alert is created or updated, not re-evaluated as plans start or end.")


def _backend(request: Request) -> BigPandaBackend:
    return request.app.state.backend


def _plan_id() -> Any:
    return Path(min_length=1, max_length=100)


def build_maintenance_router() -> RouteGroup:
    r = RouteGroup(prefix="/resources/v2.0/maintenance-plans", tags=["Maintenance plans v2"])

    def authorized(request: Request, who: Principal) -> BigPandaBackend:
        backend = _backend(request)
        backend.require(who, "user", "Maintenance plans v2")
        return backend

    def out(backend: BigPandaBackend, plan: Any) -> PlanOut:
        return PlanOut(**plan.to_dict(backend.clock.now()))

    @r.post("", status_code=201, response_model=PlanOut, responses=USER_ONLY, summary="Create a plan",
            description=f"{CHOICE} At most {MAX_PLANS} plans per organization (400 beyond). "
                        "`maintenance_key` is generated when absent.")
    async def create_plan(request: Request, body: PlanIn, who: Principal = Depends(principal)) -> PlanOut:
        backend = authorized(request, who)
        plan = who.org.maintenance.create(body.model_dump(), rng=who.org.rng, by=who.email,
                                          now=backend.clock.now())
        who.org.on_change()
        return out(backend, plan)

    @r.get("", response_model=PlanList, responses=USER_ONLY, summary="List plans",
           description=CHOICE + " The list shape `{items, page, per_page, total}` is our choice; "
                                "oldest plan first.")
    async def list_plans(request: Request, page: int = Query(1, ge=1, le=10_000),
                         per_page: int = Query(20, ge=1, le=100),
                         who: Principal = Depends(principal)) -> PlanList:
        backend = authorized(request, who)
        plans, total = who.org.maintenance.page(page, per_page)
        return PlanList(items=[out(backend, p) for p in plans], page=page, per_page=per_page, total=total)

    @r.get("/{plan_id}", response_model=PlanOut, responses={**USER_ONLY, **NOT_FOUND}, summary="Get a plan",
           description=CHOICE)
    async def get_plan(request: Request, plan_id: str = _plan_id(), who: Principal = Depends(principal)) -> PlanOut:
        backend = authorized(request, who)
        return out(backend, who.org.maintenance.get(plan_id))

    @r.patch("/{plan_id}", response_model=PlanOut, responses={**USER_ONLY, **NOT_FOUND},
             summary="Update part of a plan",
             description=CHOICE + " Fields sent replace the plan's; the result is validated as on create.")
    async def update_plan(request: Request, body: PlanPatch, plan_id: str = _plan_id(),
                          who: Principal = Depends(principal)) -> PlanOut:
        backend = authorized(request, who)
        fields = body.model_dump(include=body.model_fields_set)
        plan = who.org.maintenance.update(plan_id, fields, by=who.email, now=backend.clock.now())
        who.org.on_change()
        return out(backend, plan)

    @r.delete("/{plan_id}", status_code=204, response_class=Response, responses={**USER_ONLY, **NOT_FOUND},
              summary="Delete a plan")
    async def delete_plan(request: Request, plan_id: str = _plan_id(),
                          who: Principal = Depends(principal)) -> Response:
        authorized(request, who)
        who.org.maintenance.delete(plan_id)
        who.org.on_change()
        return Response(status_code=204)

    @r.post("/{plan_id}/stop", response_model=PlanOut,
            responses={**USER_ONLY, **NOT_FOUND, 409: doc(409, "The plan is not running: ended or not started")},
            summary="Stop a running plan now",
            description=CHOICE + " Sets `end` to now (whole seconds), so the plan is expired at once. "
                                 "Our choice: stopping a plan that has not started is a 409 too.")
    async def stop_plan(request: Request, plan_id: str = _plan_id(), who: Principal = Depends(principal)) -> PlanOut:
        backend = authorized(request, who)
        plan = who.org.maintenance.stop(plan_id, by=who.email, now=backend.clock.now())
        who.org.on_change()
        return out(backend, plan)

    return r
