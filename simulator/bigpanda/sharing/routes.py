"""Share retrieval and callbacks for the ServiceNow integration: our design.

BigPanda does not publish these contracts (the v3 app's script includes are private), so
the shapes here are our choice, stated in the OpenAPI description and README.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Depends, Query, Request
from pydantic import BaseModel, Field

from bpsn.simulator.bigpanda import permissions as perm
from bpsn.simulator.bigpanda.auth import app_key_of, principal
from bpsn.simulator.bigpanda.backend import BigPandaBackend, Principal
from bpsn.simulator.bigpanda.errors import doc
from bpsn.simulator.common.bodies import StrictBody
from bpsn.simulator.common.route_group import RouteGroup

CHOICE = ("Our design: BigPanda publishes no contract for this endpoint. Authenticate with the "
          "user API key (or the org token) as a Bearer token and send the incidents app key in "
          "`x-bp-app-key` or `?app_key=`.")


class Share(BaseModel):
    share_id: str
    sequence: int
    incident_id: str
    environment_id: str
    environment_name: str
    target: str
    trigger: str = Field(description="The latest change that caused this share, e.g. incident#new")
    triggers: list[str] = Field(description="Every change coalesced into this share, oldest first")
    delivery: int = Field(description="1 on first delivery; more on redelivery after a lease ran out")
    lease_expires_at: float | None = Field(description="Epoch seconds: without a callback by then, "
                                                       "the share is delivered again")
    incident: dict[str, Any] = Field(description="The incident now, with its alerts expanded")


class ShareBatch(BaseModel):
    shares: list[Share]
    has_more: bool = Field(description="More shares are waiting: poll again at once")


class TicketRef(StrictBody):
    number: str = Field(max_length=40, examples=["INC0010001"])
    sys_id: str = Field(max_length=64)
    url: str = Field(max_length=2000)


class CallbackResult(StrictBody):
    share_id: str = Field(min_length=1, max_length=100)
    status: Literal["ok", "error"] = "ok"
    ticket: TicketRef | None = None
    error: str | None = Field(None, max_length=4000)


class CallbackRequest(StrictBody):
    results: list[CallbackResult] = Field(min_length=1, max_length=1000)


class CallbackOutcomeOut(BaseModel):
    acknowledged: list[str]
    failed: list[str] = Field(description="Errors reported: the share will be delivered again")
    unknown: list[str] = Field(description="Share ids not in flight (already acknowledged or never sent)")


def build_sharing_router() -> RouteGroup:
    r = RouteGroup(prefix="/integrations/v3/servicenow", tags=["ServiceNow sharing (our design)"])
    errors = {403: doc(403, "Wrong incidents app key")}

    @r.get("/shares", response_model=ShareBatch, responses=errors, summary="Retrieve pending shares",
           description=CHOICE + " Returns up to `limit` shares, oldest first, and leases them.")
    async def retrieve(request: Request, limit: int | None = Query(None, ge=1, le=1000),
                       target: str = Query("servicenow", max_length=100),
                       who: Principal = Depends(principal)) -> ShareBatch:
        backend: BigPandaBackend = request.app.state.backend
        backend.require_app_key(who, app_key_of(request), "incidents")
        backend.permit(who, perm.AUTOSHARE, "Share retrieval")
        n = min(limit or backend.settings.retrieval_default_limit, backend.settings.retrieval_max_limit)
        shares, more = backend.retrieve_shares(who.org, target, n)
        return ShareBatch(shares=[Share(**s) for s in shares], has_more=more)

    @r.post("/callbacks", response_model=CallbackOutcomeOut, responses=errors,
            summary="Acknowledge shares with their tickets, or report errors",
            description=CHOICE + " The ticket number then shows on the BigPanda incident.")
    async def callbacks(request: Request, body: CallbackRequest,
                        who: Principal = Depends(principal)) -> CallbackOutcomeOut:
        backend: BigPandaBackend = request.app.state.backend
        backend.require_app_key(who, app_key_of(request), "incidents")
        backend.permit(who, perm.AUTOSHARE, "Share callbacks")
        outcome = backend.callback(who.org, [x.model_dump() for x in body.results])
        return CallbackOutcomeOut(acknowledged=outcome.acknowledged, failed=outcome.failed,
                                  unknown=outcome.unknown)

    return r
