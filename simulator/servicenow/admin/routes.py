"""ServiceNow-specific admin routes under /_sim: wait for a record, fixtures, snapshots (state.py
does the work). Snapshot files are read and written only inside the snapshot directory
(`BPSN_SN_SNAPSHOT_DIR`, default `./snapshots`): the routes take a file name relative to it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi import Depends, Query, Request
from pydantic import BaseModel, Field

from bpsn.simulator.common.admin import Done, SnapshotFileError, SnapshotRequest, known_query_only, snapshot_file
from bpsn.simulator.common.bodies import AdminBody
from bpsn.simulator.common.route_group import RouteGroup
from bpsn.simulator.servicenow.backend import ServiceNowBackend
from bpsn.simulator.servicenow.errors import ErrorEnvelope, bad_request
from bpsn.simulator.servicenow.security.auth import admin_caller

from . import state


class WaitResult(BaseModel):
    matched: bool = Field(description="False when the timeout ran out first")
    waited_ms: float
    result: list[dict[str, Any]]


class FixturesIn(AdminBody):
    tables: dict[str, list[dict[str, Any]]] = Field(
        description="Records to insert as the system user, per table; a record refused anywhere in the "
                    "body leaves the instance as it was (all or nothing)",
        examples=[{"sys_user_group": [{"name": "Payments On-Call"}]}])


class FixturesLoaded(BaseModel):
    inserted: int


class OutboundFlushed(BaseModel):
    sent: int = Field(description="Notifications delivered (or tried) by this call")
    pending: bool = Field(description="Deliveries still waiting: retries due later on the simulator clock")



def _confined(backend: ServiceNowBackend, name: str) -> Path:
    try:
        return snapshot_file(backend.settings.snapshot_dir, name)
    except SnapshotFileError as exc:
        raise bad_request("Invalid snapshot name", str(exc)) from None


def build_admin_router() -> RouteGroup:
    r = RouteGroup(prefix="/_sim", tags=["simulator admin"],
                  dependencies=[Depends(admin_caller), Depends(known_query_only)],
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
            summary="Load seed fixtures (the body of a YAML or JSON fixture file), all or nothing")
    async def fixtures(request: Request, body: FixturesIn) -> FixturesLoaded:
        return FixturesLoaded(inserted=state.load_fixtures(request.app.state.backend, body.model_dump()))

    @r.post("/snapshot/save", response_model=Done,
            responses={400: {"model": ErrorEnvelope, "description": "A name outside the snapshot directory, "
                                                                    "or a file that cannot be written"}},
            summary="Write the whole instance to a SQLite file in the snapshot directory")
    async def save(request: Request, body: SnapshotRequest) -> Done:
        b: ServiceNowBackend = request.app.state.backend
        state.save_snapshot(b, _confined(b, body.path), b.settings.snapshot_dir)
        return Done()

    @r.post("/snapshot/load", response_model=Done,
            responses={400: {"model": ErrorEnvelope, "description": "No such snapshot file in the snapshot "
                                                                    "directory, or not a snapshot"}},
            summary="Replace the whole instance with a snapshot file from the snapshot directory")
    async def load(request: Request, body: SnapshotRequest) -> Done:
        b: ServiceNowBackend = request.app.state.backend
        state.load_snapshot(b, _confined(b, body.path))
        return Done()

    @r.post("/outbound/flush", response_model=OutboundFlushed,
            summary="Deliver the outbound change notifications due now, and wait for those in flight",
            description="What a test suite calls before it looks at what the notifications caused: "
                        "deliveries start at once by themselves; this makes their end observable.")
    async def outbound_flush(request: Request) -> OutboundFlushed:
        b: ServiceNowBackend = request.app.state.backend
        sent = await b.outbound.flush()
        return OutboundFlushed(sent=sent, pending=b.outbound.pending())

    return r
