"""Incidents API: V2 (user API key) and V1 (org token) reads."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Depends, Path, Query, Request

from bpsn.simulator.bigpanda.auth import principal
from bpsn.simulator.bigpanda.backend import BigPandaBackend, Principal
from bpsn.simulator.bigpanda.errors import doc
from bpsn.simulator.common.route_group import RouteGroup

from .render import incident_v1, incident_v2


def _id() -> Any:
    return Path(min_length=1, max_length=100)


def build_incidents_router() -> RouteGroup:
    r = RouteGroup(tags=["Incidents API"])
    not_found = {404: doc(404, "No such environment or incident"), 403: doc(403, "Wrong kind of token")}

    @r.get("/resources/v2.0/environments/{environment_id}/incidents/{incident_id}",
           response_model=dict[str, Any], responses=not_found, summary="Get an incident (V2, user API key)")
    async def get_incident_v2(request: Request, environment_id: str = _id(), incident_id: str = _id(),
                              expand: Literal["alerts"] | None = Query(None),
                              who: Principal = Depends(principal)) -> dict[str, Any]:
        backend: BigPandaBackend = request.app.state.backend
        backend.require(who, "user", "Incidents V2")
        incident = backend.incident(who.org, incident_id, environment_id)
        return incident_v2(who.org, incident, expand_alerts=expand == "alerts")

    @r.get("/resources/v1.0/incidents/{incident_id}", response_model=dict[str, Any], responses=not_found,
           summary="Get an incident (V1, org token)")
    async def get_incident_v1(request: Request, incident_id: str = _id(),
                              expand: Literal["alerts"] | None = Query(None),
                              who: Principal = Depends(principal)) -> dict[str, Any]:
        backend: BigPandaBackend = request.app.state.backend
        backend.require(who, "org", "Incidents V1")
        return incident_v1(who.org, backend.incident(who.org, incident_id), expand_alerts=expand == "alerts")

    return r
