"""ServiceNow-specific admin routes under /_sim: wait for a record, snapshots."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from bpsn.simulator.common.admin import Done
from bpsn.simulator.servicenow.backend import ServiceNowBackend
from bpsn.simulator.servicenow.errors import ErrorEnvelope
from bpsn.simulator.servicenow.security.auth import admin_caller


class WaitResult(BaseModel):
    matched: bool = Field(description="False when the timeout ran out first")
    waited_ms: float
    result: list[dict[str, Any]]


class FixturesIn(BaseModel):
    tables: dict[str, list[dict[str, Any]]] = Field(
        description="Records to insert as the system user, per table; all checked before any is written",
        examples=[{"sys_user_group": [{"name": "Payments On-Call"}]}])


class FixturesLoaded(BaseModel):
    inserted: int


class SnapshotRequest(BaseModel):
    path: str = Field(min_length=1, max_length=4096, description="A file on the simulator's machine")


def build_admin_router() -> APIRouter:
    r = APIRouter(prefix="/_sim", tags=["simulator admin"], dependencies=[Depends(admin_caller)],
                  responses={403: {"model": ErrorEnvelope, "description": "Not an admin"}})

    @r.get("/wait", response_model=WaitResult,
           responses={400: {"model": ErrorEnvelope, "description": "Invalid table or query"}},
           summary="Long-poll until a record matching an encoded query exists, or time out")
    async def wait(request: Request, table: str = Query(max_length=80, pattern=r"^[A-Za-z0-9_]+$"),
                   sysparm_query: str = Query("", max_length=32_000),
                   timeout: float = Query(10.0, ge=0, le=120.0)) -> WaitResult:
        b: ServiceNowBackend = request.app.state.backend
        b.check_table(table)
        started = time.monotonic()

        def check() -> list[dict[str, Any]] | None:
            rows, _ = b.query(table, sysparm_query, limit=100, offset=0, count=False)
            return [b.render(table, row) for row in rows] or None

        found = await b.notifier.wait_for(check, timeout)
        return WaitResult(matched=found is not None, waited_ms=round((time.monotonic() - started) * 1000, 3),
                          result=found or [])

    @r.post("/fixtures", response_model=FixturesLoaded, status_code=201,
            responses={400: {"model": ErrorEnvelope, "description": "Unknown table or malformed records"},
                       403: {"model": ErrorEnvelope, "description": "A record refused by a business rule"}},
            summary="Load seed fixtures (the body of a YAML or JSON fixture file)")
    async def fixtures(request: Request, body: FixturesIn) -> FixturesLoaded:
        return FixturesLoaded(inserted=request.app.state.backend.load_fixtures(body.model_dump()))

    @r.post("/snapshot/save", response_model=Done, summary="Write the whole instance to a SQLite file")
    async def save(request: Request, body: SnapshotRequest) -> Done:
        request.app.state.backend.save_snapshot(body.path)
        return Done()

    @r.post("/snapshot/load", response_model=Done,
            responses={400: {"model": ErrorEnvelope, "description": "No such snapshot file"}},
            summary="Replace the whole instance with a snapshot file")
    async def load(request: Request, body: SnapshotRequest) -> Done:
        import os

        from bpsn.simulator.servicenow.errors import bad_request
        if not os.path.isfile(body.path):
            raise bad_request("No such snapshot", body.path)
        request.app.state.backend.load_snapshot(body.path)
        return Done()

    return r
