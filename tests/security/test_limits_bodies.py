"""Attacks with bodies: credentials are checked before a body is read, and every route holds its
body to a maximum size, declared (Content-Length) or streamed (chunked), answered 401 / 413 in
each API's own error body with nothing stored."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from pooled_simulators import bigpanda_pool, servicenow_pool

from bpsn.base.clock import SimClock
from bpsn.simulator.bigpanda.app import create_app as bigpanda_app
from bpsn.simulator.bigpanda.backend import BigPandaBackend
from bpsn.simulator.common.middleware import DEFAULT_MAX_BODY
from bpsn.testing import call_asgi

ADMIN = {"Authorization": "Basic " + base64.b64encode(b"admin:admin").decode()}
ORG = {"Authorization": "Bearer demo-org-token"}
ALERT = {"app_key": "demo-alerts-app-key", "status": "critical", "host": "h1", "check": "c"}
SN_401 = {"error": {"message": "User Not Authenticated", "detail": "Required to provide Auth information"},
          "status": "failure"}
BP_401 = {"status": 401, "errors": ["Unauthorized: the token is missing or not valid"]}


def bp_backend() -> BigPandaBackend:
    backend = BigPandaBackend(clock=SimClock.virtual())
    for org in backend.orgs.values():
        org.rate_limits.enabled = False
    return backend


@pytest.fixture
def bp() -> tuple[BigPandaBackend, Any]:
    """The process's pooled BigPanda simulator and its app, as new, rate limits off (as bp_backend())."""
    pool = bigpanda_pool()
    return pool.as_new(rate_limits=False), pool.app


@pytest.fixture
def sn() -> Any:
    """The process's pooled ServiceNow simulator's app, the instance as new."""
    pool = servicenow_pool()
    pool.as_new()
    return pool.app


async def raw_call(app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]],
                   query: bytes = b"") -> tuple[int, bytes, int]:
    """(status, body, how many times the app asked for the request body)."""
    reads = 0
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"x" * 65536, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": query, "headers": headers,
             "server": ("sim", 80), "client": ("127.0.0.1", 1), "root_path": ""}
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], body, reads


FIFTY_MB = str(50 * 1024 * 1024).encode()


@pytest.mark.parametrize("declared", [[(b"content-length", b"1000")], [(b"transfer-encoding", b"chunked")]])
def test_bigpanda_refuses_a_body_without_credentials_unread(bp: tuple[BigPandaBackend, Any],
                                                            declared: list[tuple[bytes, bytes]]) -> None:
    backend, app = bp
    status, body, reads = asyncio.run(raw_call(app, "POST", "/data/v2/alerts", declared))
    assert (status, reads) == (401, 0)
    assert httpx.Response(200, content=body).json() == BP_401
    assert not backend.orgs["demo"].alerts


def test_servicenow_refuses_a_body_without_credentials_unread(sn: Any) -> None:
    app = sn
    status, body, reads = asyncio.run(raw_call(app, "POST", "/api/now/table/incident",
                                               [(b"content-length", b"1000")]))
    assert (status, reads) == (401, 0)
    assert httpx.Response(200, content=body).json() == SN_401


def test_a_50mb_body_is_refused_on_its_content_length_unread(bp: tuple[BigPandaBackend, Any], sn: Any) -> None:
    app = bp[1]
    for headers in ([(b"content-length", FIFTY_MB)], [(b"content-length", FIFTY_MB), (b"authorization", b"Bearer x")]):
        status, body, reads = asyncio.run(raw_call(app, "POST", "/data/v2/alerts", headers))
        assert (status, reads) == (413, 0)
        assert b"at most 10485760 bytes" in body
    status, body, reads = asyncio.run(raw_call(sn, "POST", "/api/now/table/incident",
                                               [(b"content-length", FIFTY_MB), *_basic()]))
    assert (status, reads) == (413, 0)
    assert httpx.Response(200, content=body).json()["error"]["message"] == "Request body too large"


def _basic() -> list[tuple[bytes, bytes]]:
    return [(b"authorization", ADMIN["Authorization"].encode())]


def test_a_streamed_body_is_cut_off_at_the_limit(bp: tuple[BigPandaBackend, Any]) -> None:
    """No Content-Length: the middleware counts what arrives and stops reading past the limit."""
    backend, app = bp
    status, body, reads = asyncio.run(raw_call(app, "POST", "/data/v2/alerts",
                                               [(b"transfer-encoding", b"chunked"), (b"authorization", b"Bearer demo-org-token")]))
    assert status == 413 and reads == DEFAULT_MAX_BODY // 65536 + 1
    assert httpx.Response(200, content=body).json()["status"] == 413
    assert not backend.orgs["demo"].alerts


def test_the_simulators_own_routes_are_held_to_the_limit_too(sn: Any, bp: tuple[BigPandaBackend, Any]) -> None:
    app = sn
    status, _, reads = asyncio.run(raw_call(app, "POST", "/_sim/faults", [(b"content-length", FIFTY_MB), *_basic()]))
    assert (status, reads) == (413, 0)
    status, _, reads = asyncio.run(raw_call(app, "POST", "/_sim/faults", [(b"content-length", b"10")]))
    assert (status, reads) == (401, 0)
    bp_app = bp[1]
    status, _, reads = asyncio.run(raw_call(bp_app, "POST", "/_sim/reset", [(b"content-length", b"10")]))
    assert (status, reads) == (401, 0)
    r = call_asgi(bp_app, "POST", "/_sim/faults", json={"path": "/x", "status": 503},
                  headers={"X-Bpsn-Admin-Token": "bpsn-admin-token"})
    assert r.status_code == 201, r.text  # the admin token's own header is a credential form


@pytest.mark.parametrize(("where", "kwargs"), [
    ("header", {"headers": ORG}),
    ("x-auth-token", {"headers": {"x-auth-token": "demo-org-token"}}),
    ("access_token", {"params": {"access_token": "demo-org-token"}}),
])
def test_every_bigpanda_credential_form_still_gets_in(bp: tuple[BigPandaBackend, Any], where: str,
                                                     kwargs: dict[str, Any]) -> None:
    app = bp[1]
    r = call_asgi(app, "POST", "/data/v2/alerts", json=ALERT, **kwargs)
    assert r.status_code == 201, (where, r.text)


def test_public_routes_take_bodies_without_credentials(sn: Any) -> None:
    r = call_asgi(sn, "POST", "/oauth_token.do", data={"grant_type": "password", "client_id": "bpsn-demo-client",
                                                       "client_secret": "bpsn-demo-secret", "username": "admin",
                                                       "password": "admin"})
    assert r.status_code == 200, r.text
    assert call_asgi(sn, "GET", "/_sim/health").status_code == 200


def test_a_request_without_a_body_is_answered_by_the_app_as_before(bp: tuple[BigPandaBackend, Any]) -> None:
    app = bp[1]
    assert call_asgi(app, "GET", "/no/such/route").json() == {"status": 404, "errors": ["Route /no/such/route is not found"]}
    assert call_asgi(app, "GET", "/resources/v2.0/environments").json() == BP_401


# --- over a real socket: a chunked upload past the limit ------------------------------------------

@pytest.fixture
def small_limit_server(monkeypatch: pytest.MonkeyPatch,
                       serve_in_thread: Callable[[Any], str]) -> tuple[str, BigPandaBackend]:
    monkeypatch.setenv("BPSN_BP_MAX_BODY_BYTES", "65536")  # read on the first request
    backend = bp_backend()  # its own: the settings are read when it is built, the limit on its app's first request
    return serve_in_thread(bigpanda_app(backend)), backend


def test_chunked_upload_over_the_limit_gets_413_from_a_real_server(
        small_limit_server: tuple[str, BigPandaBackend]) -> None:
    base, backend = small_limit_server

    def chunks() -> Iterator[bytes]:
        yield b'{"app_key": "demo-alerts-app-key", "host": "h", "status": "critical", "pad": "'
        for _ in range(4):
            yield b"x" * 32768
        yield b'"}'

    with httpx.Client(base_url=base, timeout=10) as c:
        r = c.post("/data/v2/alerts", content=chunks(), headers={**ORG, "content-type": "application/json"})
        assert r.status_code == 413, r.text
        assert r.json()["status"] == 413 and "65536" in r.json()["errors"][0]
    with httpx.Client(base_url=base, timeout=10) as c:  # the server goes on serving
        assert c.post("/data/v2/alerts", json=ALERT, headers=ORG).status_code == 201
    assert len(backend.orgs["demo"].alerts) == 1


def test_fault_rules_still_cut_connections_behind_the_limits(small_limit_server: tuple[str, BigPandaBackend]) -> None:
    """The body guard wraps the server's receive; a drop_connection rule must still find its socket."""
    base, backend = small_limit_server
    backend.faults.add(path="/data/v2/alerts", drop_connection=True, times=1)
    with httpx.Client(base_url=base, timeout=10) as c, pytest.raises(httpx.TransportError):
        c.post("/data/v2/alerts", json=ALERT, headers=ORG)
    with httpx.Client(base_url=base, timeout=10) as c:
        assert c.post("/data/v2/alerts", json=ALERT, headers=ORG).status_code == 201
