"""BigPanda-specific admin routes under /_sim: wait for a condition, the share queue, tenants."""

from __future__ import annotations

import time
from typing import Any, Literal

from fastapi import Depends, Path, Query, Request
from pydantic import BaseModel, Field

from bpsn.simulator.bigpanda.auth import admin_caller
from bpsn.simulator.bigpanda.backend import BigPandaBackend
from bpsn.simulator.bigpanda.errors import doc, not_found
from bpsn.simulator.bigpanda.incidents.render import incident_v2
from bpsn.simulator.bigpanda.rate_limit import RateLimitSettings
from bpsn.simulator.bigpanda.sharing.routes_push import build_push_router
from bpsn.simulator.common.admin import Done, known_query_only
from bpsn.simulator.common.bodies import AdminBody
from bpsn.simulator.common.route_group import RouteGroup

from .access import build_access_router
from .fixtures import build_fixtures_router
from .snapshot import build_snapshot_router

Condition = Literal["exists", "ticketed", "resolved", "active"]


class WaitResult(BaseModel):
    matched: bool = Field(description="False when the timeout ran out first")
    waited_ms: float
    incident: dict[str, Any] | None


class ShareView(BaseModel):
    share_id: str
    incident_id: str
    triggers: list[str]
    deliveries: int
    errors: list[str]


class RateLimitsIn(AdminBody):
    enabled: bool = True
    per_second: int = Field(5, ge=1, le=1_000_000, description="Per token, every API but ingestion")
    alerts_per_second: int = Field(5, ge=1, le=1_000_000, description="Per token, alerts and OIM ingestion")
    incidents_v1_per_minute: int = Field(150, ge=1, le=1_000_000)
    changes_per_minute: int = Field(400, ge=1, le=1_000_000)
    changes_per_week: int = Field(50_000, ge=1, le=100_000_000)


class ShareAgain(AdminBody):
    trigger: str = Field("incident#new", min_length=1, max_length=100, pattern=r"^[a-z_]+#[a-z_]+$",
                         description="The trigger the share carries, as BigPanda names it (incident#new, ...)")
    organization: str | None = Field(None, min_length=1, max_length=100)


class QueueView(BaseModel):
    pending: list[ShareView]
    leased: list[ShareView]
    dead_letters: list[ShareView]
    acknowledged: int


def build_admin_router() -> RouteGroup:
    # known_query_only also covers the routers included below (push, snapshots, fixtures)
    r = RouteGroup(prefix="/_sim", tags=["simulator admin"],
                  dependencies=[Depends(admin_caller), Depends(known_query_only)])

    @r.get("/wait", response_model=WaitResult, responses={404: doc(404, "No such organization")},
           summary="Long-poll until an incident (by id, or by one of its alerts) meets a condition")
    async def wait(request: Request, incident_id: str | None = Query(None, max_length=100),
                   alert_id: str | None = Query(None, max_length=100),
                   condition: Condition = "exists",
                   organization: str | None = Query(None, max_length=100),
                   timeout: float = Query(10.0, ge=0, le=120.0)) -> WaitResult:
        b: BigPandaBackend = request.app.state.backend
        org = b.org_named(organization or b.settings.organization)
        started = time.monotonic()

        def check() -> dict[str, Any] | None:
            inc = org.incidents.get(incident_id or "") if incident_id else (
                b.find_alert_incident(org, alert_id) if alert_id else None)
            if inc is None:
                return None
            ok = {"exists": True, "ticketed": bool(inc.tickets), "resolved": not inc.active,
                  "active": inc.active}[condition]
            return incident_v2(org, inc) if ok else None

        found = await b.notifier.wait_for(check, timeout)
        return WaitResult(matched=found is not None, incident=found,
                          waited_ms=round((time.monotonic() - started) * 1000, 3))

    @r.get("/shares", response_model=QueueView, responses={404: doc(404, "No such organization")},
           summary="The share queue: pending, leased, dead letters")
    async def shares(request: Request, organization: str | None = Query(None, max_length=100)) -> QueueView:
        b: BigPandaBackend = request.app.state.backend
        q = b.org_named(organization or b.settings.organization).shares

        def view(items: list[Any]) -> list[ShareView]:
            return [ShareView(share_id=s.id, incident_id=s.incident_id, triggers=s.triggers,
                              deliveries=s.deliveries, errors=s.errors) for s in items]

        return QueueView(pending=view(q.pending()), leased=view(q.leased()), dead_letters=view(q.dead_letters),
                         acknowledged=q.acknowledged)

    @r.get("/incidents/{incident_id}", response_model=dict[str, Any], responses={404: doc(404, "No such incident")},
           summary="One incident as the V2 API shows it, its alerts expanded, from any environment")
    async def incident(request: Request, incident_id: str = Path(max_length=100),
                       organization: str | None = Query(None, max_length=100)) -> dict[str, Any]:
        b: BigPandaBackend = request.app.state.backend
        org = b.org_named(organization or b.settings.organization)
        return incident_v2(org, b.incident(org, incident_id), expand_alerts=True)

    @r.get("/incidents/{incident_id}/share", response_model=dict[str, Any],
           responses={404: doc(404, "No such incident, or no share of it waiting")},
           summary="The share BigPanda would deliver next for the incident, rendered, without leasing it")
    async def pending_share(request: Request, incident_id: str = Path(max_length=100),
                            organization: str | None = Query(None, max_length=100)) -> dict[str, Any]:
        b: BigPandaBackend = request.app.state.backend
        org = b.org_named(organization or b.settings.organization)
        b.incident(org, incident_id)
        share = next((s for s in org.shares.pending() if s.incident_id == incident_id), None)
        if share is None:
            raise not_found(f"A pending share of incident {incident_id}")
        return b.render_share(org, share)

    @r.post("/incidents/{incident_id}/share", response_model=Done, responses={404: doc(404, "No such incident")},
            summary="Share an incident again to its environments' targets, as an incident change does")
    async def share_again(request: Request, body: ShareAgain, incident_id: str = Path(max_length=100)) -> Done:
        b: BigPandaBackend = request.app.state.backend
        org = b.org_named(body.organization or b.settings.organization)
        org.share(b.incident(org, incident_id), body.trigger, b.clock.now())
        b.notifier.notify()
        return Done()

    @r.get("/organizations/{name}/rate-limits", response_model=RateLimitsIn,
           responses={404: doc(404, "No such organization")}, summary="The organization's rate limits")
    async def get_rate_limits(request: Request, name: str = Path(max_length=100)) -> RateLimitsIn:
        org = request.app.state.backend.org_named(name)
        return RateLimitsIn(**vars(org.rate_limits))

    @r.put("/organizations/{name}/rate-limits", response_model=RateLimitsIn,
           responses={404: doc(404, "No such organization")},
           summary="Change or switch off the organization's rate limits")
    async def put_rate_limits(request: Request, body: RateLimitsIn, name: str = Path(max_length=100)) -> RateLimitsIn:
        org = request.app.state.backend.org_named(name)
        org.rate_limits = RateLimitSettings(**body.model_dump())
        return body

    @r.post("/organizations/{name}/reset", response_model=Done, responses={404: doc(404, "No such organization")},
            summary="Reset one organization, leaving the others as they are")
    async def reset_org(request: Request, name: str = Path(max_length=100)) -> Done:
        request.app.state.backend.reset(name)
        return Done()

    for extra in (build_push_router(), build_snapshot_router(), build_fixtures_router(), build_access_router()):
        r.include(extra)  # push mode and dead letters, snapshots, fixtures and correlation patterns,
        # roles and the OIM set-up
    return r
