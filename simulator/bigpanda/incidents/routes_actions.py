"""Incidents API V2 (user API key): search, resolve, comments, snooze, assignment, merge,
split, incident tags, activities; and V1 resolve (org token)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from bpsn.simulator.bigpanda import permissions as perm
from bpsn.simulator.bigpanda.auth import principal
from bpsn.simulator.bigpanda.backend import BigPandaBackend, Principal
from bpsn.simulator.bigpanda.bpql import BpqlError, parse
from bpsn.simulator.bigpanda.errors import bad_request, doc, not_found
from bpsn.simulator.bigpanda.incidents import actions as act
from bpsn.simulator.common.bodies import StrictBody
from bpsn.simulator.common.route_group import RouteGroup

from .render import incident_v1, incident_v2
from .search import search

BASE = "/resources/v2.0/environments/{environment_id}/incidents"
ACCEPTED = {"status": 202, "data": {}}
SortBy = Literal["last_change", "status", "start", "alerts"]
Folder = Literal["active", "shared", "snoozed", "resolved", "unhandled", "maintenance"]


def _id(description: str = "") -> Any:
    return Path(min_length=1, max_length=100, description=description)


class SearchResult(BaseModel):
    total: int
    items: list[dict[str, Any]]


class ResolveIn(StrictBody):
    comments: str = Field(min_length=1, max_length=10_000)


class CommentIn(StrictBody):
    comment: str = Field(min_length=1, max_length=10_000)


class SnoozeIn(StrictBody):
    end_time: int = Field(ge=0, description="Epoch seconds; less than 90 days ahead")
    comment: str = Field("", max_length=10_000)
    cancel_on_incident_updates: bool = False


class AssignIn(StrictBody):
    assignee: str = Field(min_length=1, max_length=200)


class MergeIn(StrictBody):
    source_incidents: list[str] = Field(min_length=1, max_length=300)
    comment: str = Field("", max_length=10_000)


class SplitIn(StrictBody):
    alerts: list[str] = Field(min_length=1, max_length=300)
    comment: str = Field("", max_length=10_000)


class TagValueIn(StrictBody):
    tag_value: str | list[str]


class TagSetIn(StrictBody):
    tag_id: str = Field(min_length=1, max_length=100)
    tag_value: str | list[str]


class V1Update(StrictBody):
    # The route's rule, in the document: resolve (resolved: true), comment, or both.
    model_config = ConfigDict(strict=True, json_schema_extra={"anyOf": [
        {"required": ["resolved"], "properties": {"resolved": {"const": True}}},
        {"required": ["comments"], "properties": {"comments": {"type": "string", "minLength": 1}}}]})

    resolved: bool | None = None
    comments: str | None = Field(None, max_length=10_000)


class Accepted(BaseModel):
    status: int = 202
    data: dict[str, Any] = {}


def _tag(org: Any, incident: Any, tag_id: str) -> dict[str, Any]:
    by, when = incident.tag_meta.get(tag_id, ("", 0.0))
    definition = org.tag_definitions.get(tag_id)
    return {"tag_id": tag_id, "incident_id": incident.id, "tag_value": incident.incident_tags[tag_id],
            "name": definition.name if definition else tag_id, "email": by, "timestamp": int(when)}


def build_incident_actions_router() -> RouteGroup:
    r = RouteGroup(tags=["Incidents API"])
    std = {403: doc(403, "Wrong kind of token"), 404: doc(404, "No such environment or incident")}

    def ctx(request: Request, who: Principal, environment_id: str, incident_id: str | None = None,
            permission: str | None = perm.INCIDENT_ACTIONS) -> Any:
        b: BigPandaBackend = request.app.state.backend
        b.require(who, "user", "Incidents V2", permission=permission)
        b.environment(who.org, environment_id)
        inc = b.incident(who.org, incident_id, environment_id) if incident_id else None
        return b, inc, b.clock.now()

    @r.get(BASE, response_model=SearchResult, responses={**std},
           summary="Search incidents with BPQL, a time window, a folder, sorting and pages")
    async def search_incidents(request: Request, environment_id: str = _id(),
                               query: str = Query("*", max_length=2000), folder: Folder | None = None,
                               start: int | None = Query(None, alias="from", ge=0),
                               end: int | None = Query(None, alias="to", ge=0),
                               sort_by: SortBy = "last_change",
                               page: int = Query(1, ge=1, le=10_000), page_size: int = Query(10, ge=1, le=100),
                               expand: Literal["alerts"] | None = None,
                               who: Principal = Depends(principal)) -> SearchResult:
        b, _, _ = ctx(request, who, environment_id, permission=None)  # a read, not an action
        if expand == "alerts" and page_size > 10:
            raise bad_request("expand=alerts takes page_size 10 or less")
        try:
            node = parse(query)
        except BpqlError as exc:
            raise bad_request(str(exc)) from None
        env = b.environment(who.org, environment_id)
        pool = (i for i in who.org.incidents.values() if env.id in i.environments)
        found = search(who.org, pool, node, folder=folder, start=start, end=end, sort_by=sort_by)
        window = found[(page - 1) * page_size: page * page_size]
        return SearchResult(total=len(found), items=[incident_v2(who.org, i, expand_alerts=expand == "alerts")
                                                     for i in window])

    @r.post(BASE + "/{incident_id}/resolve", status_code=202, response_model=Accepted,
            responses={**std, 409: doc(409, "Already resolved")}, summary="Resolve an incident")
    async def resolve(request: Request, body: ResolveIn, environment_id: str = _id(), incident_id: str = _id(),
                      who: Principal = Depends(principal)) -> JSONResponse:
        b, inc, now = ctx(request, who, environment_id, incident_id)
        act.resolve(who.org, inc, body.comments, who.email, now, via="v2")
        b.notifier.notify()
        return JSONResponse(ACCEPTED, status_code=202)

    @r.post(BASE + "/{incident_id}/comments", status_code=204, responses=std, summary="Comment on an incident")
    async def comment(request: Request, body: CommentIn, environment_id: str = _id(), incident_id: str = _id(),
                      who: Principal = Depends(principal)) -> Response:
        b, inc, now = ctx(request, who, environment_id, incident_id)
        act.comment(who.org, inc, body.comment, who.email, now)
        return Response(status_code=204)

    @r.put(BASE + "/{incident_id}/snooze", status_code=204, responses=std, summary="Snooze until end_time")
    async def snooze(request: Request, body: SnoozeIn, environment_id: str = _id(), incident_id: str = _id(),
                     who: Principal = Depends(principal)) -> Response:
        b, inc, now = ctx(request, who, environment_id, incident_id)
        act.snooze(who.org, inc, body.end_time, body.comment, body.cancel_on_incident_updates, who.email, now)
        b.notifier.notify()
        return Response(status_code=204)

    @r.delete(BASE + "/{incident_id}/snooze", status_code=204, responses=std, summary="Unsnooze")
    async def unsnooze(request: Request, environment_id: str = _id(), incident_id: str = _id(),
                       who: Principal = Depends(principal)) -> Response:
        b, inc, now = ctx(request, who, environment_id, incident_id)
        if inc.snooze.snoozed:
            who.org.end_snooze(inc, now, "api")
            b.notifier.notify()
        return Response(status_code=204)

    @r.put(BASE + "/{incident_id}/assignment", status_code=204, responses=std, summary="Assign to a user")
    async def assign(request: Request, body: AssignIn, environment_id: str = _id(), incident_id: str = _id(),
                     who: Principal = Depends(principal)) -> Response:
        b, inc, now = ctx(request, who, environment_id, incident_id)
        act.assign(who.org, inc, body.assignee, who.email, now)
        return Response(status_code=204)

    @r.delete(BASE + "/{incident_id}/assignment", status_code=204, responses=std, summary="Unassign")
    async def unassign(request: Request, environment_id: str = _id(), incident_id: str = _id(),
                       who: Principal = Depends(principal)) -> Response:
        b, inc, now = ctx(request, who, environment_id, incident_id)
        act.assign(who.org, inc, None, who.email, now)
        return Response(status_code=204)

    @r.post(BASE + "/{incident_id}/merge", status_code=202, response_model=Accepted,
            responses={**std, 409: doc(409, "A source was already merged")},
            summary="Merge incidents into this one (at most 300 alerts)")
    async def merge(request: Request, body: MergeIn, environment_id: str = _id(), incident_id: str = _id(),
                    who: Principal = Depends(principal)) -> JSONResponse:
        b, inc, now = ctx(request, who, environment_id, incident_id)
        act.merge(who.org, inc, body.source_incidents, body.comment, who.email, now)
        b.notifier.notify()
        return JSONResponse(ACCEPTED, status_code=202)

    @r.post(BASE + "/{incident_id}/split", status_code=202, response_model=Accepted, responses=std,
            summary="Move alerts into a new incident")
    async def split(request: Request, body: SplitIn, environment_id: str = _id(), incident_id: str = _id(),
                    who: Principal = Depends(principal)) -> JSONResponse:
        b, inc, now = ctx(request, who, environment_id, incident_id)
        act.split(who.org, inc, body.alerts, body.comment, who.email, now)
        b.notifier.notify()
        return JSONResponse(ACCEPTED, status_code=202)

    @r.get(BASE + "/{incident_id}/tags", response_model=list[dict[str, Any]], responses=std,
           summary="The incident's tags")
    async def list_tags(request: Request, environment_id: str = _id(), incident_id: str = _id(),
                        who: Principal = Depends(principal)) -> list[dict[str, Any]]:
        _, inc, _ = ctx(request, who, environment_id, incident_id)
        return [_tag(who.org, inc, t) for t in inc.incident_tags]

    @r.post(BASE + "/{incident_id}/tags", status_code=204, responses=std, summary="Set several tags")
    async def set_tags(request: Request, body: list[TagSetIn], environment_id: str = _id(),
                       incident_id: str = _id(), who: Principal = Depends(principal)) -> Response:
        b, inc, now = ctx(request, who, environment_id, incident_id)
        for item in body:  # validate all before changing any
            if item.tag_id not in who.org.tag_definitions:
                raise bad_request(f"tag_id {item.tag_id} is not a tag definition of this organization")
        for item in body:
            act.set_tag(who.org, inc, item.tag_id, item.tag_value, who.email, now)
        b.notifier.notify()
        return Response(status_code=204)

    @r.get(BASE + "/{incident_id}/tags/{tag_id}", response_model=dict[str, Any], responses=std,
           summary="One tag of the incident")
    async def get_tag(request: Request, environment_id: str = _id(), incident_id: str = _id(),
                      tag_id: str = _id(), who: Principal = Depends(principal)) -> dict[str, Any]:
        _, inc, _ = ctx(request, who, environment_id, incident_id)
        if tag_id not in inc.incident_tags:
            raise not_found(f"Tag {tag_id} on incident {incident_id}")
        return _tag(who.org, inc, tag_id)

    @r.post(BASE + "/{incident_id}/tags/{tag_id}", status_code=204, responses=std, summary="Set one tag")
    async def set_tag(request: Request, body: TagValueIn, environment_id: str = _id(), incident_id: str = _id(),
                      tag_id: str = _id(), who: Principal = Depends(principal)) -> Response:
        b, inc, now = ctx(request, who, environment_id, incident_id)
        act.set_tag(who.org, inc, tag_id, body.tag_value, who.email, now)
        b.notifier.notify()
        return Response(status_code=204)

    @r.delete(BASE + "/{incident_id}/tags/{tag_id}", status_code=204, responses=std, summary="Remove one tag")
    async def delete_tag(request: Request, environment_id: str = _id(), incident_id: str = _id(),
                         tag_id: str = _id(), who: Principal = Depends(principal)) -> Response:
        b, inc, now = ctx(request, who, environment_id, incident_id)
        act.remove_tag(who.org, inc, tag_id, who.email, now)
        b.notifier.notify()
        return Response(status_code=204)

    @r.get("/resources/v2.0/incidents/{incident_id}/activities", response_model=dict[str, Any], responses=std,
           summary="The incident's activity feed, newest first")
    async def activities(request: Request, incident_id: str = _id(), page: int = Query(1, ge=1, le=10_000),
                         per_page: int = Query(20, ge=1, le=100), types: str | None = Query(None, max_length=2000),
                         who: Principal = Depends(principal)) -> dict[str, Any]:
        b: BigPandaBackend = request.app.state.backend
        b.require(who, "user", "Incidents V2")
        inc = b.incident(who.org, incident_id)
        wanted = {t.strip() for t in types.split(",")} if types else None
        items = [a for a in reversed(inc.activities) if wanted is None or a.type in wanted]
        window = items[(page - 1) * per_page: page * per_page]
        return {"total": len(items), "page": page, "per_page": per_page, "activities": [
            {"id": a.id, "type": a.type, "timestamp": int(a.timestamp), "created_by": a.created_by,
             "params": a.params} for a in window]}

    @r.post("/resources/v1.0/incidents/{incident_id}", response_model=dict[str, Any],
            responses={**std, 409: doc(409, "Already resolved")},
            summary="V1: resolve and/or comment (org token)")
    async def update_v1(request: Request, body: V1Update, incident_id: str = _id(),
                        who: Principal = Depends(principal)) -> dict[str, Any]:
        b: BigPandaBackend = request.app.state.backend
        b.require(who, "org", "Incidents V1")
        inc = b.incident(who.org, incident_id)
        now = b.clock.now()
        if body.resolved:
            act.resolve(who.org, inc, body.comments or "", "api", now, via="v1")
        elif body.comments:
            act.comment(who.org, inc, body.comments, "api", now)
        else:
            raise bad_request("send resolved: true, comments, or both")
        b.notifier.notify()
        return incident_v1(who.org, inc)

    return r
