"""OAuth client authentication by HTTP Basic (RFC 6749 2.3.1) on /oauth_token.do, as
requests-oauthlib (under pysnc and pysnow) sends it, next to the form fields."""

from __future__ import annotations

import base64

import httpx
import pytest

pytestmark = pytest.mark.anyio

TOKEN = "/oauth_token.do"
CLIENT, SECRET = "bpsn-demo-client", "bpsn-demo-secret"
DENIED = {"error_description": "access_denied", "error": "server_error"}


def basic(cid: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{cid}:{secret}".encode()).decode()}


async def token(client: httpx.AsyncClient, form: dict[str, str], headers: dict[str, str] | None = None) -> httpx.Response:
    # auth=None: the fixture's admin Basic credentials must not be sent as client credentials
    return await client.post(TOKEN, data=form, headers=headers or {}, auth=None)


PASSWORD = {"grant_type": "password", "username": "admin", "password": "admin"}


async def test_basic_client_credentials_work(client: httpx.AsyncClient) -> None:
    r = await token(client, PASSWORD, basic(CLIENT, SECRET))
    assert r.status_code == 200, r.text
    access = r.json()["access_token"]
    me = await client.get("/api/now/table/sys_user", params={"sysparm_query": "user_name=admin"},
                          headers={"Authorization": f"Bearer {access}"}, auth=None)
    assert me.status_code == 200 and me.json()["result"][0]["user_name"] == "admin"
    refreshed = await token(client, {"grant_type": "refresh_token", "refresh_token": r.json()["refresh_token"]},
                            basic(CLIENT, SECRET))
    assert refreshed.status_code == 200, refreshed.text


async def test_form_fields_still_work_and_may_repeat_basic(client: httpx.AsyncClient) -> None:
    form = {**PASSWORD, "client_id": CLIENT, "client_secret": SECRET}
    assert (await token(client, form)).status_code == 200
    assert (await token(client, form, basic(CLIENT, SECRET))).status_code == 200
    # RFC 6749 allows the id alone in the body next to Basic
    assert (await token(client, {**PASSWORD, "client_id": CLIENT}, basic(CLIENT, SECRET))).status_code == 200


@pytest.mark.parametrize(("form", "header"), [
    ({"client_id": CLIENT, "client_secret": "other"}, basic(CLIENT, SECRET)),  # disagreeing secret
    ({"client_id": "other", "client_secret": SECRET}, basic(CLIENT, SECRET)),  # disagreeing id
    ({"client_id": CLIENT, "client_secret": SECRET}, basic(CLIENT, "wrong")),  # a wrong Basic, right form
    ({}, basic(CLIENT, "wrong")),
    ({}, basic("nobody", SECRET)),
    ({}, {"Authorization": "Basic !!notbase64"}),
    ({}, {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()}),
])
async def test_refused_like_a_wrong_secret(client: httpx.AsyncClient, form: dict[str, str],
                                           header: dict[str, str]) -> None:
    r = await token(client, {**PASSWORD, **form}, header)
    assert r.status_code == 401 and r.json() == DENIED


async def test_wrong_client_is_no_failed_login(client: httpx.AsyncClient) -> None:
    for _ in range(8):  # more than the login throttle allows
        await token(client, PASSWORD, basic(CLIENT, "wrong"))
    assert (await token(client, PASSWORD, basic(CLIENT, SECRET))).status_code == 200
