"""Admin routes under /_sim for push mode and the dead letters (see push.py for the policy)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Path, Query, Request
from pydantic import BaseModel, Field

from bpsn.simulator.bigpanda.backend import BigPandaBackend
from bpsn.simulator.bigpanda.errors import bad_request, doc, not_found
from bpsn.simulator.bigpanda.organization import Organization
from bpsn.simulator.common.bodies import AdminBody

from .push import PushDelivery, PushTarget
from .pusher import to_pull
from .queue import Share


def _name() -> Any:  # a fresh Path() per parameter: FastAPI binds it to one name
    return Path(min_length=1, max_length=100)

NO_ORG = {404: doc(404, "No such organization")}
NO_ENV = {404: doc(404, "No such organization or environment")}


class PushConfigIn(AdminBody):
    target: str = Field("servicenow", min_length=1, max_length=100,
                        description="One of the environment's autoshare targets")
    url: str = Field(min_length=8, max_length=2000, pattern=r"^https?://[!-~]+$",  # ASCII, no spaces
                     examples=["http://127.0.0.1:8002/api/x_bip_panda/bigpanda/share"])
    headers: dict[str, str] = Field(default_factory=dict, max_length=50,
                                    description="Sent with every push, e.g. Authorization")


class PushConfigOut(PushConfigIn):
    environment_id: str
    environment: str


class PushRemoved(BaseModel):
    status: str = "ok"
    moved_to_pull: int = Field(description="Pushes that were waiting, now in the pull queue")


class AttemptOut(BaseModel):
    at: float = Field(description="Simulator-clock epoch seconds of the try")
    status: int | None = Field(description="The HTTP status, or null after a connection error")
    error: str | None


class DeliveryOut(BaseModel):
    id: str = Field(description="The share id")
    organization: str
    mode: Literal["push", "pull"]
    state: str = Field(description="pending, in_flight, delivered, dead or pulled (handed to the pull queue)")
    incident_id: str
    environment_id: str
    target: str
    url: str | None = Field(description="Where it is pushed (push mode)")
    triggers: list[str]
    enqueued_at: float
    due_at: float | None = Field(description="When the next try is due (pending pushes)")
    dead_at: float | None
    deliveries: int = Field(description="Tries since it was enqueued or last redelivered")
    redeliveries: int
    attempts: list[AttemptOut] = Field(description="Every try with its time and status or error (push mode)")
    errors: list[str]


class PushQueueOut(BaseModel):
    pending: list[DeliveryOut] = Field(description="Waiting or in flight, oldest first")
    delivered: int
    dead_letters: int


class Sent(BaseModel):
    sent: int = Field(description="Pushes tried by this call")


def view(org: Organization, item: Share) -> DeliveryOut:
    if isinstance(item, PushDelivery):
        target = org.push.target(item.environment_id, item.target)
        return DeliveryOut(
            id=item.id, organization=org.name, mode="push", state=item.state, incident_id=item.incident_id,
            environment_id=item.environment_id, target=item.target, url=target.url if target else None,
            triggers=list(item.triggers), enqueued_at=item.enqueued_at,
            due_at=item.due_at if item.state == "pending" else None, dead_at=item.dead_at,
            deliveries=item.tries, redeliveries=item.redeliveries,
            attempts=[AttemptOut(at=a.at, status=a.status, error=a.error) for a in item.attempts],
            errors=[a.error or f"HTTP {a.status}" for a in item.attempts if a.error or a.status is None])
    dead = any(item is s for s in org.shares.dead_letters)
    return DeliveryOut(
        id=item.id, organization=org.name, mode="pull", state="dead" if dead else "pending",
        incident_id=item.incident_id, environment_id=item.environment_id, target=item.target, url=None,
        triggers=list(item.triggers), enqueued_at=item.enqueued_at, due_at=None, dead_at=None,
        deliveries=item.deliveries, redeliveries=0, attempts=[], errors=list(item.errors))


@asynccontextmanager
async def start_pushing(app: FastAPI) -> AsyncIterator[None]:
    """At server start, send pushes already waiting (from --fixtures or --state-file)."""
    app.state.backend.pusher.kick()
    yield


def build_push_router() -> APIRouter:
    r = APIRouter(tags=["simulator admin"], lifespan=start_pushing)
    env_path = "/organizations/{name}/environments/{environment}/push"

    def env_of(request: Request, name: str, environment: str) -> tuple[BigPandaBackend, Organization, Any]:
        b: BigPandaBackend = request.app.state.backend
        org = b.org_named(name)
        return b, org, b.environment(org, environment)

    def out(org: Organization, env: Any, target: str, config: PushTarget) -> PushConfigOut:
        return PushConfigOut(target=target, url=config.url, headers=dict(config.headers),
                             environment_id=env.id, environment=env.name)

    @r.get(env_path, response_model=list[PushConfigOut], responses=NO_ENV,
           summary="The environment's push targets (targets not listed are pulled)")
    async def get_push(request: Request, name: str = _name(), environment: str = _name()) -> list[PushConfigOut]:
        _, org, env = env_of(request, name, environment)
        return [out(org, env, t, c) for t, c in org.push.targets.get(env.id, {}).items()]

    @r.put(env_path, response_model=PushConfigOut,
           responses={400: doc(400, "The environment does not autoshare to this target"), **NO_ENV},
           summary="Push this environment's shares for a target to a URL, instead of waiting to be polled",
           description="Shares enqueued from now on are POSTed to the URL (the retrieval endpoint's share "
                       "object); shares already in the pull queue stay there. Retries: see the app description.")
    async def put_push(request: Request, body: PushConfigIn, name: str = _name(),
                       environment: str = _name()) -> PushConfigOut:
        _, org, env = env_of(request, name, environment)
        if body.target not in env.autoshare_targets:
            raise bad_request(f"environment {env.name} does not autoshare to {body.target!r} (its targets: "
                              f"{', '.join(env.autoshare_targets) or 'none'}); add it to autoshare_targets first")
        config = PushTarget(body.url, dict(body.headers))
        org.push.configure(env.id, body.target, config)
        return out(org, env, body.target, config)

    @r.delete(env_path, response_model=PushRemoved,
              responses={404: doc(404, "No such organization or environment, or the target is not pushed")},
              summary="Back to pull: waiting pushes move to the pull queue; dead letters stay")
    async def delete_push(request: Request, name: str = _name(), environment: str = _name(),
                          target: str = Query("servicenow", min_length=1, max_length=100)) -> PushRemoved:
        b, org, env = env_of(request, name, environment)
        if org.push.target(env.id, target) is None:
            raise not_found(f"Push target {target} of environment {env.name}")
        waiting = org.push.unconfigure(env.id, target)
        now = b.clock.now()
        for d in waiting:
            to_pull(org, d, now)
        b.notifier.notify()
        return PushRemoved(moved_to_pull=len(waiting))

    def orgs_of(b: BigPandaBackend, organization: str | None) -> list[Organization]:
        return [b.org_named(organization)] if organization else list(b.orgs.values())

    @r.get("/push", response_model=PushQueueOut, responses=NO_ORG,
           summary="Pushes waiting or in flight, and counts of delivered and dead ones; every "
                   "organization unless one is named")
    async def push_queue(request: Request, organization: str | None = Query(None, max_length=100)) -> PushQueueOut:
        b: BigPandaBackend = request.app.state.backend
        orgs = orgs_of(b, organization)
        return PushQueueOut(pending=[view(o, d) for o in orgs for d in o.push.queue.values()],
                            delivered=sum(o.push.delivered for o in orgs),
                            dead_letters=sum(len(o.push.dead_letters) for o in orgs))

    @r.post("/push/deliver", response_model=Sent,
            summary="Try every push that is due now and answer when they have settled")
    async def deliver(request: Request) -> Sent:
        return Sent(sent=await request.app.state.backend.pusher.flush())

    @r.get("/dead-letters", response_model=list[DeliveryOut], responses=NO_ORG,
           summary="Shares given up on: pushes after their last try (with every attempt), and pulled "
                   "shares whose lease ran out too often; every organization unless one is named")
    async def dead_letters(request: Request,
                           organization: str | None = Query(None, max_length=100)) -> list[DeliveryOut]:
        b: BigPandaBackend = request.app.state.backend
        return [view(o, d) for o in orgs_of(b, organization) for d in (*o.push.dead_letters, *o.shares.dead_letters)]

    @r.post("/dead-letters/{share_id}/redeliver", response_model=DeliveryOut,
            responses={404: doc(404, "No dead letter with this id")},
            summary="Queue a dead letter again; a push is tried at once and the answer shows how it went",
            description="The tries start again from one; earlier attempts stay in the list.")
    async def redeliver(request: Request, share_id: str = _name()) -> DeliveryOut:
        b: BigPandaBackend = request.app.state.backend
        now = b.clock.now()
        for org in list(b.orgs.values()):
            pushed = org.push.redeliver(share_id, now)
            if pushed is not None:
                await b.pusher.flush()
                return view(org, pushed)
            pulled = next((s for s in org.shares.dead_letters if s.id == share_id), None)
            if pulled is not None:
                org.shares.dead_letters.remove(pulled)
                for trigger in pulled.triggers:
                    queued = org.shares.enqueue(pulled.id, pulled.incident_id, pulled.environment_id,
                                                pulled.target, trigger, now)
                b.notifier.notify()
                return view(org, queued)
        raise not_found(f"Dead letter {share_id}")

    return r
