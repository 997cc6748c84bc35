"""The admin API every simulator shares, under /_sim: health, reset, clock, journal.

Simulator-specific admin routes (wait conditions, seeds) are added by each simulator
next to these. Nothing here touches the emulated paths.
"""

from __future__ import annotations

from typing import Any, Protocol

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from bpsn.clock import SimClock, iso

from .journal import Journal


class SimBackend(Protocol):
    clock: SimClock
    journal: Journal
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


class ClockAdvance(BaseModel):
    seconds: float = Field(ge=0, le=10 * 365 * 86400, description="How far to move the clock forward")


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


def admin_router(backend: SimBackend) -> APIRouter:
    r = APIRouter(prefix="/_sim", tags=["simulator admin"])

    def clock_state() -> ClockState:
        now = backend.clock.now()
        return ClockState(now=now, iso=iso(now), frozen=backend.clock.frozen)

    @r.get("/health", response_model=Health, responses={503: {"model": Health, "description": "Not seeded yet"}},
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

    @r.delete("/journal", response_model=Done, summary="Empty the journal")
    async def clear_journal() -> Done:
        backend.journal.clear()
        return Done()

    return r
