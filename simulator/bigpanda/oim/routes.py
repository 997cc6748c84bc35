"""Open Integration Manager: configuration (`/configurations/alerts/oim/{app_key}`) and alerts
(`/oim/api/alerts`), both with the org token (Bearer, `?access_token=` or `x-auth-token`)."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Path, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from bpsn.simulator.bigpanda.alerts.routes import AcceptedAlert, AlertsAccepted
from bpsn.simulator.bigpanda.auth import app_key_of, principal
from bpsn.simulator.bigpanda.backend import BigPandaBackend, Principal
from bpsn.simulator.bigpanda.errors import bad_request, doc
from bpsn.simulator.common.bodies import StrictBody
from bpsn.simulator.common.route_group import RouteGroup

from .bodies import check_content_length, inline_schema, json_body, read_json, validate
from .config import OimConfigBody, OimConfigOut
from .ingest import ingest, require_oim_integration

SAMPLE = {"alert": {"status": "firing", "labels": {"instance": "web-01:9100", "host": "", "alertname": "HighCPU",
                                                    "severity": "page", "env": "prod"},
                    "annotations": {"summary": "CPU above 95%"}, "startsAt": "2026-01-01T00:00:00Z"}}
CONFIG_EXAMPLE = {
    "config": {
        "primary_property": [{"name": "host"}], "secondary_property": [{"name": "check"}],
        "additional_attributes": [
            {"name": "host", "source": ["@alert.labels.instance", "@alert.labels.host"]},
            {"name": "check", "source": ["@alert.labels.alertname"]},
            {"name": "environment", "source": ["@alert.labels.env"], "default": "unknown"},
            {"name": "description", "source": ["@alert.annotations.summary"]}],
        "status": {"source": ["@alert.labels.severity", "@alert.status"], "default_to": "critical",
                   "status_map": {"critical": ["page", "critical"], "warning": ["warn", "warning"],
                                  "acknowledged": [], "ok": ["resolved"], "unknown": []}},
        "timestamp": {"source": ["@alert.startsAt"]}, "bp_timestamp": {"is_selected": False},
        "event_filter": 'environment = "dev"', "incident_identifier": ["host", "check"], "version": "2.0"},
    "sample_payload": SAMPLE,
}
LIMIT_413 = doc(413, "The body is larger than 6 MB; refused before it is read")
CONFIG_RULES = """
Create or update the configuration of an OIM integration; answers 200 with what is stored.
Validation (documented): tag names start with a letter a-z, are at most 64 characters of
a-z 0-9 _ -, without spaces; a primary property is required; `sample_payload` is required
on create and must be included, but may be blank, on update (then the stored sample is
used) or on create when the Sample Payload object already holds one; every payload field
the configuration references must be in the sample. Each problem is named in the 400.

Our choices: source paths are `@` plus a dotted path from the event's root (digits index
lists), e.g. `@alert.labels.instance`; `primary_property`/`secondary_property` take the v2
form `[{"name": tag}]` (the first tag with a value wins) or the v1 form
`{"source": [...], "name"?: tag}` (default names `host` and `check`); the tags `status`,
`timestamp`, `app_key`, `alerts`, `primary_property`, `secondary_property` and
`incident_identifier` are reserved; `event_filter` is BPQL with `=`, `!=`, `AND`, `OR` and
parentheses; `config.timestamp.format` is epoch_seconds, epoch_millis, iso8601 or a
strftime pattern, and the sample's timestamp values must be readable with it; with the
ten-minute wait switched on (`/_sim/organizations/{name}/oim`), a POST within ten minutes
of the integration's creation gets 404. Only the org's OIM app key or an integration whose source system starts with
`oim.` can be configured (403 otherwise). The 6 MB limit applies (413).
"""
ALERTS_RULES = """
One event, `{"app_key", "alerts": [...]}`, an array of events, or (with `is_array`) the
payload whose `array_source` holds the events. The app key comes from the body, the
`x-app-key` or `app_key` header, or `?app_key=`. Each event goes through the stored
configuration, then through the same normalisation and correlation as `/data/v2/alerts`.

Our choices: 201 with the ids of the alerts and incidents; 204 when nothing changed (every
event was an exact duplicate or dropped by `event_filter`); 404 when the app key is not an
OIM integration or has no configuration; 400 naming the event that has no primary property
(the whole batch is then refused); bodies over 6 MB get 413 before they are read.
"""


SAMPLE_PATH = "/configurations/alerts/oim/{app_key}/sample_payload"
SAMPLE_RULES = """
The Sample Payload object on its own: BigPanda validates configuration fields against it.
Replacing it re-checks the stored configuration: a payload field the configuration
references that the new sample lacks is refused (400 naming the field) and nothing changes.
A configuration created afterwards may then send `sample_payload` blank to use it.
Our choice: the path (BigPanda names the object, with GET and POST, not its URL).
"""


class SampleIn(StrictBody):
    model_config = ConfigDict(strict=True, extra="forbid")
    sample_payload: dict[str, Any] = Field(description="A sample event, as the tool sends it")


class SampleOut(BaseModel):
    sample_payload: dict[str, Any]


def _app_key() -> Any:
    return Path(min_length=1, max_length=200, description="The OIM integration's app key")


def build_oim_router() -> RouteGroup:
    r = RouteGroup(tags=["Open Integration Manager"])

    def oim_integration(request: Request, who: Principal, app_key: str) -> BigPandaBackend:
        backend: BigPandaBackend = request.app.state.backend
        backend.require(who, "org", "The OIM configuration API")
        require_oim_integration(who.org, app_key)
        return backend

    @r.post("/configurations/alerts/oim/{app_key}", response_model=OimConfigOut,
            summary="Create or update an OIM configuration (org token)", description=CONFIG_RULES,
            openapi_extra=json_body(inline_schema(OimConfigBody), CONFIG_EXAMPLE),
            responses={403: doc(403, "Not an org token, or the app key is not an OIM integration"),
                       413: LIMIT_413})
    async def put_oim_config(request: Request, _: None = Depends(check_content_length),
                             app_key: str = _app_key(), who: Principal = Depends(principal)) -> dict[str, Any]:
        backend = oim_integration(request, who, app_key)
        who.org.oim.require_settled(app_key, backend.clock.now())
        body = validate(OimConfigBody, await read_json(request))
        stored, _created = who.org.oim.put(app_key, body, backend.clock.now())
        return stored.echo()

    @r.get("/configurations/alerts/oim/{app_key}", response_model=OimConfigOut,
           summary="Read an OIM configuration (org token)",
           responses={403: doc(403, "Not an org token, or the app key is not an OIM integration"),
                      404: doc(404, "The integration has no configuration yet")})
    async def get_oim_config(request: Request, app_key: str = _app_key(),
                             who: Principal = Depends(principal)) -> dict[str, Any]:
        oim_integration(request, who, app_key)
        return who.org.oim.get(app_key).echo()

    @r.get(SAMPLE_PATH, response_model=SampleOut, summary="Read an OIM integration's sample payload (org token)",
           responses={403: doc(403, "Not an org token, or the app key is not an OIM integration"),
                      404: doc(404, "The integration has no sample payload yet")})
    async def get_oim_sample(request: Request, app_key: str = _app_key(),
                             who: Principal = Depends(principal)) -> dict[str, Any]:
        oim_integration(request, who, app_key)
        return {"sample_payload": who.org.oim.sample(app_key)}

    @r.post(SAMPLE_PATH, response_model=SampleOut, summary="Create or replace an OIM sample payload (org token)",
            description=SAMPLE_RULES, openapi_extra=json_body(inline_schema(SampleIn), {"sample_payload": SAMPLE}),
            responses={403: doc(403, "Not an org token, or the app key is not an OIM integration"),
                       404: doc(404, "Within the ten-minute wait after the integration was created (when on)"),
                       413: LIMIT_413})
    async def put_oim_sample(request: Request, _: None = Depends(check_content_length),
                             app_key: str = _app_key(), who: Principal = Depends(principal)) -> dict[str, Any]:
        backend = oim_integration(request, who, app_key)
        who.org.oim.require_settled(app_key, backend.clock.now())
        body = validate(SampleIn, await read_json(request))
        return {"sample_payload": who.org.oim.put_sample(app_key, body.sample_payload, backend.clock.now())}

    @r.post("/oim/api/alerts", status_code=201, response_model=AlertsAccepted,
            summary="Send OIM alerts through the integration's configuration (org token)",
            description=ALERTS_RULES,
            openapi_extra=json_body({"type": ["object", "array"]}, {"app_key": "demo-oim-app-key", **SAMPLE}),
            responses={204: {"description": "Nothing changed: duplicates, or every event was filtered out"},
                       403: doc(403, "A user API key was sent; OIM takes the org token"),
                       404: doc(404, "The app key is not an OIM integration, or it has no configuration"),
                       413: LIMIT_413})
    async def send_oim_alerts(request: Request, _: None = Depends(check_content_length),
                              who: Principal = Depends(principal)) -> Response:
        backend: BigPandaBackend = request.app.state.backend
        backend.require(who, "org", "The OIM alerts API")
        body = await read_json(request)
        app_key = (body.get("app_key") if isinstance(body, dict) else None) or app_key_of(request)
        if not isinstance(app_key, str) or not app_key:
            raise bad_request("app_key is required (body app_key, header x-app-key or app_key, or ?app_key=)")
        outcome = ingest(who.org, app_key, body, backend.clock.now())
        backend.notifier.notify()
        if not any(res.changed for res in outcome.results):
            return Response(status_code=204)
        out = AlertsAccepted(alerts=[AcceptedAlert(id=res.alert_id, incident_id=res.incident_id, created=res.created)
                                     for res in outcome.results])
        return JSONResponse(out.model_dump(), status_code=201)

    return r
