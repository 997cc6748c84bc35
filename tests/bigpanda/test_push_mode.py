"""Push mode of the BigPanda simulator: shares POSTed to a receiver, retries on the simulator
clock (>= 501 and connection errors, 6 tries 15 minutes apart), dead letters and redelivery."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from bpsn.simulator.bigpanda.admin.fixtures import load_fixtures
from bpsn.simulator.bigpanda.backend import BigPandaBackend
from bpsn.simulator.bigpanda.settings import BigPandaSettings
from bpsn.simulator.bigpanda.sharing.push import PushStore, PushTarget, parse_statuses

ORG = {"Authorization": "Bearer demo-org-token"}
USER = {"Authorization": "Bearer BPUdemo-user-key"}
APP_KEY = {"x-bp-app-key": "demo-incidents-app-key"}
PUSH = "/_sim/organizations/demo/environments/production/push"
URL = "http://receiver.test/shares"
T0 = 1_767_225_600
QUARTER = 900


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


def receiver(statuses: list[int]) -> FastAPI:
    """Answers each push with the next status (the last one repeats); 2xx bodies carry a ticket."""
    app = FastAPI()
    app.state.got = []

    @app.post("/shares")
    async def take(request: Request) -> JSONResponse:
        app.state.got.append({"headers": dict(request.headers), "body": await request.json()})
        status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
        if 200 <= status < 300:
            n = len(app.state.got)
            return JSONResponse({"ticket": {"number": f"INC{n:07d}", "sys_id": f"sys{n}", "url": f"http://sn/{n}"}},
                                status_code=status)
        return JSONResponse({"error": "not now"}, status_code=status)

    return app


Pooled = tuple[BigPandaBackend, FastAPI]  # new_bigpanda (tests/bigpanda/conftest.py): as a new one starts


def with_settings(backend: BigPandaBackend, **settings: Any) -> BigPandaBackend:
    """The pooled simulator as `BigPandaBackend(BigPandaSettings(**settings))` starts: these settings
    are read as it runs; new_bigpanda puts the defaults back after the test."""
    if settings:
        backend.settings = BigPandaSettings(**settings)
        backend.reset()
    return backend


class Sim:
    def __init__(self, pooled: Pooled, transport: httpx.AsyncBaseTransport, **settings: Any) -> None:
        self.backend, app = with_settings(pooled[0], **settings), pooled[1]
        self.clock = self.backend.clock
        for org in self.backend.orgs.values():
            org.rate_limits.enabled = False
        self.backend.pusher.client = httpx.AsyncClient(transport=transport)
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                      base_url="http://bigpanda",
                                      headers={"X-Bpsn-Admin-Token": "bpsn-admin-token"})  # for /_sim
        self.org = self.backend.orgs["demo"]

    async def push_on(self, **body: Any) -> httpx.Response:
        return await self.http.put(PUSH, json={"url": URL, "headers": {"Authorization": "Bearer r"}, **body})

    async def alert(self, host: str = "web-1", status: str = "critical", check: str = "cpu") -> dict[str, Any]:
        r = await self.http.post("/data/v2/alerts", headers=ORG, json={
            "app_key": "demo-alerts-app-key", "status": status, "host": host, "check": check})
        assert r.status_code == 201, r.text
        return r.json()["alerts"][0]

    async def advance(self, seconds: float) -> None:
        r = await self.http.post("/_sim/clock/advance", json={"seconds": seconds})
        assert r.status_code == 200
        await self.backend.pusher.flush()

    async def queue(self) -> dict[str, Any]:
        return (await self.http.get("/_sim/push", params={"organization": "demo"})).json()

    async def dead(self) -> list[dict[str, Any]]:
        r = await self.http.get("/_sim/dead-letters", params={"organization": "demo"})
        assert r.status_code == 200
        return r.json()

    async def incident(self, incident_id: str) -> dict[str, Any]:
        r = await self.http.get(f"/resources/v2.0/environments/production/incidents/{incident_id}", headers=USER)
        assert r.status_code == 200, r.text
        return r.json()

    async def close(self) -> None:
        await self.http.aclose()
        await self.backend.pusher.client.aclose()  # type: ignore[union-attr]


def scenario(pooled: Pooled, transport: httpx.AsyncBaseTransport, **settings: Any) -> Callable[..., Any]:
    def wrap(body: Callable[[Sim], Coroutine[Any, Any, None]]) -> None:
        async def go() -> None:
            sim = Sim(pooled, transport, **settings)
            try:
                await body(sim)
            finally:
                await sim.close()
        run(go())
    return wrap


def asgi(app: FastAPI) -> httpx.ASGITransport:
    return httpx.ASGITransport(app=app)


# --- delivery -------------------------------------------------------------------------------------
def test_a_share_is_pushed_as_the_retrieval_object_and_its_ticket_recorded(new_bigpanda: Pooled) -> None:
    target = receiver([201])

    @scenario(new_bigpanda, asgi(target))
    async def _(sim: Sim) -> None:
        configured = await sim.push_on()
        assert configured.status_code == 200, configured.text
        assert configured.json()["url"] == URL and configured.json()["environment"] == "production"
        alert = await sim.alert()
        await sim.backend.pusher.flush()
        [got] = target.state.got
        assert got["headers"]["authorization"] == "Bearer r"
        share = got["body"]
        assert share["incident_id"] == alert["incident_id"] and share["trigger"] == "incident#new"
        assert share["environment_name"] == "production" and share["target"] == "servicenow"
        assert share["delivery"] == 1 and share["lease_expires_at"] is None
        assert share["incident"]["alerts"][0]["id"] == alert["id"]
        assert set(share) == {"share_id", "sequence", "incident_id", "environment_id", "environment_name", "target",
                              "trigger", "triggers", "delivery", "lease_expires_at", "incident"}
        incident = await sim.incident(alert["incident_id"])
        assert incident["external_tickets"][0]["number"] == "INC0000001"
        queue = await sim.queue()
        assert queue == {"pending": [], "delivered": 1, "dead_letters": 0}
        pulled = await sim.http.get("/integrations/v3/servicenow/shares", headers={**USER, **APP_KEY})
        assert pulled.json()["shares"] == []  # a pushed target is not also pulled


def test_an_enqueued_push_goes_out_without_a_tick(new_bigpanda: Pooled) -> None:
    target = receiver([200])

    @scenario(new_bigpanda, asgi(target))
    async def _(sim: Sim) -> None:
        await sim.push_on()
        await sim.alert()
        for _ in range(200):  # the pusher's own task, started by the enqueue
            if target.state.got and not sim.org.push.busy():
                break
            await asyncio.sleep(0.005)
        assert len(target.state.got) == 1 and sim.org.push.delivered == 1


def test_503_is_retried_15_virtual_minutes_later(new_bigpanda: Pooled) -> None:
    target = receiver([503, 200])

    @scenario(new_bigpanda, asgi(target))
    async def _(sim: Sim) -> None:
        await sim.push_on()
        await sim.alert()
        await sim.backend.pusher.flush()
        [waiting] = (await sim.queue())["pending"]
        assert waiting["state"] == "pending" and waiting["due_at"] == T0 + QUARTER
        assert waiting["attempts"] == [{"at": T0, "status": 503, "error": "HTTP 503"}]
        await sim.advance(QUARTER - 1)
        assert len(target.state.got) == 1
        await sim.advance(1)
        assert len(target.state.got) == 2 and target.state.got[1]["body"]["delivery"] == 2
        assert await sim.queue() == {"pending": [], "delivered": 1, "dead_letters": 0}


def test_connection_errors_six_times_go_to_the_dead_letters(new_bigpanda: Pooled) -> None:
    errors = itertools.cycle([httpx.ConnectError("[Errno 111] Connection refused"),
                              httpx.ReadError("[Errno 104] Connection reset by peer"),
                              httpx.WriteError("[Errno 32] Broken pipe"),
                              httpx.RemoteProtocolError("Server disconnected without sending a response.")])
    tries: list[float] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        tries.append(1)
        raise next(errors)

    @scenario(new_bigpanda, httpx.MockTransport(refuse))
    async def _(sim: Sim) -> None:
        await sim.push_on()
        alert = await sim.alert()
        await sim.backend.pusher.flush()
        for _ in range(5):
            assert await sim.dead() == []
            await sim.advance(QUARTER)
        [dead] = await sim.dead()
        assert len(tries) == 6 and dead["mode"] == "push" and dead["state"] == "dead"
        assert dead["incident_id"] == alert["incident_id"] and dead["url"] == URL
        assert [a["at"] for a in dead["attempts"]] == [T0 + QUARTER * i for i in range(6)]
        assert all(a["status"] is None for a in dead["attempts"])
        assert dead["attempts"][0]["error"].startswith("ConnectError")
        assert dead["attempts"][2]["error"].startswith("WriteError")
        assert dead["dead_at"] == T0 + 5 * QUARTER and dead["deliveries"] == 6
        await sim.advance(QUARTER)
        assert len(tries) == 6  # given up: no seventh try
        assert (await sim.queue())["dead_letters"] == 1


@pytest.mark.parametrize("status", [400, 404, 500])
def test_a_status_that_retrying_cannot_help_is_dead_at_once(status: int, new_bigpanda: Pooled) -> None:
    target = receiver([status])

    @scenario(new_bigpanda, asgi(target))
    async def _(sim: Sim) -> None:
        await sim.push_on()
        await sim.alert()
        await sim.backend.pusher.flush()
        [dead] = await sim.dead()
        assert dead["attempts"] == [{"at": T0, "status": status, "error": f"HTTP {status}: not retried"}]
        await sim.advance(QUARTER)
        assert len(target.state.got) == 1


def test_a_dead_letter_is_redelivered_on_request(new_bigpanda: Pooled) -> None:
    statuses = [400]
    target = receiver(statuses)

    @scenario(new_bigpanda, asgi(target))
    async def _(sim: Sim) -> None:
        await sim.push_on()
        alert = await sim.alert()
        await sim.backend.pusher.flush()
        [dead] = await sim.dead()
        statuses[:] = [200]
        sim.clock.advance(60)
        r = await sim.http.post(f"/_sim/dead-letters/{dead['id']}/redeliver")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["state"] == "delivered" and body["redeliveries"] == 1 and body["deliveries"] == 1
        assert [a["status"] for a in body["attempts"]] == [400, 200]
        assert body["attempts"][1]["at"] == T0 + 60
        assert await sim.dead() == []
        assert (await sim.incident(alert["incident_id"]))["external_tickets"][0]["number"] == "INC0000002"
        missing = await sim.http.post(f"/_sim/dead-letters/{dead['id']}/redeliver")
        assert missing.status_code == 404 and missing.json()["status"] == 404


def test_changes_while_a_push_waits_join_it_and_go_out_once(new_bigpanda: Pooled) -> None:
    target = receiver([503, 200])

    @scenario(new_bigpanda, asgi(target))
    async def _(sim: Sim) -> None:
        await sim.push_on()
        first = await sim.alert(check="cpu")
        await sim.backend.pusher.flush()
        await sim.alert(check="disk")  # same host: joins the incident, a second change
        await sim.backend.pusher.flush()
        [waiting] = (await sim.queue())["pending"]
        assert waiting["triggers"] == ["incident#new", "incident#alert-added"]
        await sim.advance(QUARTER)
        assert len(target.state.got) == 2
        share = target.state.got[1]["body"]
        assert share["incident_id"] == first["incident_id"] and len(share["incident"]["alerts"]) == 2
        assert share["triggers"] == ["incident#new", "incident#alert-added"]


def test_back_to_pull_hands_waiting_pushes_to_the_pull_queue(new_bigpanda: Pooled) -> None:
    target = receiver([503])

    @scenario(new_bigpanda, asgi(target))
    async def _(sim: Sim) -> None:
        await sim.push_on()
        alert = await sim.alert()
        await sim.backend.pusher.flush()
        r = await sim.http.delete(PUSH)
        assert r.status_code == 200 and r.json() == {"status": "ok", "moved_to_pull": 1}
        assert (await sim.http.get(PUSH)).json() == []
        pulled = await sim.http.get("/integrations/v3/servicenow/shares", headers={**USER, **APP_KEY})
        [share] = pulled.json()["shares"]
        assert share["incident_id"] == alert["incident_id"] and share["trigger"] == "incident#new"
        await sim.advance(QUARTER)
        assert len(target.state.got) == 1  # never pushed again
        again = await sim.http.delete(PUSH)
        assert again.status_code == 404


def test_push_configuration_errors(new_bigpanda: Pooled) -> None:
    @scenario(new_bigpanda, asgi(receiver([200])))
    async def _(sim: Sim) -> None:
        wrong_target = await sim.push_on(target="jira")
        assert wrong_target.status_code == 400 and "does not autoshare" in wrong_target.json()["errors"][0]
        bad_url = await sim.http.put(PUSH, json={"url": "ftp://x/y"})
        assert bad_url.status_code == 400
        no_env = await sim.http.put("/_sim/organizations/demo/environments/nope/push", json={"url": URL})
        assert no_env.status_code == 404
        no_org = await sim.http.get("/_sim/organizations/nope/environments/production/push")
        assert no_org.status_code == 404
        assert (await sim.http.get("/_sim/dead-letters", params={"organization": "nope"})).status_code == 404
        assert sim.org.push.targets == {}


def test_tries_interval_and_retried_statuses_are_settings(new_bigpanda: Pooled) -> None:
    target = receiver([429])

    @scenario(new_bigpanda, asgi(target), push_max_attempts=2, push_retry_interval_seconds=60,
              push_retry_statuses="429,502-504")
    async def _(sim: Sim) -> None:
        await sim.push_on()
        await sim.alert()
        await sim.backend.pusher.flush()
        await sim.advance(60)
        [dead] = await sim.dead()
        assert [a["at"] for a in dead["attempts"]] == [T0, T0 + 60] and len(target.state.got) == 2


def test_a_running_clock_fires_retries_by_itself(new_bigpanda: Pooled) -> None:
    target = receiver([503, 200])

    async def go() -> None:
        backend = with_settings(new_bigpanda[0], push_retry_interval_seconds=0.05)
        backend.clock.unfreeze()  # a running clock, as SimClock() is; new_bigpanda freezes it again after
        backend.pusher.client = httpx.AsyncClient(transport=asgi(target))
        org = backend.orgs["demo"]
        org.push.configure(next(iter(org.environments)), "servicenow", PushTarget(URL))
        backend.ingest(backend.resolve_token("demo-org-token"),
                       {"app_key": "demo-alerts-app-key", "status": "critical", "host": "h"})
        for _ in range(300):
            if org.push.delivered:
                break
            await asyncio.sleep(0.01)
        assert len(target.state.got) == 2 and org.push.delivered == 1
        await backend.pusher.client.aclose()

    run(go())


# --- the outbox as plain state ----------------------------------------------------------------------
def test_outbox_keeps_one_push_per_incident_in_flight() -> None:
    store = PushStore()
    store.configure("env", "servicenow", PushTarget(URL))
    a = store.enqueue("s1", "i1", "env", "servicenow", "incident#new", 0)
    assert store.enqueue("s2", "i1", "env", "servicenow", "incident#updated", 1) is a
    assert a.triggers == ["incident#new", "incident#updated"]
    assert store.take_due(1) == [a]
    b = store.enqueue("s3", "i1", "env", "servicenow", "incident#resolved", 2)
    assert b is not a and store.take_due(5) == []  # a is in flight
    from bpsn.simulator.bigpanda.sharing.push import Attempt
    store.settle(a, Attempt(5, 503), "retry", max_attempts=6, interval=10)
    assert list(store.queue) == ["s1"] and a.triggers[-1] == "incident#resolved"  # b joined a
    assert store.take_due(14) == [] and store.take_due(15) == [a]
    store.settle(a, Attempt(15, 200), "delivered", max_attempts=6, interval=10)
    assert store.queue == {} and store.delivered == 1


def test_status_specs() -> None:
    assert parse_statuses("501-599") == frozenset(range(501, 600))
    assert parse_statuses("429, 500-502") == {429, 500, 501, 502}


def test_pushes_seeded_by_fixtures_go_out_when_the_server_starts(new_bigpanda: Pooled) -> None:
    target = receiver([200])

    async def go() -> None:
        backend, app = new_bigpanda  # create_app leaves the state alone: the pooled app starts as a new one
        backend.pusher.client = httpx.AsyncClient(transport=asgi(target))
        load_fixtures(backend, {"organizations": [{
            "name": "acme", "org_token": "acme-token", "integrations": {"acme-alerts": "api.x"},
            "environments": [{"name": "prod", "autoshare_targets": ["servicenow"],
                              "push": {"servicenow": {"url": URL, "headers": {"X-Token": "t"}}}}],
            "alerts": [{"at": -30, "status": "critical", "host": "web-1"}]}]})
        org = backend.orgs["acme"]
        assert len(org.push.queue) == 1 and not target.state.got  # no event loop ran yet
        async with app.router.lifespan_context(app):  # the server's start kicks the pusher
            for _ in range(200):
                if org.push.delivered:
                    break
                await asyncio.sleep(0.005)
        [got] = target.state.got
        assert got["headers"]["x-token"] == "t" and got["body"]["environment_name"] == "prod"
        await backend.pusher.client.aclose()

    run(go())
