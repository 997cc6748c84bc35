"""The admin API every simulator shares, under /_sim: health, reset, clock, journal.

Simulator-specific admin routes (wait conditions, seeds) are added by each simulator
next to these. Nothing here touches the emulated paths.

The admin API is strict: bodies refuse undeclared fields (AdminBody) and every /_sim router
depends on `known_query_only`, so a misspelt parameter (`query=` for `sysparm_query=`) is a 400
naming it instead of being ignored, which would make a wait match at once and a test pass wrongly.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from fastapi import Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from bpsn.base.clock import SimClock, iso

from .bodies import AdminBody
from .faults import FaultInjector
from .journal import Journal
from .openapi import route_query
from .route_group import RouteGroup


class SimBackend(Protocol):
    clock: SimClock
    journal: Journal
    faults: FaultInjector
    ready: bool
    name: str

    def reset(self) -> None: ...
    def tick(self) -> None: ...


async def known_query_only(request: Request) -> None:
    """A query parameter the route does not declare is a 400 in the API's own validation error
    body, naming it and the parameters the route does take."""
    route = request.scope.get("route")
    if getattr(route, "dependant", None) is None:
        return
    declared = route_query(route).names
    unknown = sorted(set(request.query_params.keys()) - declared)
    if unknown:
        takes = f"this route takes {', '.join(sorted(declared))}" if declared else "this route takes none"
        raise RequestValidationError([{"type": "value_error", "loc": ("query", name),
                                       "input": request.query_params.get(name),
                                       "msg": f"unknown query parameter; {takes}"} for name in unknown])


class SnapshotRequest(AdminBody):
    path: str = Field(min_length=1, max_length=4096,
                      description="A file name inside the simulator's snapshot directory (BPSN_BP_SNAPSHOT_DIR or "
                                  "BPSN_SN_SNAPSHOT_DIR, default ./snapshots); absolute paths and paths leading out "
                                  "of it are refused")


class Health(BaseModel):
    status: str = Field(examples=["ready"])
    simulator: str
    ready: bool


class ClockState(BaseModel):
    now: float
    iso: str
    frozen: bool


class ClockAdvance(AdminBody):
    seconds: float = Field(ge=0, le=10 * 365 * 86400, strict=True,  # a number: not true, not "5"
                           description="How far to move the clock forward")


class ClockRestart(AdminBody):
    at: float | None = Field(None, ge=0, le=32_503_680_000, strict=True,
                             description="Epoch seconds to begin at from now on (later restarts come back to it); "
                                         "left out: where the clock began")
    frozen: bool | None = Field(None, description="Begin frozen (only advance moves it) or running; left out: "
                                                  "as the clock began")


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


class SnapshotFileError(ValueError):
    """A snapshot file name the HTTP routes refuse (each simulator answers it as its own 400)."""


def snapshot_file(directory: str | os.PathLike[str], name: str) -> Path:
    """`name` inside the snapshot directory, or SnapshotFileError. The routes take a file name
    relative to the directory; an absolute path, `..`, or a symlink that leads out is refused,
    so a caller of the admin API cannot read or overwrite any other file on the machine."""
    if not name or "\0" in name:
        raise SnapshotFileError("the snapshot name is empty or holds a NUL character")
    if os.path.isabs(name) or Path(name).is_absolute() or name.startswith(("/", "\\")):
        raise SnapshotFileError(f"snapshot {name!r}: give a file name inside the snapshot directory, "
                                "not an absolute path")
    root = Path(directory).resolve()
    target = (root / name).resolve()  # resolves `..` and every symlink on the way
    if target == root or root not in target.parents:
        raise SnapshotFileError(f"snapshot {name!r} lies outside the snapshot directory")
    return target


def snapshot_dir_ready(directory: str | os.PathLike[str]) -> None:
    """Create the snapshot directory on first save (owner-only: snapshots hold the simulator's state)."""
    Path(directory).mkdir(mode=0o700, parents=True, exist_ok=True)


class FaultSpec(AdminBody):
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


def admin_router(backend: SimBackend, guard: Callable[..., Any] | None = None) -> RouteGroup:
    """Health answers anyone; with a `guard` dependency, every other admin route needs it."""
    strict = Depends(known_query_only)  # after the guard: a caller without credentials learns nothing
    public = RouteGroup(prefix="/_sim", tags=["simulator admin"], dependencies=[strict])
    r = RouteGroup(prefix="/_sim", tags=["simulator admin"],
                  dependencies=[Depends(guard), strict] if guard else [strict])

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

    @r.post("/clock/restart", response_model=ClockState,
            summary="Put the clock back where it began, or begin it again at `at`; reset next",
            description="The one way back in time: what a test suite does before each reset, so every test "
                        "starts at the same instant (send `{}` to go back to where the clock began). "
                        "Timers already set keep their due times, so reset the "
                        "simulator next. Under `bpsn up` both simulators share one clock.")
    async def restart_clock(body: ClockRestart) -> ClockState:
        backend.clock.restart(body.at, frozen=body.frozen)
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

    combined = RouteGroup()
    combined.include(public)
    combined.include(r)
    return combined
