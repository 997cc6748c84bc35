"""POST /data/v2/alerts: one alert, or {"app_key", "alerts": [...]}, with the org token."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Body, Depends, Request, Response
from pydantic import BaseModel

from bpsn.simulator.bigpanda.auth import app_key_of, principal
from bpsn.simulator.bigpanda.backend import BigPandaBackend, Principal
from bpsn.simulator.bigpanda.errors import doc
from bpsn.simulator.bigpanda.organization import IngestResult
from bpsn.simulator.common.route_group import RouteGroup

from .normalize import BODY_SCHEMA


class AcceptedAlert(BaseModel):
    id: str
    incident_id: str
    created: bool


class AlertsAccepted(BaseModel):
    status: str = "created"
    alerts: list[AcceptedAlert]


def accepted_reply(results: list[IngestResult]) -> bytes:
    """AlertsAccepted as JSON, byte for byte what JSONResponse renders of it, at a tenth of the cost
    of a model per alert and json.dumps (issue #19). The ids are the simulator's hex object ids,
    written as they are. One check of the whole text instead of one per id: once the printable
    ASCII characters that JSON never escapes are taken out, only the quotes we wrote may be left.
    Any other id (a snapshot may hold one) goes through json.dumps for its escaping."""
    data = ('{"status":"created","alerts":[' + ",".join([
        f'{{"id":"{r.alert_id}","incident_id":"{r.incident_id}","created":{"true" if r.created else "false"}}}'
        for r in results]) + "]}").encode()
    left = data.translate(None, _NEVER_ESCAPED)
    if len(left) == _QUOTES_PER_REPLY + _QUOTES_PER_ALERT * len(results) and left.count(b'"') == len(left):
        return data
    return json.dumps({"status": "created", "alerts": [
        {"id": x.alert_id, "incident_id": x.incident_id, "created": x.created} for x in results]},
        ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode()


_NEVER_ESCAPED = bytes(c for c in range(0x20, 0x7F) if c not in b'"\\')  # printable ASCII but " and \
_QUOTES_PER_REPLY = 6  # "status":"created","alerts"
_QUOTES_PER_ALERT = 10  # "id":"…","incident_id":"…","created"


EXAMPLE = {"app_key": "demo-alerts-app-key", "status": "critical", "host": "web-prod-01",
           "check": "CPU load", "description": "CPU above 95% for 5 minutes", "cluster": "web"}


def build_alerts_router() -> RouteGroup:
    r = RouteGroup(tags=["Alerts API"])

    @r.post("/data/v2/alerts", status_code=201, response_model=AlertsAccepted,
            responses={204: {"description": "Exact duplicate: nothing changed"},
                       403: doc(403, "A user API key was sent; this API takes the org token")},
            summary="Send one alert or a batch (org token)",
            description="The success body is our choice (BigPanda does not publish one): the ids of the "
                        "alerts and of the incidents they joined, so a test can follow an alert.")
    async def send_alerts(request: Request, body: Any = Body(..., examples=[EXAMPLE],  # one alert, or {"alerts": [...]}
                                                     json_schema_extra=BODY_SCHEMA),
                          who: Principal = Depends(principal)) -> Response:
        backend: BigPandaBackend = request.app.state.backend
        backend.require(who, "org", "The alerts API")
        results = backend.ingest(who, body, app_key_override=app_key_of(request))
        if not any(r.changed for r in results):
            return Response(status_code=204)
        return Response(accepted_reply(results), status_code=201, media_type="application/json")

    return r
