"""/_sim routes for BigPanda's RBAC (roles and the users' roles) and the OIM set-up: creating an
OIM integration, and switching the ten-minute wait after creation on or off."""

from __future__ import annotations

import secrets

from fastapi import Path, Request
from pydantic import BaseModel, Field

from bpsn.simulator.bigpanda.backend import BigPandaBackend
from bpsn.simulator.bigpanda.errors import doc
from bpsn.simulator.bigpanda.oim.store import DOCUMENTED_WAIT_SECONDS
from bpsn.simulator.bigpanda.permissions import DEFAULT_ROLE, MAX_ROLES, PERMISSIONS
from bpsn.simulator.common.bodies import AdminBody
from bpsn.simulator.common.route_group import RouteGroup


class AccessIn(AdminBody):
    roles: dict[str, list[str]] = Field(
        description=f"role name -> permissions, from: {', '.join(PERMISSIONS)}", max_length=MAX_ROLES,
        examples=[{DEFAULT_ROLE: list(PERMISSIONS), "no_autoshare": list(PERMISSIONS[1:])}])
    user_roles: dict[str, list[str]] = Field(
        default_factory=dict, max_length=10_000,
        description=f"user email -> role names; a user left out has the {DEFAULT_ROLE!r} role, [] means none",
        examples=[{"bpsn@example.com": ["no_autoshare"]}])


class UserAccess(BaseModel):
    roles: list[str]
    permissions: list[str]
    api_keys: list[str] = Field(description="The last 6 characters of each of the user's API keys, as the "
                                            "journal names them (never a whole key)")


class AccessOut(BaseModel):
    permissions: list[str] = Field(description="Every permission the simulator knows")
    roles: dict[str, list[str]]
    user_roles: dict[str, list[str]]
    users: dict[str, UserAccess] = Field(description="Each user with an API key: its roles and permissions")


class UserRolesIn(AdminBody):
    roles: list[str] = Field(max_length=MAX_ROLES, description="Role names; [] for none")


class IntegrationIn(AdminBody):
    source_system: str = Field(min_length=5, max_length=100, pattern=r"^oim\.[a-z0-9_]+$",
                               examples=["oim.my_tool"], description="An OIM integration: oim.<name>")


class IntegrationOut(BaseModel):
    app_key: str
    source_system: str
    created_at: float


class OimWaitIn(AdminBody):
    enabled: bool = Field(description="On: configuration and sample POSTs within `seconds` of an integration's "
                                      "creation get 404")
    seconds: float = Field(DOCUMENTED_WAIT_SECONDS, gt=0, le=86_400)


class OimWaitOut(BaseModel):
    enabled: bool
    seconds: float | None


def build_access_router() -> RouteGroup:
    r = RouteGroup(tags=["simulator admin"])
    org_path = "/organizations/{name}"
    name_param = Path(min_length=1, max_length=100)
    no_org = {404: doc(404, "No such organization")}

    def access_out(b: BigPandaBackend, name: str) -> AccessOut:
        org = b.org_named(name)
        roles, user_roles = org.access.as_lists()
        users = {email: UserAccess(roles=org.access.roles_of(email),
                                   permissions=[p for p in PERMISSIONS if p in org.access.permissions_of(email)],
                                   api_keys=[key[-6:] for key, owner in org.user_api_keys.items() if owner == email])
                 for email in dict.fromkeys(org.user_api_keys.values())}
        return AccessOut(permissions=list(PERMISSIONS), roles=roles, user_roles=user_roles, users=users)

    @r.get(org_path + "/roles", response_model=AccessOut, responses=no_org,
           summary="The organization's roles, the users' roles, and what each user may do")
    async def get_roles(request: Request, name: str = name_param) -> AccessOut:
        return access_out(request.app.state.backend, name)

    @r.put(org_path + "/roles", response_model=AccessOut,
           responses={**no_org, 400: doc(400, "An unknown permission or role, named; nothing was changed")},
           summary="Replace the organization's roles and the users' roles")
    async def put_roles(request: Request, body: AccessIn, name: str = name_param) -> AccessOut:
        b: BigPandaBackend = request.app.state.backend
        b.org_named(name).access.replace(body.roles, body.user_roles)
        return access_out(b, name)

    @r.put(org_path + "/users/{email}/roles", response_model=AccessOut,
           responses={**no_org, 400: doc(400, "An unknown role, named; nothing was changed")},
           summary="Give one user these roles (its API keys act with them)")
    async def put_user_roles(request: Request, body: UserRolesIn, name: str = name_param,
                             email: str = Path(min_length=3, max_length=320)) -> AccessOut:
        b: BigPandaBackend = request.app.state.backend
        access = b.org_named(name).access
        roles, user_roles = access.as_lists()
        access.replace(roles, {**user_roles, email: body.roles})
        return access_out(b, name)

    @r.post(org_path + "/integrations", response_model=IntegrationOut, status_code=201,
            responses=no_org, summary="Create an OIM integration, as saving one in BigPanda's UI does")
    async def create_integration(request: Request, body: IntegrationIn, name: str = name_param) -> IntegrationOut:
        b: BigPandaBackend = request.app.state.backend
        org = b.org_named(name)
        app_key = secrets.token_hex(16)  # an app key is a credential: never from the seeded RNG
        now = b.clock.now()
        org.integrations[app_key] = body.source_system
        org.oim.created_at[app_key] = now
        return IntegrationOut(app_key=app_key, source_system=body.source_system, created_at=now)

    @r.get(org_path + "/oim", response_model=OimWaitOut, responses=no_org,
           summary="The ten-minute wait after an OIM integration is created: on or off")
    async def get_oim_wait(request: Request, name: str = name_param) -> OimWaitOut:
        seconds = request.app.state.backend.org_named(name).oim.wait_seconds
        return OimWaitOut(enabled=seconds is not None, seconds=seconds)

    @r.put(org_path + "/oim", response_model=OimWaitOut, responses=no_org,
           summary="Switch the ten-minute wait after an OIM integration is created on or off")
    async def put_oim_wait(request: Request, body: OimWaitIn, name: str = name_param) -> OimWaitOut:
        oim = request.app.state.backend.org_named(name).oim
        oim.wait_seconds = body.seconds if body.enabled else None
        return OimWaitOut(enabled=body.enabled, seconds=oim.wait_seconds)

    return r

