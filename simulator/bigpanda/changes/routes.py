"""Changes API and Root Cause Changes (RCC), both with the user API key.

`POST /data/changes` also needs the changes app key in `x-bp-app-key`. Shapes BigPanda does
not publish (the search response, the cursor, the RCC object beyond FG's fields) are our
choice and say so in their descriptions.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from fastapi import Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from bpsn.simulator.bigpanda import permissions as perm
from bpsn.simulator.bigpanda.auth import app_key_of, principal
from bpsn.simulator.bigpanda.backend import BigPandaBackend, Principal
from bpsn.simulator.bigpanda.errors import doc
from bpsn.simulator.common.bodies import StrictBody
from bpsn.simulator.common.route_group import RouteGroup

from .relations import relate, update_relation

Status = Literal["Planned", "In Progress", "Done", "Canceled"]
Certainty = Literal["MATCH", "SUSPECT", "NONE"]
TagName = Annotated[str, StringConstraints(min_length=1, max_length=256)]
TagValue = Annotated[str, StringConstraints(max_length=4096)]
MAX_EPOCH_SECONDS = 10**11  # beyond this it is milliseconds


def _epoch_seconds(value: int | None) -> int | None:
    if value is not None and value >= MAX_EPOCH_SECONDS:
        raise ValueError(f"{value} looks like milliseconds; send epoch seconds")
    return value


class ChangeIn(StrictBody):
    identifier: str = Field(min_length=1, max_length=512, description="The upsert key, e.g. the CHG number",
                            examples=["CHG0030001"])
    status: Status
    summary: str = Field(min_length=1, max_length=4096)
    start: int = Field(ge=0, description="Epoch seconds")
    end: int | None = Field(None, ge=0, description="Epoch seconds; absent while the change is running")
    ticket_url: str | None = Field(None, max_length=2048)
    tags: dict[TagName, TagValue] | None = Field(None, max_length=200, description="Flat, string values")
    metadata: dict[str, Any] | None = Field(None, examples=[{"opened_by": "jane.doe"}])

    _seconds = field_validator("start", "end")(_epoch_seconds)


class ChangeOut(BaseModel):
    id: str
    identifier: str
    status: str
    summary: str
    start: int
    end: int | None
    ticket_url: str | None
    tags: dict[str, str]
    metadata: dict[str, Any]
    created_at: int
    updated_at: int


class ChangeList(BaseModel):
    changes: list[ChangeOut]
    total: int = Field(description="Changes matching the query, over all pages")


class RccIn(StrictBody):
    change_id: str = Field(min_length=1, max_length=100)
    incident_id: str = Field(min_length=1, max_length=100)
    match_certainty: Certainty
    comment: str = Field("", max_length=4096)


class RccUpdate(StrictBody):
    # The validator's rule, in the document: a certainty, a comment, or both.
    model_config = ConfigDict(strict=True, json_schema_extra={"anyOf": [
        {"required": ["match_certainty"], "properties": {"match_certainty": {"enum": list(get_args(Certainty))}}},
        {"required": ["comment"], "properties": {"comment": {"type": "string"}}}]})

    match_certainty: Certainty | None = None
    comment: str | None = Field(None, max_length=4096)

    @model_validator(mode="after")
    def _something(self) -> RccUpdate:
        if self.match_certainty is None and self.comment is None:
            raise ValueError("send match_certainty, comment, or both")
        return self


class RccOut(BaseModel):
    id: str
    change_id: str
    incident_id: str
    match_certainty: str
    comment: str
    created_at: int
    created_by: str
    updated_at: int
    updated_by: str
    change: ChangeOut | None = Field(description="The change itself, with include=change; else null")


class RelatedChanges(BaseModel):
    totalRelatedCount: int  # noqa: N815 - BigPanda's name
    relatedChanges: list[RccOut]  # noqa: N815


USER_ONLY = {403: doc(403, "Not a user API key (the org token is refused), or a wrong changes app key")}
LINK = {"Link": {"description": 'Present when there are more: `<url with cursor=...>; rel="next"`',
                 "schema": {"type": "string"}}}
CHANGE_EXAMPLE = {"identifier": "CHG0030001", "status": "In Progress", "summary": "Patch web tier",
                  "start": 1767225600, "ticket_url": "https://example.service-now.com/chg/CHG0030001",
                  "tags": {"service": "web", "change_type": "normal"}, "metadata": {"opened_by": "jane.doe"}}


def _backend(request: Request) -> BigPandaBackend:
    return request.app.state.backend


def build_changes_router() -> RouteGroup:
    r = RouteGroup(tags=["Changes API"])

    @r.post("/data/changes", status_code=204, response_class=Response, responses=USER_ONLY,
            summary="Create or update a change (user API key + x-bp-app-key)",
            description="Upserts by `identifier` and answers 204. Our choice where BigPanda is silent: on "
                        "update, optional fields left out keep their earlier values and `null` clears them; "
                        "`end` before `start` is refused.",
            openapi_extra={"requestBody": {"content": {"application/json": {"example": CHANGE_EXAMPLE}}}})
    async def upsert_change(request: Request, body: ChangeIn, who: Principal = Depends(principal)) -> Response:
        backend = _backend(request)
        backend.require(who, "user", "The changes API", permission=perm.ROOT_CAUSE_CHANGES)
        backend.require_app_key(who, app_key_of(request), "changes")
        fields = body.model_dump(include={"identifier", "status", "summary", "start"} | body.model_fields_set)
        who.org.changes.upsert(who.org.rng, fields, backend.clock.now())
        who.org.on_change()
        return Response(status_code=204)

    @r.get("/resources/v2.0/changes", response_model=ChangeList,
           responses={**USER_ONLY, 200: {"description": "A page of changes", "headers": LINK},
                      404: doc(404, "incident_id names no incident")},
           summary="Search changes in a time frame",
           description="Changes whose [start, end] overlaps [start_time_frame, end_time_frame] (a change "
                       "without `end` is still running). Our choice, as BigPanda publishes no response "
                       "shape: `{changes, total}` with full change objects (so `include=change` changes "
                       "nothing here); the cursor is opaque and comes in the `Link` header; default sort "
                       "is `-start` (newest first), ties by id; `incident_id` keeps changes related to "
                       "that incident by RCC and answers 404 for an unknown incident.")
    async def search_changes(request: Request, response: Response,
                             start_time_frame: float = Query(ge=0, description="Epoch seconds"),
                             end_time_frame: float = Query(ge=0, description="Epoch seconds"),
                             search: str | None = Query(None, max_length=512,
                                                        description="Substring of summary, identifier or a "
                                                                    "tag value, any case"),
                             limit: int = Query(200, ge=1, le=999),
                             cursor: str | None = Query(None, max_length=2048),
                             incident_id: str | None = Query(None, min_length=1, max_length=100),
                             sort: Literal["start", "-start"] = Query("-start"),
                             include: Literal["change"] | None = Query(None),
                             who: Principal = Depends(principal)) -> ChangeList:
        backend = _backend(request)
        backend.require(who, "user", "The changes API", permission=perm.ROOT_CAUSE_CHANGES)
        if incident_id is not None:
            backend.incident(who.org, incident_id)
        page = who.org.changes.search(frame_start=start_time_frame, frame_end=end_time_frame, search=search,
                                      incident_id=incident_id, sort=sort, limit=limit, cursor=cursor)
        if page.next_cursor:
            response.headers["Link"] = f'<{request.url.include_query_params(cursor=page.next_cursor)}>; rel="next"'
        return ChangeList(changes=[ChangeOut(**c.to_dict()) for c in page.changes], total=page.total)

    @r.get("/resources/v2.0/changes/{change_id}", response_model=ChangeOut,
           responses={**USER_ONLY, 404: doc(404, "No such change")}, summary="Get one change")
    async def get_change(request: Request, change_id: str = Path(min_length=1, max_length=100),
                         who: Principal = Depends(principal)) -> ChangeOut:
        _backend(request).require(who, "user", "The changes API", permission=perm.ROOT_CAUSE_CHANGES)
        return ChangeOut(**who.org.changes.get(change_id).to_dict())

    # --- RCC ---------------------------------------------------------------------------------------
    rcc_choice = ("Our choice beyond FG's fields: the relation carries its id, ids, audit fields, and "
                  "`change` (null unless `include=change`). Each create or update adds an "
                  "`incident_rcc_update` activity to the incident.")

    @r.post("/resources/v2.0/rcc", status_code=201, response_model=RccOut, tags=["RCC"],
            responses={**USER_ONLY, 404: doc(404, "No such change or incident"),
                       409: doc(409, "This change is already related to this incident")},
            summary="Relate a change to an incident", description=rcc_choice)
    async def create_rcc(request: Request, body: RccIn, who: Principal = Depends(principal)) -> RccOut:
        backend = _backend(request)
        backend.require(who, "user", "The RCC API", permission=perm.ROOT_CAUSE_CHANGES)
        rel = relate(who.org, change_id=body.change_id, incident_id=body.incident_id,
                     match_certainty=body.match_certainty, comment=body.comment, by=who.email,
                     now=backend.clock.now())
        return RccOut(**rel.to_dict())

    @r.get("/resources/v2.0/rcc", response_model=RelatedChanges, tags=["RCC"],
           responses={**USER_ONLY, 404: doc(404, "No such incident")},
           summary="Changes related to an incident", description=rcc_choice + " Oldest relation first.")
    async def list_rcc(request: Request, incident_id: str = Query(min_length=1, max_length=100),
                       include: Literal["change"] | None = Query(None),
                       who: Principal = Depends(principal)) -> RelatedChanges:
        backend = _backend(request)
        backend.require(who, "user", "The RCC API", permission=perm.ROOT_CAUSE_CHANGES)
        backend.incident(who.org, incident_id)
        store = who.org.changes
        related = [RccOut(**rel.to_dict(store.changes.get(rel.change_id) if include else None))
                   for rel in store.related_to(incident_id)]
        return RelatedChanges(totalRelatedCount=len(related), relatedChanges=related)

    @r.get("/resources/v2.0/rcc/{rcc_id}", response_model=RccOut, tags=["RCC"],
           responses={**USER_ONLY, 404: doc(404, "No such relation")}, summary="Get one relation",
           description=rcc_choice)
    async def get_rcc(request: Request, rcc_id: str = Path(min_length=1, max_length=100),
                      include: Literal["change"] | None = Query(None),
                      who: Principal = Depends(principal)) -> RccOut:
        _backend(request).require(who, "user", "The RCC API", permission=perm.ROOT_CAUSE_CHANGES)
        store = who.org.changes
        rel = store.relation(rcc_id)
        return RccOut(**rel.to_dict(store.changes.get(rel.change_id) if include else None))

    @r.put("/resources/v2.0/rcc/{rcc_id}", response_model=RccOut, tags=["RCC"],
           responses={**USER_ONLY, 404: doc(404, "No such relation")},
           summary="Update a relation's match certainty or comment",
           description=rcc_choice + " Fields left out keep their values; send at least one.")
    async def update_rcc(request: Request, body: RccUpdate, rcc_id: str = Path(min_length=1, max_length=100),
                         who: Principal = Depends(principal)) -> RccOut:
        backend = _backend(request)
        backend.require(who, "user", "The RCC API", permission=perm.ROOT_CAUSE_CHANGES)
        rel = update_relation(who.org, rcc_id, match_certainty=body.match_certainty, comment=body.comment,
                              by=who.email, now=backend.clock.now())
        return RccOut(**rel.to_dict())

    return r
