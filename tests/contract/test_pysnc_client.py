"""pysnc (ServiceNow's own Python client), used through its documented API, against the
ServiceNow simulator over real HTTP; aiosnow for a smaller check.

What pysnc 1.2 does on the wire (read from its source, relied on below):
* GlideRecord.query() is GET /api/now/table/<t> with sysparm_display_value=all,
  sysparm_exclude_reference_link=true, sysparm_suppress_pagination_header=true and the encoded
  query with `^ORDERBYsys_id` appended; get(sys_id) is GET /api/now/table/<t>/<sys_id>;
* add_query(f, 'CONTAINS', v) writes `fCONTAINSv`; add_join_query writes
  `JOIN<t>.<f>=<jt>.<jf>!<condition>`; add_rl_query writes `RLQUERY<t>.<f>,<op>[,m2m]^...^ENDRLQUERY`;
* ServiceNowPasswordGrantFlow fetches its token through requests-oauthlib, which sends the client
  id and secret as HTTP Basic, not as form fields (so the simulator must accept Basic).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from bpsn.bench.serve import threaded
from bpsn.load.processes import free_port
from bpsn.simulator.servicenow.app import create_app
from bpsn.simulator.servicenow.backend import ServiceNowBackend
from bpsn.simulator.servicenow.settings import ServiceNowSettings

pysnc = pytest.importorskip("pysnc")

ADMIN = ("admin", "admin")  # ServiceNowSettings.admin_password
CLIENT = ("bpsn-demo-client", "bpsn-demo-secret")
ADMIN_USER = "6816f79cc0a8016401c5a33be04be441"  # the admin user on every instance
ADMIN_ROLE = "2831a114c611228501d4ea6c309d626d"  # the admin role on every instance


@contextmanager
def _serve(cert: tuple[str, str] | None) -> Iterator[str]:
    """The ServiceNow simulator on a free port, in a background thread; always stopped.
    cert: (certfile, keyfile) to serve HTTPS, which pysnc insists on (it refuses http:// URLs)."""
    port = free_port()
    backend = ServiceNowBackend(ServiceNowSettings(instance_url=f"{'https' if cert else 'http'}://127.0.0.1:{port}"))
    backend.insert_system("incident", {"short_description": "Disk full on web01", "caller_id": ADMIN_USER})
    backend.insert_system("incident", {"short_description": "Network down"})
    with threaded(create_app(backend), port=port, tls=cert) as url:
        yield url


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A throwaway self-signed certificate for 127.0.0.1, made with the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to serve HTTPS for pysnc")
    d = tmp_path_factory.mktemp("tls")
    certfile, keyfile = str(d / "cert.pem"), str(d / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", keyfile, "-out", certfile, "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=60)
    return certfile, keyfile


@pytest.fixture(scope="module")
def base_url(cert: tuple[str, str]) -> Iterator[str]:
    with _serve(cert) as url:
        yield url


@pytest.fixture
def trusted(cert: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """Make requests trust the throwaway certificate: pysnc sends with verify=None, so requests
    takes REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE over the session's own `verify`."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", cert[0])
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    return cert[0]


@pytest.fixture
def basic(base_url: str, trusted: str) -> Iterator[object]:
    client = pysnc.ServiceNowClient(base_url, ADMIN, verify=trusted)
    yield client
    client.session.close()


@pytest.fixture
def oauth(base_url: str, trusted: str) -> Iterator[object]:
    flow = pysnc.ServiceNowPasswordGrantFlow(ADMIN[0], ADMIN[1], *CLIENT)
    client = pysnc.ServiceNowClient(base_url, flow, verify=trusted)
    yield client
    client.session.close()


def values(gr: object, field: str) -> list[str]:
    out = []
    while gr.next():  # type: ignore[attr-defined]
        out.append(gr.get_value(field))  # type: ignore[attr-defined]
    return sorted(out)


@pytest.mark.parametrize("client_fixture", ["basic", "oauth"])
def test_get_the_admin_by_its_well_known_sys_id(request: pytest.FixtureRequest, client_fixture: str) -> None:
    client = request.getfixturevalue(client_fixture)
    gr = client.GlideRecord("sys_user")
    assert gr.get(ADMIN_USER)
    assert gr.get_value("user_name") == "admin"
    gr = client.GlideRecord("sys_user")
    assert gr.get("sys_id", ADMIN_USER) and gr.get_value("user_name") == "admin"
    assert not client.GlideRecord("sys_user").get("bunk")


def test_oauth_session_holds_a_bearer_token(oauth: object) -> None:
    assert oauth.session.token["token_type"] == "Bearer"  # type: ignore[attr-defined]
    gr = oauth.GlideRecord("sys_user")  # type: ignore[attr-defined]
    gr.add_query("user_name", "admin")
    gr.query()
    assert values(gr, "sys_id") == [ADMIN_USER]


def test_wrong_client_secret_is_refused(base_url: str, trusted: str) -> None:
    from oauthlib.oauth2.rfc6749.errors import OAuth2Error
    flow = pysnc.ServiceNowPasswordGrantFlow(ADMIN[0], ADMIN[1], CLIENT[0], "wrong")
    with pytest.raises(OAuth2Error, match="access_denied"):
        pysnc.ServiceNowClient(base_url, flow, verify=trusted)


def test_contains_and_does_not_contain(basic: object) -> None:
    gr = basic.GlideRecord("incident")  # type: ignore[attr-defined]
    gr.add_query("short_description", "CONTAINS", "disk")
    assert gr.get_encoded_query() == "short_descriptionCONTAINSdisk^ORDERBYsys_id"
    gr.query()
    assert values(gr, "short_description") == ["Disk full on web01"]
    gr = basic.GlideRecord("incident")  # type: ignore[attr-defined]
    gr.add_query("short_description", "DOES NOT CONTAIN", "disk")
    gr.query()
    assert "Disk full on web01" not in values(gr, "short_description")


def test_or_condition_and_null_queries(basic: object) -> None:
    gr = basic.GlideRecord("sys_user")  # type: ignore[attr-defined]
    gr.add_query("user_name", "admin").add_or_condition("user_name", "bob.dba")
    gr.query()
    assert values(gr, "user_name") == ["admin", "bob.dba"]
    gr = basic.GlideRecord("sys_user")  # type: ignore[attr-defined]
    gr.add_not_null_query("email")
    gr.add_null_query("name")
    gr.query()
    assert gr.get_row_count() == 0


def test_instanceof(basic: object) -> None:
    gr = basic.GlideRecord("cmdb_ci")  # type: ignore[attr-defined]
    gr.add_query("sys_class_name", "INSTANCEOF", "cmdb_ci_server")
    gr.query()
    assert values(gr, "name") == ["ad-prod-01", "db-prod-01", "web-prod-01", "web-prod-02"]


def test_join_query(basic: object) -> None:
    # pysnc's own test_join_query_2, on the simulator's seed: the users holding the admin role
    gr = basic.GlideRecord("sys_user")  # type: ignore[attr-defined]
    join = gr.add_join_query("sys_user_has_role", join_table_field="user")
    join.add_query("role", ADMIN_ROLE)
    # with no other condition pysnc returns the join alone, without its usual ^ORDERBYsys_id
    assert gr.get_encoded_query() == f"JOINsys_user.sys_id=sys_user_has_role.user!role={ADMIN_ROLE}"
    gr.query()
    assert values(gr, "user_name") == ["admin"]
    # a reference on the queried table joined to the other table's sys_id
    gr = basic.GlideRecord("incident")  # type: ignore[attr-defined]
    gr.add_join_query("sys_user", primary_field="caller_id").add_query("user_name", "admin")
    gr.query()
    assert values(gr, "short_description") == ["Disk full on web01"]


def test_rl_query(basic: object) -> None:
    gr = basic.GlideRecord("sys_user")  # type: ignore[attr-defined]
    gr.add_rl_query("sys_user_has_role", "user", ">0", True).add_query("role.name", "LIKE", "itil")
    assert gr.get_encoded_query() == "RLQUERYsys_user_has_role.user,>0,m2m^role.nameLIKEitil^ENDRLQUERY"
    gr.query()
    assert values(gr, "user_name") == ["alice.ops", "bigpanda.integration", "bob.dba"]
    gr = basic.GlideRecord("sys_user")  # type: ignore[attr-defined]
    gr.add_encoded_query("RLQUERYsys_user_has_role.user,=0^ENDRLQUERY")
    gr.query()
    assert gr.get_row_count() == 0  # every seeded user holds a role


def test_unsupported_operator_is_a_request_error(basic: object) -> None:
    gr = basic.GlideRecord("incident")  # type: ignore[attr-defined]
    gr.add_query("opened_at", "ON", "Today@javascript:gs.beginningOfToday()@javascript:gs.endOfToday()")
    with pytest.raises(pysnc.exceptions.RequestException, match="Invalid query"):
        gr.query()


def test_aiosnow_select() -> None:
    """aiosnow 0.6 over plain HTTP: its Client forces certificate verification on (`verify_ssl or
    True`), but builds the URL from use_ssl, so use_ssl=False talks http:// to the simulator."""
    aiosnow = pytest.importorskip("aiosnow")
    from aiosnow.models import TableModel, fields

    class User(TableModel):
        sys_id = fields.String(is_primary=True)
        user_name = fields.String()
        name = fields.String()

    async def run(address: str) -> list[str]:
        client = aiosnow.Client(address, basic_auth=ADMIN, use_ssl=False)
        async with User(client, table_name="sys_user") as users:
            found = await users.get_one(User.sys_id == ADMIN_USER)
            assert found.data["user_name"] == "admin"
            rows = await users.get(User.name.contains("Admin"))  # aiosnow writes `name*Admin`
            return sorted(r["user_name"] for r in rows.data)

    with _serve(None) as url:
        assert asyncio.run(run(url.removeprefix("http://"))) == ["admin", "bigpanda.admin"]
