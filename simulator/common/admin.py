"""The admin API every simulator shares, under /_sim: health, reset, clock, journal.

Simulator-specific admin routes (wait conditions, seeds) are added by each simulator
next to these. Nothing here touches the emulated paths.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Protocol

from fastapi import APIRouter, Depends, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from bpsn.base.clock import SimClock, iso

from .bodies import StrictBody
from .faults import FaultInjector
from .journal import Journal


class SimBackend(Protocol):
    clock: SimClock
    journal: Journal
    faults: FaultInjector
    ready: bool
    name: str

    def reset(self) -> None: ...
    def tick(self) -> None: ...


class Health(BaseModel):
    status: str = Field(examples=["ready"])
    simulator: str
    ready: bool


class ClockState(BaseModel):
    now: float
    iso: str
    frozen: bool


class ClockAdvance(StrictBody):
    seconds: float = Field(ge=0, le=10 * 365 * 86400, strict=True,  # a number: not true, not "5"
                           description="How far to move the clock forward")


class JournalEntryOut(BaseModel):
    id: int
    time: float
    method: str
    path: str
    query: str
    status: int
    duration_ms: float
    user: str
    table: str
    notes: list[str]


class JournalOut(BaseModel):
    total: int = Field(description="Entries matching the filters that the journal still holds")
    counts: dict[str, int] = Field(description="Matching entries per 'METHOD table-or-path'")
    totals: dict[str, int] = Field(description="Counters since the last reset, including entries that fell off")
    entries: list[JournalEntryOut]


class Done(BaseModel):
    status: str = "ok"


class FaultSpec(StrictBody):
    """Match (method, path prefix or ^regex, table), roll the seeded dice, then misbehave.
    A matcher left out (or null) matches everything; one that is sent must say something."""

    method: str | None = Field(None, min_length=1, max_length=10, pattern=r"^[A-Za-z]+$", examples=["POST"])
    path: str | None = Field(None, min_length=1, max_length=500, examples=["/api/now/table/incident"],
                             description="A path prefix, or a regular expression when it starts with ^")
    table: str | None = Field(None, min_length=1, max_length=100)
    probability: float = Field(1.0, ge=0, le=1)
    status: int | None = Field(None, ge=400, le=599, description="Answer this status with the API's error body")
    message: str | None = Field(None, min_length=1, max_length=500)
    latency_ms: float = Field(0, ge=0, le=120_000)
    drop_connection: bool = False
    after_handling: bool = Field(False, description="Serve the request first, then lose or replace its answer")
    times: int | None = Field(None, ge=1, description="Fire at most this many times")


class FaultOut(FaultSpec):
    id: int
    fired: int


def admin_router(backend: SimBackend, guard: Callable[..., Any] | None = None) -> APIRouter:
    """Health answers anyone; with a `guard` dependency, every other admin route needs it."""
    public = APIRouter(prefix="/_sim", tags=["simulator admin"])
    r = APIRouter(prefix="/_sim", tags=["simulator admin"], dependencies=[Depends(guard)] if guard else [])

    def clock_state() -> ClockState:
        now = backend.clock.now()
        return ClockState(now=now, iso=iso(now), frozen=backend.clock.frozen)

    @public.get("/health", response_model=Health, responses={503: {"model": Health, "description": "Not seeded yet"}},
           summary="Ready only once the seed data is loaded")
    async def health() -> Any:
        body = Health(status="ready" if backend.ready else "starting", simulator=backend.name,
                      ready=backend.ready)
        return JSONResponse(body.model_dump(), status_code=200 if backend.ready else 503)

    @r.post("/reset", response_model=Done, summary="Rebuild all state and re-seed the default tenants")
    async def reset() -> Done:
        backend.reset()
        return Done()

    @r.get("/clock", response_model=ClockState, summary="The simulator clock")
    async def clock() -> ClockState:
        return clock_state()

    @r.post("/clock/advance", response_model=ClockState,
            summary="Move the clock forward; timers that fall due fire at once")
    async def advance(body: ClockAdvance) -> ClockState:
        backend.clock.advance(body.seconds)
        backend.tick()
        return clock_state()

    @r.post("/clock/freeze", response_model=ClockState, summary="Stop the clock (advance moves it)")
    async def freeze() -> ClockState:
        backend.clock.freeze()
        return clock_state()

    @r.post("/clock/unfreeze", response_model=ClockState, summary="Let the clock run with real time again")
    async def unfreeze() -> ClockState:
        backend.clock.unfreeze()
        return clock_state()

    @r.get("/journal", response_model=JournalOut, summary="The bounded request journal, filtered")
    async def journal(method: str | None = Query(None, max_length=10),
                      path: str | None = Query(None, max_length=500),
                      table: str | None = Query(None, max_length=100),
                      user: str | None = Query(None, max_length=200),
                      status: int | None = Query(None, ge=100, le=599),
                      note: str | None = Query(None, max_length=100),
                      since_id: int = Query(0, ge=0),
                      limit: int = Query(1000, ge=1, le=100_000)) -> JournalOut:
        found = backend.journal.find(method=method, path=path, table=table, user=user, status=status,
                                     note=note, since_id=since_id)
        return JournalOut(total=len(found), counts=backend.journal.counts(found),
                          totals=dict(backend.journal.totals),
                          entries=[JournalEntryOut(**e.to_dict()) for e in found[-limit:]])

    @r.get("/faults", response_model=list[FaultOut], summary="Fault rules, in the order they are tried")
    async def list_faults() -> list[FaultOut]:
        return [FaultOut(**rule.to_dict()) for rule in backend.faults.rules]

    @r.post("/faults", response_model=FaultOut, status_code=201,
            summary="Add a fault rule; the first matching rule wins",
            description="A rule that cannot work (e.g. a bad regular expression) is a 400 in the API's error body.")
    async def add_fault(spec: FaultSpec) -> Any:
        try:
            rule = backend.faults.add(**spec.model_dump())
        except re.error as exc:  # the simulator's own validation error answer (400)
            raise RequestValidationError([{"type": "value_error", "loc": ("body", "path"), "input": spec.path,
                                           "msg": f"not a valid regular expression: {exc}"}]) from None
        return FaultOut(**rule.to_dict())

    @r.delete("/faults/{rule_id}", response_model=Done, responses={404: {"description": "No such rule"}},
              summary="Remove one fault rule")
    async def remove_fault(rule_id: int) -> Any:
        if not backend.faults.remove(rule_id):
            return JSONResponse({"detail": f"no fault rule {rule_id}"}, status_code=404)
        return Done()

    @r.delete("/faults", response_model=Done, summary="Remove every fault rule")
    async def clear_faults() -> Done:
        backend.faults.clear()
        return Done()

    @r.delete("/journal", response_model=Done, summary="Empty the journal")
    async def clear_journal() -> Done:
        backend.journal.clear()
        return Done()

    combined = APIRouter()
    combined.include_router(public)
    combined.include_router(r)
    return combined
