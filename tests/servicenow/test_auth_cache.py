"""Basic auth is checked once per password and then remembered (security/passwords.remembered and
the user cache of security/identity): what changes a login's answer takes effect on the very next
request, whatever was remembered. A new password, a deactivated or locked-out user, and roles
taken away or given."""

from __future__ import annotations

import httpx
import pytest

from bpsn.simulator.servicenow.backend import ServiceNowBackend
from bpsn.simulator.servicenow.security import passwords

pytestmark = pytest.mark.anyio
INCIDENTS = "/api/now/table/incident"


async def _new_user(client: httpx.AsyncClient, name: str, password: str, role: str) -> tuple[str, str]:
    """(the user's sys_id, the sys_user_has_role record's sys_id)."""
    made = await client.post("/api/now/table/sys_user", json={"user_name": name, "user_password": password})
    assert made.status_code == 201, made.text
    user = made.json()["result"]["sys_id"]
    found = await client.get("/api/now/table/sys_user_role", params={"sysparm_query": f"name={role}"})
    granted = await client.post("/api/now/table/sys_user_has_role",
                                json={"user": user, "role": found.json()["result"][0]["sys_id"]})
    assert granted.status_code == 201, granted.text
    return user, granted.json()["result"]["sys_id"]


async def _status(client: httpx.AsyncClient, name: str, password: str) -> int:
    return (await client.get(INCIDENTS, params={"sysparm_limit": "1"}, auth=(name, password))).status_code


async def test_a_new_password_is_needed_at_once(client: httpx.AsyncClient) -> None:
    user, _ = await _new_user(client, "carol.cache", "first-Pw-1", "itil")
    assert [await _status(client, "carol.cache", "first-Pw-1") for _ in range(3)] == [200, 200, 200]
    changed = await client.patch(f"/api/now/table/sys_user/{user}", json={"user_password": "second-Pw-2"})
    assert changed.status_code == 200, changed.text
    assert await _status(client, "carol.cache", "first-Pw-1") == 401
    assert await _status(client, "carol.cache", "second-Pw-2") == 200


async def test_a_deactivated_or_locked_out_user_is_refused_at_once(client: httpx.AsyncClient) -> None:
    user, _ = await _new_user(client, "dave.cache", "dave-Pw-1", "itil")
    assert await _status(client, "dave.cache", "dave-Pw-1") == 200
    assert (await client.patch(f"/api/now/table/sys_user/{user}", json={"active": "false"})).status_code == 200
    assert await _status(client, "dave.cache", "dave-Pw-1") == 401
    assert (await client.patch(f"/api/now/table/sys_user/{user}", json={"active": "true"})).status_code == 200
    assert await _status(client, "dave.cache", "dave-Pw-1") == 200
    assert (await client.patch(f"/api/now/table/sys_user/{user}", json={"locked_out": "true"})).status_code == 200
    assert await _status(client, "dave.cache", "dave-Pw-1") == 401


async def test_roles_taken_away_or_given_count_at_once(client: httpx.AsyncClient) -> None:
    _, grant = await _new_user(client, "erin.cache", "erin-Pw-1", "itil")
    assert await _status(client, "erin.cache", "erin-Pw-1") == 200
    assert (await client.delete(f"/api/now/table/sys_user_has_role/{grant}")).status_code == 204
    assert await _status(client, "erin.cache", "erin-Pw-1") == 403  # may no longer read incidents
    user = (await client.get("/api/now/table/sys_user", params={"sysparm_query": "user_name=erin.cache"}))
    await _new_grant(client, user.json()["result"][0]["sys_id"], "itil")
    assert await _status(client, "erin.cache", "erin-Pw-1") == 200


async def _new_grant(client: httpx.AsyncClient, user: str, role: str) -> None:
    found = await client.get("/api/now/table/sys_user_role", params={"sysparm_query": f"name={role}"})
    granted = await client.post("/api/now/table/sys_user_has_role",
                                json={"user": user, "role": found.json()["result"][0]["sys_id"]})
    assert granted.status_code == 201, granted.text


async def test_only_a_successful_password_is_remembered_and_never_in_clear(client: httpx.AsyncClient,
                                                                          backend: ServiceNowBackend) -> None:
    await _new_user(client, "fay.cache", "fay-Pw-1", "itil")
    assert await _status(client, "fay.cache", "wrong-pw") == 401
    assert await _status(client, "fay.cache", "fay-Pw-1") == 200
    remembered = list(passwords._verified.items())
    assert remembered and all(b"fay-Pw-1" not in tag and "fay-Pw-1" not in stored for stored, tag in remembered)
    assert all("wrong-pw" not in stored for stored, _ in remembered)


async def test_a_remembered_header_is_kept_only_as_a_digest(client: httpx.AsyncClient,
                                                            backend: ServiceNowBackend) -> None:
    """The header cache (Identities.known_header) holds no header and no password, and a name locked
    by failed logins is refused even with a header that logged in before."""
    await _new_user(client, "gus.cache", "gus-Pw-1", "itil")
    assert await _status(client, "gus.cache", "gus-Pw-1") == 200
    assert await _status(client, "gus.cache", "gus-Pw-1") == 200
    kept = list(backend.identities._headers.items())
    assert kept and all(len(key) == 32 and b"gus-Pw-1" not in key for key, _ in kept)
    assert all("gus-Pw-1" not in stored for _, (_, stored) in kept)
    for _ in range(backend.settings.login_max_failures):
        assert await _status(client, "gus.cache", "wrong") == 401
    assert await _status(client, "gus.cache", "gus-Pw-1") == 401  # locked: the remembered header is not enough
    backend.clock.advance(backend.settings.login_failure_window + 1)
    assert await _status(client, "gus.cache", "gus-Pw-1") == 200
