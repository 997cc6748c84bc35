"""Environments (with their BPQL filter and autoshare) and incident tag definitions (user API key)."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Path, Request, Response
from pydantic import Field

from bpsn.simulator.bigpanda import permissions as perm
from bpsn.simulator.bigpanda.auth import principal
from bpsn.simulator.bigpanda.backend import BigPandaBackend, Principal
from bpsn.simulator.bigpanda.bpql import BpqlError, parse
from bpsn.simulator.bigpanda.errors import BpError, bad_request, doc, not_found
from bpsn.simulator.bigpanda.incidents import actions as act
from bpsn.simulator.bigpanda.models import Environment
from bpsn.simulator.common.bodies import StrictBody
from bpsn.simulator.common.route_group import RouteGroup


def _id() -> Any:
    return Path(min_length=1, max_length=100)


class EnvironmentIn(StrictBody):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=2000)
    filter: str = Field("", max_length=2000, description="BPQL; empty for every incident")
    autoshare_targets: list[str] = Field(default_factory=list, max_length=20,
                                         description="Our addition: share targets, e.g. servicenow")


class EnvironmentPatch(StrictBody):
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)
    filter: str | None = Field(None, max_length=2000)
    autoshare_targets: list[str] | None = Field(None, max_length=20)


class TagDefinitionIn(StrictBody):
    name: str = Field(min_length=1, max_length=20)
    type: act.TagType = "Text"
    description: str = Field("", max_length=2000)
    values: list[str] = Field(default_factory=list, max_length=200)


def _env_out(env: Environment) -> dict[str, Any]:
    return {"id": env.id, "name": env.name, "description": env.description, "filter": env.filter,
            "autoshare_targets": list(env.autoshare_targets), "roles": [], "read_only_roles": [],
            "environment_group_id": None, "created_at": int(env.created_at), "updated_at": int(env.updated_at)}


def _check_filter(text: str) -> None:
    try:
        parse(text)
    except BpqlError as exc:
        raise bad_request(f"filter: {exc}") from None


def build_environments_router() -> RouteGroup:
    r = RouteGroup(tags=["Environments and tag definitions"])
    std = {403: doc(403, "Wrong kind of token"), 404: doc(404, "No such environment")}

    def org_of(request: Request, who: Principal, permission: str | None = None) -> tuple[BigPandaBackend, Any]:
        b: BigPandaBackend = request.app.state.backend
        b.require(who, "user", "The environments API" if permission else "Incident tag definitions",
                  permission=permission)
        return b, who.org

    @r.get("/resources/v2.0/environments", response_model=list[dict[str, Any]], responses=std)
    async def list_envs(request: Request, who: Principal = Depends(principal)) -> list[dict[str, Any]]:
        _, org = org_of(request, who, perm.MANAGE_ENVIRONMENTS)
        return [_env_out(e) for e in org.environments.values()]

    @r.post("/resources/v2.0/environments", status_code=201, response_model=dict[str, Any],
            responses={**std, 409: doc(409, "Name taken")}, summary="Create an environment")
    async def create_env(request: Request, body: EnvironmentIn, who: Principal = Depends(principal)) -> dict[str, Any]:
        b, org = org_of(request, who, perm.MANAGE_ENVIRONMENTS)
        _check_filter(body.filter)
        if any(e.name == body.name for e in org.environments.values()):
            raise BpError(409, f"an environment named {body.name!r} already exists")
        now = b.clock.now()
        env = Environment(org.rng.object_id(), body.name, body.filter, list(body.autoshare_targets),
                          body.description, now, now)
        org.environments[env.id] = env
        return _env_out(env)

    @r.get("/resources/v2.0/environments/{environment_id}", response_model=dict[str, Any], responses=std)
    async def get_env(request: Request, environment_id: str = _id(),
                      who: Principal = Depends(principal)) -> dict[str, Any]:
        b, org = org_of(request, who, perm.MANAGE_ENVIRONMENTS)
        return _env_out(b.environment(org, environment_id))

    @r.patch("/resources/v2.0/environments/{environment_id}", response_model=dict[str, Any],
             responses={**std, 409: doc(409, "Name taken")})
    async def patch_env(request: Request, body: EnvironmentPatch, environment_id: str = _id(),
                        who: Principal = Depends(principal)) -> dict[str, Any]:
        b, org = org_of(request, who, perm.MANAGE_ENVIRONMENTS)
        env = b.environment(org, environment_id)
        if body.filter is not None:
            _check_filter(body.filter)
        if body.name is not None and any(e.name == body.name and e is not env for e in org.environments.values()):
            raise BpError(409, f"an environment named {body.name!r} already exists")
        for key, value in body.model_dump(exclude_none=True).items():
            setattr(env, key, value)
        env.updated_at = b.clock.now()
        return _env_out(env)

    @r.delete("/resources/v2.0/environments/{environment_id}", status_code=204, responses=std)
    async def delete_env(request: Request, environment_id: str = _id(),
                         who: Principal = Depends(principal)) -> Response:
        b, org = org_of(request, who, perm.MANAGE_ENVIRONMENTS)
        del org.environments[b.environment(org, environment_id).id]
        return Response(status_code=204)

    defs = "/resources/v2.0/incidents/tags/definitions"

    def def_out(d: act.TagDefinition) -> dict[str, Any]:
        return {"id": d.id, "name": d.name, "type": d.type, "description": d.description, "active": d.active,
                "values": list(d.values)}

    @r.get(defs, response_model=list[dict[str, Any]], responses=std, summary="Incident tag definitions")
    async def list_defs(request: Request, who: Principal = Depends(principal)) -> list[dict[str, Any]]:
        _, org = org_of(request, who)
        return [def_out(d) for d in org.tag_definitions.values()]

    @r.post(defs, status_code=201, response_model=dict[str, Any], responses={**std, 409: doc(409, "Name taken")})
    async def create_def(request: Request, body: TagDefinitionIn, who: Principal = Depends(principal)) -> dict[str, Any]:
        _, org = org_of(request, who)
        return def_out(act.define_tag(org, body.name, body.type, body.description, body.values))

    @r.get(defs + "/{tag_id}", response_model=dict[str, Any], responses=std)
    async def get_def(request: Request, tag_id: str = _id(), who: Principal = Depends(principal)) -> dict[str, Any]:
        _, org = org_of(request, who)
        if tag_id not in org.tag_definitions:
            raise not_found(f"Tag definition {tag_id}")
        return def_out(org.tag_definitions[tag_id])

    @r.put(defs + "/{tag_id}", response_model=dict[str, Any], responses={**std, 409: doc(409, "Name taken")})
    async def put_def(request: Request, body: TagDefinitionIn, tag_id: str = _id(),
                      who: Principal = Depends(principal)) -> dict[str, Any]:
        _, org = org_of(request, who)
        existing = org.tag_definitions.get(tag_id)
        if existing is None:
            raise not_found(f"Tag definition {tag_id}")
        return def_out(act.define_tag(org, body.name, body.type, body.description, body.values, existing))

    return r
