"""Attacks on the ServiceNow simulator's secrets: tokens, password hashes, password2 values, logins.

Each test plays a tester who knows how the simulator works (its seed, its code) and tries to get
a credential out of it or past it, in-process as tests/servicenow/conftest.py drives the app.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import AsyncIterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest
from pooled_simulators import servicenow_pool

from bpsn.base.clock import SimClock
from bpsn.base.rng import SeededRandom
from bpsn.simulator.servicenow.app import create_app
from bpsn.simulator.servicenow.backend import ServiceNowBackend
from bpsn.simulator.servicenow.errors import SnError
from bpsn.simulator.servicenow.records.business_rules import Actor
from bpsn.simulator.servicenow.security.password2 import Password2
from bpsn.simulator.servicenow.settings import ServiceNowSettings

pytestmark = pytest.mark.anyio

ADMIN = ("admin", "admin")
ANALYST = ("noc.analyst", "analyst")
INTEGRATION = ("bigpanda.integration", "bigpanda")
# the seeded users' clear passwords that are not also a user name ("admin" is both)
SEEDED_PASSWORDS = ("analyst", "bigpanda", "bigpanda-admin")
CLIENT = {"client_id": "bpsn-demo-client", "client_secret": "bpsn-demo-secret"}
OLD_BUILT_IN_KEY = "bpsn-demo-instance-key"
NOT_AUTHENTICATED = {"error": {"message": "User Not Authenticated", "detail": "Required to provide Auth information"},
                     "status": "failure"}
QUERY_DENIED = "Insufficient rights to query records"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def backend() -> ServiceNowBackend:
    """The pooled instance as a new one starts (its clock at the start, then reset, as
    `/_sim/reset` does): its instance key stays, every record, login count and token goes."""
    return servicenow_pool().as_new()


def _client(backend: ServiceNowBackend, auth: tuple[str, str] | None = ADMIN, app: Any = None) -> httpx.AsyncClient:
    """A client of `backend` through `app`, else the pooled app, else a new app for it."""
    pool = servicenow_pool()
    if app is None and backend is pool.backend:
        app = pool.app
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app if app is not None else create_app(backend)),
                             base_url="http://sn", auth=auth)


@pytest.fixture
async def client(backend: ServiceNowBackend) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(backend) as c:
        yield c


async def password_grant(c: httpx.AsyncClient, user: str, password: str) -> httpx.Response:
    return await c.post("/oauth_token.do", data={"grant_type": "password", "username": user,  # client by form only
                                                  "password": password, **CLIENT}, auth=None)


def assert_no_password_material(text: str) -> None:
    """No hash, no ciphertext, no clear seeded password anywhere in a response body."""
    assert "pbkdf2" not in text and "enc:" not in text
    for clear in SEEDED_PASSWORDS:
        assert f'"{clear}"' not in text


# --- OAuth tokens ------------------------------------------------------------------------------

async def test_two_instances_with_the_same_seed_hand_out_different_tokens(backend: ServiceNowBackend) -> None:
    a, b = backend, ServiceNowBackend(clock=SimClock.virtual())  # a second instance: what this test is about
    async with _client(a, None) as ca, _client(b, None) as cb:
        ta, tb = (await password_grant(ca, *ADMIN)).json(), (await password_grant(cb, *ADMIN)).json()
    admin_a = a.store.select("sys_user")[0]["sys_id"]
    assert admin_a == b.store.select("sys_user")[0]["sys_id"]  # the seed still repeats the data
    assert ta["access_token"] != tb["access_token"] and ta["refresh_token"] != tb["refresh_token"]
    assert len(ta["access_token"]) >= 43  # 256 random bits in URL-safe base64


async def test_a_token_guessed_by_replaying_the_seed_does_not_work(backend: ServiceNowBackend) -> None:
    # The tester knows the seed, so the seeded source's state, and how tokens used to be drawn.
    replay = copy.deepcopy(backend.rng)
    old_access, old_refresh = (replay.hex32() + replay.hex32()[:22] for _ in range(2))
    fresh = SeededRandom(ServiceNowSettings().seed)
    stream = [fresh.hex32() for _ in range(20_000)]
    guesses = {old_access, old_refresh} | set(stream) | {x + y[:22] for x, y in pairwise(stream)}
    async with _client(backend, None) as c:
        issued = (await password_grant(c, *ADMIN)).json()
        assert issued["access_token"] not in guesses and issued["refresh_token"] not in guesses
        for guess in [old_access, *stream[:10]]:
            r = await c.get("/api/now/table/incident", headers={"Authorization": f"Bearer {guess}"})
            assert r.status_code == 401 and r.json() == NOT_AUTHENTICATED
        r = await c.post("/oauth_token.do", data={"grant_type": "refresh_token", "refresh_token": old_refresh, **CLIENT},
                         auth=None)
        assert r.status_code == 401
        r = await c.get("/api/now/table/incident", headers={"Authorization": f"Bearer {issued['access_token']}"})
        assert r.status_code == 200


async def test_a_refresh_keeps_tokens_random(client: httpx.AsyncClient) -> None:
    first = (await password_grant(client, *ADMIN)).json()
    again = (await client.post("/oauth_token.do", data={"grant_type": "refresh_token",
                                                        "refresh_token": first["refresh_token"], **CLIENT},
                               auth=None)).json()
    assert again["access_token"] != first["access_token"]


# --- sys_user.user_password ---------------------------------------------------------------------

@pytest.mark.parametrize("who", [ADMIN, ANALYST], ids=["admin", "noc.analyst"])
@pytest.mark.parametrize("display", ["false", "true", "all"])
async def test_nobody_reads_a_password_back(backend: ServiceNowBackend, who: tuple[str, str], display: str) -> None:
    async with _client(backend, who) as c:
        r = await c.get("/api/now/table/sys_user", params={"sysparm_fields": "user_name,user_password",
                                                            "sysparm_display_value": display})
        assert r.status_code == 200
        users = r.json()["result"]
        assert {u["user_name"] if display != "all" else u["user_name"]["value"] for u in users} >= {"admin"}
        empty = {"display_value": "", "value": ""} if display == "all" else ""
        assert all(u["user_password"] == empty for u in users)
        assert_no_password_material(r.text)
        admin_id = backend.store.select("sys_user")[0]["sys_id"]
        one = await c.get(f"/api/now/table/sys_user/{admin_id}", params={"sysparm_display_value": display})
        assert one.json()["result"]["user_password"] == empty
        assert_no_password_material(one.text)


async def test_the_hash_is_stored_salted_and_never_in_clear(client: httpx.AsyncClient,
                                                            backend: ServiceNowBackend) -> None:
    for name in ("twin.one", "twin.two"):
        r = await client.post("/api/now/table/sys_user", json={"user_name": name, "user_password": "S4me-pass!"})
        assert r.status_code == 201 and r.json()["result"]["user_password"] == ""
    stored = {row["user_name"]: row["user_password"] for row in backend.store.select("sys_user")}
    assert stored["twin.one"].startswith("pbkdf2_sha256$") and "S4me-pass!" not in stored["twin.one"]
    assert stored["twin.one"] != stored["twin.two"]  # a salt per password
    async with _client(backend, ("twin.two", "S4me-pass!")) as twin:
        assert (await twin.get("/api/now/table/sys_user", params={"sysparm_limit": "1"})).status_code == 200


async def test_dot_walking_to_a_password_shows_nothing(client: httpx.AsyncClient, backend: ServiceNowBackend) -> None:
    admin_id = backend.store.select("sys_user")[0]["sys_id"]
    await client.post("/api/now/table/incident", json={"short_description": "x", "caller_id": admin_id})
    for display in ("false", "true", "all"):
        r = await client.get("/api/now/table/incident", params={
            "sysparm_fields": "number,caller_id.user_password,caller_id.user_name", "sysparm_display_value": display})
        row = r.json()["result"][0]
        assert row["caller_id.user_password"] in ("", {"display_value": "", "value": ""})
        assert_no_password_material(r.text)


@pytest.mark.parametrize(("path", "params"), [
    ("/api/now/table/sys_user", {"sysparm_query": "user_passwordSTARTSWITHpbkdf2"}),
    ("/api/now/table/sys_user", {"sysparm_query": "user_name=admin^user_passwordLIKEa"}),
    ("/api/now/table/sys_user", {"sysparm_query": "user_passwordISNOTEMPTY"}),
    ("/api/now/table/sys_user", {"sysparm_query": "user_nameSAMEASuser_password"}),
    ("/api/now/table/sys_user", {"sysparm_query": "user_passwordSAMEASuser_name"}),
    ("/api/now/table/sys_user", {"user_password": "admin"}),  # a name=value filter
    ("/api/now/table/incident", {"sysparm_query": "caller_id.user_passwordSTARTSWITHp"}),
    ("/api/now/stats/sys_user", {"sysparm_count": "true", "sysparm_query": "user_passwordLIKEpbkdf2"}),
    ("/api/now/stats/sys_user", {"sysparm_count": "true", "user_password": "admin"}),
])
async def test_a_query_on_a_password_is_refused(client: httpx.AsyncClient, path: str, params: dict[str, str]) -> None:
    r = await client.get(path, params=params)
    assert r.status_code == 403 and r.json()["error"]["message"] == QUERY_DENIED


async def test_ordering_by_a_password_is_ignored(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/now/table/sys_user", params={"sysparm_query": "ORDERBYuser_password",
                                                             "sysparm_fields": "user_name"})
    assert r.status_code == 200 and r.json()["result"]


async def test_aggregates_never_see_a_password(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/now/stats/sys_user", params={
        "sysparm_count": "true", "sysparm_group_by": "user_password", "sysparm_min_fields": "user_password",
        "sysparm_max_fields": "user_password", "sysparm_display_value": "all"})
    assert r.status_code == 200
    assert_no_password_material(r.text)
    assert "user_password" not in r.text


async def test_a_batch_item_shows_no_password(client: httpx.AsyncClient) -> None:
    items = [{"id": "1", "method": "GET", "url": "/api/now/table/sys_user?sysparm_fields=user_name,user_password",
              "headers": [{"name": "Accept", "value": "application/json"}]},
             {"id": "2", "method": "GET", "url": "/api/now/table/sys_user?sysparm_query=user_passwordLIKEa",
              "headers": [{"name": "Accept", "value": "application/json"}]}]
    r = await client.post("/api/now/v1/batch", json={"batch_request_id": "1", "rest_requests": items})
    served = {i["id"]: i for i in r.json()["serviced_requests"]}
    users = json.loads(base64.b64decode(served["1"]["body"]))["result"]
    assert users and all(u["user_password"] == "" for u in users)
    assert served["2"]["status_code"] == 403
    assert_no_password_material(base64.b64decode(served["1"]["body"]).decode())


async def test_a_password_change_is_audited_without_the_password(client: httpx.AsyncClient,
                                                                 backend: ServiceNowBackend) -> None:
    analyst_id = next(r["sys_id"] for r in backend.store.select("sys_user") if r["user_name"] == ANALYST[0])
    r = await client.patch(f"/api/now/table/sys_user/{analyst_id}", json={"user_password": "N3w-secret"})
    assert r.status_code == 200 and r.json()["result"]["user_password"] == ""
    audit = await client.get("/api/now/table/sys_audit", params={"sysparm_query": "fieldname=user_password"})
    rows = audit.json()["result"]
    assert rows and all(a["oldvalue"] == "" and a["newvalue"] == "" for a in rows)
    assert "N3w-secret" not in audit.text
    assert_no_password_material(audit.text)
    async with _client(backend, (ANALYST[0], "N3w-secret")) as new, _client(backend, ANALYST) as old:
        assert (await new.get("/api/now/table/sys_user", params={"sysparm_limit": "1"})).status_code == 200
        assert (await old.get("/api/now/table/sys_user", params={"sysparm_limit": "1"})).status_code == 401


async def test_writing_back_what_a_read_shows_keeps_the_password(client: httpx.AsyncClient,
                                                                 backend: ServiceNowBackend) -> None:
    analyst_id = next(r["sys_id"] for r in backend.store.select("sys_user") if r["user_name"] == ANALYST[0])
    record = (await client.get(f"/api/now/table/sys_user/{analyst_id}")).json()["result"]
    assert (await client.put(f"/api/now/table/sys_user/{analyst_id}", json=record)).status_code == 200
    async with _client(backend, ANALYST) as analyst:
        assert (await analyst.get("/api/now/table/sys_user", params={"sysparm_limit": "1"})).status_code == 200


# --- failed logins ---------------------------------------------------------------------------------

async def test_the_sixth_bad_password_locks_the_name_until_the_window_passes(backend: ServiceNowBackend) -> None:
    async with _client(backend, ("admin", "wrong")) as bad, _client(backend) as good:
        for _ in range(5):
            assert (await bad.get("/api/now/table/incident")).status_code == 401
        assert not any("login_refused" in e.notes for e in backend.journal.find(path="/api/now/table/incident"))
        r = await good.get("/api/now/table/incident")  # the right password, refused unchecked
        assert r.status_code == 401 and r.json() == NOT_AUTHENTICATED
        assert "login_refused" in backend.journal.find(path="/api/now/table/incident")[-1].notes
        async with _client(backend, ANALYST) as other:  # other names are not affected
            assert (await other.get("/api/now/table/sys_user", params={"sysparm_limit": "1"})).status_code == 200
        backend.clock.advance(59)
        assert (await good.get("/api/now/table/incident")).status_code == 401
        backend.clock.advance(2)
        assert (await good.get("/api/now/table/incident")).status_code == 200


async def test_oauth_password_grants_are_limited_too(backend: ServiceNowBackend) -> None:
    async with _client(backend, None) as c, _client(backend, ("admin", "wrong")) as bad:
        for _ in range(3):
            assert (await password_grant(c, "admin", "wrong")).status_code == 401
        for _ in range(2):  # basic auth and the password grant share the count
            assert (await bad.get("/api/now/table/incident")).status_code == 401
        r = await password_grant(c, *ADMIN)
        assert r.status_code == 401 and r.json() == {"error_description": "access_denied", "error": "server_error"}
        backend.clock.advance(61)
        assert (await password_grant(c, *ADMIN)).status_code == 200


async def test_a_wrong_client_secret_is_no_failed_login(backend: ServiceNowBackend) -> None:
    async with _client(backend, None) as c:
        for _ in range(10):
            r = await c.post("/oauth_token.do", data={"grant_type": "password", "username": "admin",
                                                      "password": "admin", "client_id": CLIENT["client_id"],
                                                      "client_secret": "guess"})
            assert r.status_code == 401
        assert (await password_grant(c, *ADMIN)).status_code == 200


async def test_unknown_names_are_counted_and_a_success_forgets_failures(backend: ServiceNowBackend) -> None:
    async with _client(backend, ("nobody", "x")) as ghost:
        for _ in range(6):
            assert (await ghost.get("/api/now/table/incident")).status_code == 401
    assert backend.identities.login_refused("nobody")
    async with _client(backend, ("admin", "wrong")) as bad, _client(backend) as good:
        for _ in range(4):
            await bad.get("/api/now/table/incident")
        assert (await good.get("/api/now/table/incident")).status_code == 200
        for _ in range(4):
            await bad.get("/api/now/table/incident")
        assert (await good.get("/api/now/table/incident")).status_code == 200


async def test_the_limits_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BPSN_SN_LOGIN_MAX_FAILURES", "2")
    monkeypatch.setenv("BPSN_SN_LOGIN_FAILURE_WINDOW", "10")
    # an instance of its own: the login throttle takes its limits from the settings when built
    backend = ServiceNowBackend(ServiceNowSettings(), clock=SimClock.virtual())
    app = create_app(backend)
    async with _client(backend, ("admin", "wrong"), app) as bad, _client(backend, app=app) as good:
        for _ in range(2):
            await bad.get("/api/now/table/incident")
        assert (await good.get("/api/now/table/incident")).status_code == 401
        backend.clock.advance(11)
        assert (await good.get("/api/now/table/incident")).status_code == 200
    descriptions = {n: f.description or "" for n, f in ServiceNowSettings.model_fields.items()}
    assert "401" in descriptions["login_max_failures"] and "seconds" in descriptions["login_failure_window"].lower()


# --- password2 -------------------------------------------------------------------------------------

def stored_secret(backend: ServiceNowBackend, sys_id: str) -> str:
    """What the store holds (a tester with the state file or a snapshot sees this much)."""
    row = backend.store.get("x_bip_panda_config", sys_id)
    assert row is not None
    return row["u_api_secret"]


async def _password2_column(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/now/table/sys_dictionary", json={
        "name": "x_bip_panda_config", "element": "u_api_secret", "internal_type": "password2"})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("who", [ADMIN, ("bigpanda.admin", "bigpanda-admin")], ids=["admin", "bigpanda.admin"])
async def test_password2_values_never_come_back_in_clear(backend: ServiceNowBackend, who: tuple[str, str]) -> None:
    async with _client(backend) as admin:
        await _password2_column(admin)
        created = await admin.post("/api/now/table/x_bip_panda_config", json={"u_api_secret": "T0p-secret-value"})
        assert created.status_code == 201 and created.json()["result"]["u_api_secret"] == "********"
        sys_id = created.json()["result"]["sys_id"]
    async with _client(backend, who) as c:
        for display in ("false", "true", "all"):
            for r in (await c.get("/api/now/table/x_bip_panda_config", params={"sysparm_display_value": display}),
                      await c.get(f"/api/now/table/x_bip_panda_config/{sys_id}",
                                  params={"sysparm_display_value": display, "sysparm_fields": "u_api_secret"})):
                assert r.status_code == 200 and "T0p-secret-value" not in r.text and "enc:" not in r.text
        shown = (await c.get(f"/api/now/table/x_bip_panda_config/{sys_id}",
                             params={"sysparm_display_value": "all"})).json()["result"]["u_api_secret"]
        assert shown == {"display_value": "********", "value": "********"}
        r = await c.get("/api/now/table/x_bip_panda_config", params={"sysparm_query": "u_api_secretSTARTSWITHenc:"})
        assert r.status_code == 403


async def test_password2_is_encrypted_under_a_random_instance_key(client: httpx.AsyncClient,
                                                                  backend: ServiceNowBackend) -> None:
    await _password2_column(client)
    sys_id = (await client.post("/api/now/table/x_bip_panda_config",
                                json={"u_api_secret": "T0p-secret-value"})).json()["result"]["sys_id"]
    stored = stored_secret(backend, sys_id)
    assert stored.startswith("enc:") and "T0p-secret-value" not in stored
    assert backend.secrets.decrypt(stored) == "T0p-secret-value"
    assert Password2(OLD_BUILT_IN_KEY).decrypt(stored) == ""  # no key ships with the package
    # nor repeats with the seed: another instance (a key is drawn per start, which reset() keeps)
    assert ServiceNowBackend(clock=SimClock.virtual()).secrets.decrypt(stored) == ""
    # the mask written back (a PUT of what was read) keeps the value; a new value replaces it
    record = (await client.get(f"/api/now/table/x_bip_panda_config/{sys_id}")).json()["result"]
    await client.put(f"/api/now/table/x_bip_panda_config/{sys_id}", json=record)
    assert backend.secrets.decrypt(stored_secret(backend, sys_id)) == "T0p-secret-value"
    await client.patch(f"/api/now/table/x_bip_panda_config/{sys_id}", json={"u_api_secret": "enc:forged"})
    assert backend.secrets.decrypt(stored_secret(backend, sys_id)) == "enc:forged"
    audit = await client.get("/api/now/table/sys_audit", params={"sysparm_query": "fieldname=u_api_secret"})
    assert audit.json()["result"] and "enc:" not in audit.text and "T0p-secret" not in audit.text


def test_a_configured_key_decrypts_across_instances(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ServiceNowSettings().encryption_key is None
    monkeypatch.setenv("BPSN_SN_ENCRYPTION_KEY", "a-key-of-our-own")
    first, second = (ServiceNowBackend(ServiceNowSettings(), clock=SimClock.virtual())  # two: what this test is about
                     for _ in range(2))
    assert second.secrets.decrypt(first.secrets.encrypt("kept")) == "kept"
    assert "a-key-of-our-own" not in repr(ServiceNowSettings())


def test_a_password_field_cannot_have_a_clear_default(backend: ServiceNowBackend) -> None:
    with pytest.raises(SnError) as refused:
        backend.insert("sys_dictionary", {"name": "x_bip_panda_config", "element": "u_pin", "internal_type": "password2",
                                          "default_value": "1234"}, Actor("admin", "", frozenset({"admin"})))
    assert refused.value.status_code == 403


async def test_a_snapshot_holds_no_secret_in_clear(client: httpx.AsyncClient, backend: ServiceNowBackend,
                                                   tmp_path: Path) -> None:
    await _password2_column(client)
    await client.post("/api/now/table/x_bip_panda_config", json={"u_api_secret": "Zz-password2-clear"})
    await client.post("/api/now/table/sys_user", json={"user_name": "snap.user", "user_password": "Zz-one-way-clear"})
    snapshot = tmp_path / "sn.sqlite"
    backend.store.backup_to(str(snapshot))
    data = snapshot.read_bytes()
    assert b"Zz-password2-clear" not in data and b"Zz-one-way-clear" not in data
