"""Attacks through snapshots and fixtures, on both simulators.

A snapshot that carries a pickle (which would run a command on load), a snapshot name that
leads out of the snapshot directory (absolute, `..`, a symlink), a SQLite file with triggers:
each is refused with 400 and changes nothing. A BigPanda snapshot file never holds a credential
in clear, yet loads back with working credentials under the same settings. Fixtures load whole
or not at all.
"""

from __future__ import annotations

import json
import os
import pickle
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from pooled_simulators import bigpanda_pool, servicenow_pool

from bpsn.simulator.bigpanda.admin import fixtures as bp_fixtures
from bpsn.simulator.bigpanda.admin import snapshot
from bpsn.simulator.bigpanda.admin.snapshot import PICKLE_MAGIC
from bpsn.simulator.bigpanda.admin.snapshot_doc import sealer
from bpsn.simulator.bigpanda.backend import BigPandaBackend
from bpsn.simulator.bigpanda.errors import BpError
from bpsn.simulator.bigpanda.settings import BigPandaSettings
from bpsn.simulator.common.fixtures import example_fixtures, read_fixture_file
from bpsn.simulator.servicenow.backend import ServiceNowBackend
from bpsn.testing import call_asgi

BP_ADMIN = {"X-Bpsn-Admin-Token": "bpsn-admin-token"}
SN_ADMIN = {"Authorization": "Basic YWRtaW46YWRtaW4="}  # admin / admin
ORG = {"Authorization": "Bearer demo-org-token"}
ESCAPES = ["/etc/passwd", "../outside.snap", "sub/../../outside.snap", "..", "escape/outside.snap"]


class Exploit:
    """Unpickling this runs a shell command that leaves a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return os.system, (f"touch {self.marker}",)


def as_new(backend: Any, tmp_path: Path, **settings: Any) -> None:
    """The process's pooled simulator (pooled_simulators.py) as a new one starts with these settings,
    saving into this test's folder: on a copy of its settings, so the pool puts its own back."""
    backend.settings = backend.settings.model_copy(update={"snapshot_dir": tmp_path / "snapshots", **settings})
    backend.reset()


@pytest.fixture
def bigpanda(tmp_path: Path) -> FastAPI:
    pool = bigpanda_pool()
    as_new(pool.as_new(), tmp_path, rate_limit_enabled=False)  # every organisation's limits off, as before
    return pool.app


@pytest.fixture
def servicenow(tmp_path: Path) -> FastAPI:
    pool = servicenow_pool()
    as_new(pool.as_new(), tmp_path)
    return pool.app


def bp_alert(app: FastAPI, host: str) -> str:
    r = call_asgi(app, "POST", "/data/v2/alerts", headers=ORG,
                  json={"app_key": "demo-alerts-app-key", "status": "critical", "host": host, "check": "cpu"})
    assert r.status_code == 201, r.text
    return str(r.json()["alerts"][0]["incident_id"])


def bp_state(app: FastAPI) -> dict[str, Any]:
    """The whole state as its snapshot document, credentials opened (Fernet tokens differ per write)."""
    backend: BigPandaBackend = app.state.backend
    document = json.loads(snapshot.dumps(backend))
    for org in document["organizations"]:
        org["credentials"] = json.loads(sealer(backend.settings).decrypt(org["credentials"].encode()))
    return {k: v for k, v in document.items() if k != "saved_at"}


def outside_and_link(tmp_path: Path) -> Path:
    """A directory outside the snapshot directory, and a symlink to it from inside."""
    directory = tmp_path / "snapshots"
    directory.mkdir(exist_ok=True)
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    (directory / "escape").symlink_to(outside)
    (outside / "outside.snap").write_bytes(b"not yours")
    return outside


# --- BigPanda ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("framed", [True, False])
def test_a_pickle_bearing_snapshot_runs_nothing_and_changes_nothing(bigpanda: FastAPI, tmp_path: Path,
                                                                    framed: bool) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"orgs": Exploit(marker), "rng": None})
    directory = tmp_path / "snapshots"
    directory.mkdir()
    (directory / "evil").write_bytes(PICKLE_MAGIC + b'{"format": 1}\n' + payload if framed else payload)
    incident = bp_alert(bigpanda, "web-1")
    before = bp_state(bigpanda)
    r = call_asgi(bigpanda, "POST", "/_sim/snapshot/load", headers=BP_ADMIN, json={"path": "evil"})
    assert r.status_code == 400 and r.json()["status"] == 400, r.text
    assert not marker.exists()
    assert bp_state(bigpanda) == before and incident in bigpanda.state.backend.orgs["demo"].incidents


def test_a_pickle_inside_the_json_document_is_only_data(bigpanda: FastAPI, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    directory = tmp_path / "snapshots"
    call_asgi(bigpanda, "POST", "/_sim/snapshot/save", headers=BP_ADMIN, json={"path": "s"})
    document = json.loads((directory / "s").read_bytes())
    document["organizations"][0]["environments"][0]["description"] = pickle.dumps(Exploit(marker)).hex()
    document["organizations"][0]["environments"][0]["__reduce__"] = "os.system"
    (directory / "s").write_text(json.dumps(document))
    before = bp_state(bigpanda)
    r = call_asgi(bigpanda, "POST", "/_sim/snapshot/load", headers=BP_ADMIN, json={"path": "s"})
    assert r.status_code == 400 and "__reduce__" in r.json()["errors"][0]
    assert not marker.exists() and bp_state(bigpanda) == before


@pytest.mark.parametrize("name", ESCAPES)
def test_bigpanda_snapshot_names_cannot_leave_the_directory(bigpanda: FastAPI, tmp_path: Path, name: str) -> None:
    outside = outside_and_link(tmp_path)
    bp_alert(bigpanda, "web-1")
    before = bp_state(bigpanda)
    for route in ("/_sim/snapshot/save", "/_sim/snapshot/load"):
        r = call_asgi(bigpanda, "POST", route, headers=BP_ADMIN, json={"path": name})
        assert r.status_code == 400 and "snapshot directory" in r.json()["errors"][0], r.text
    assert (outside / "outside.snap").read_bytes() == b"not yours" and sorted(os.listdir(outside)) == ["outside.snap"]
    assert bp_state(bigpanda) == before


def test_a_snapshot_file_holds_no_credential_in_clear(bigpanda: FastAPI, tmp_path: Path) -> None:
    backend: BigPandaBackend = bigpanda.state.backend
    bp_fixtures.load_fixtures(backend, read_fixture_file(example_fixtures("bigpanda")))
    env = next(iter(backend.orgs["demo"].environments.values()))
    pushed = call_asgi(bigpanda, "PUT", f"/_sim/organizations/demo/environments/{env.id}/push", headers=BP_ADMIN,
                       json={"url": "http://127.0.0.1:9/hook", "headers": {"Authorization": "Bearer push-secret"}})
    assert pushed.status_code == 200, pushed.text
    saved = call_asgi(bigpanda, "POST", "/_sim/snapshot/save", headers=BP_ADMIN, json={"path": "s.json"})
    assert saved.status_code == 200, saved.text
    text = (tmp_path / "snapshots" / "s.json").read_text()
    secrets = {"push-secret", backend.settings.admin_token.get_secret_value()}
    for org in backend.orgs.values():
        secrets |= {org.org_token, *org.user_api_keys, *org.app_keys.values(), *org.integrations}
    assert len(secrets) > 8
    assert [s for s in secrets if s in text] == []


def test_credentials_work_after_a_load_under_the_same_settings(tmp_path: Path) -> None:
    """The CLI's --state-file path: fixture organisations keep working tokens across a restart."""
    path = tmp_path / "state.json"
    # backends of their own (no app): the test is of new simulators, under the same settings and other ones
    first = BigPandaBackend(BigPandaSettings(admin_token="site-token"))
    bp_fixtures.load_fixtures(first, read_fixture_file(example_fixtures("bigpanda")))
    snapshot.save(first, str(path))
    again = BigPandaBackend(BigPandaSettings(admin_token="site-token"))
    snapshot.load(again, str(path))
    for org in first.orgs.values():
        assert again.resolve_token(org.org_token).org.name == org.name
        assert all(again.resolve_token(key).kind == "user" for key in org.user_api_keys)
        assert again.orgs[org.name].app_keys == org.app_keys
    stranger = BigPandaBackend(BigPandaSettings(admin_token="another-site"))
    with pytest.raises(BpError, match="credentials cannot be decrypted"):
        snapshot.load(stranger, str(path))
    assert list(stranger.orgs) == ["demo"]


def test_bigpanda_fixtures_are_all_or_nothing_when_applying_fails(bigpanda: FastAPI,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Checked whole first (tests/bigpanda cover that); a failure half-way through applying a valid
    file puts everything back too: organisations, incidents, the random source."""
    backend: BigPandaBackend = bigpanda.state.backend
    bp_alert(bigpanda, "web-1")
    before, rng = bp_state(bigpanda), backend.rng.getstate()
    calls: list[str] = []
    real = bp_fixtures.act.define_tag

    def flaky(org: Any, name: str, *args: Any) -> Any:
        calls.append(name)
        if len(calls) == 2:
            raise BpError(409, f"tag {name} refused half-way")
        return real(org, name, *args)

    monkeypatch.setattr(bp_fixtures.act, "define_tag", flaky)
    r = call_asgi(bigpanda, "POST", "/_sim/fixtures", headers=BP_ADMIN,
                  json=read_fixture_file(example_fixtures("bigpanda")))
    assert r.status_code == 400 and "refused half-way" in r.json()["errors"][0], r.text
    assert len(calls) == 2 and list(backend.orgs) == ["demo"]
    assert bp_state(bigpanda) == before and backend.rng.getstate() == rng


# --- ServiceNow -------------------------------------------------------------------------------------
def sn_count(app: FastAPI, table: str) -> int:
    r = call_asgi(app, "GET", f"/api/now/stats/{table}", headers=SN_ADMIN, params={"sysparm_count": "true"})
    assert r.status_code == 200, r.text
    return int(r.json()["result"]["stats"]["count"])


@pytest.mark.parametrize("name", ESCAPES)
def test_servicenow_snapshot_names_cannot_leave_the_directory(servicenow: FastAPI, tmp_path: Path,
                                                              name: str) -> None:
    outside = outside_and_link(tmp_path)
    before = sn_count(servicenow, "sys_user_group")
    for route in ("/_sim/snapshot/save", "/_sim/snapshot/load"):
        r = call_asgi(servicenow, "POST", route, headers=SN_ADMIN, json={"path": name})
        assert r.status_code == 400 and r.json()["status"] == "failure", r.text
    assert (outside / "outside.snap").read_bytes() == b"not yours" and sorted(os.listdir(outside)) == ["outside.snap"]
    assert sn_count(servicenow, "sys_user_group") == before


@pytest.mark.parametrize("kind", ["pickle", "text", "trigger", "foreign"])
def test_a_servicenow_snapshot_that_is_not_ours_is_refused(servicenow: FastAPI, tmp_path: Path, kind: str) -> None:
    directory = tmp_path / "snapshots"
    saved = call_asgi(servicenow, "POST", "/_sim/snapshot/save", headers=SN_ADMIN, json={"path": "bad"})
    assert saved.status_code == 200 and directory.is_dir(), saved.text
    bad = directory / "bad"
    if kind == "pickle":
        bad.write_bytes(pickle.dumps(Exploit(tmp_path / "pwned")))
    elif kind == "text":
        bad.write_text("hello")
    elif kind == "trigger":  # SQL the instance would run on its next write
        with sqlite3.connect(bad) as db:
            db.execute('CREATE TRIGGER t AFTER INSERT ON "task" BEGIN DELETE FROM sys_user; END')
    else:
        bad.unlink()
        with sqlite3.connect(bad) as db:
            db.execute("CREATE TABLE x (y)")
    before = sn_count(servicenow, "sys_user")
    r = call_asgi(servicenow, "POST", "/_sim/snapshot/load", headers=SN_ADMIN, json={"path": "bad"})
    assert r.status_code == 400 and r.json()["status"] == "failure", r.text
    assert sn_count(servicenow, "sys_user") == before and not (tmp_path / "pwned").exists()


def test_servicenow_fixtures_are_all_or_nothing(servicenow: FastAPI) -> None:
    """A record refused half-way (a sys_id used twice) leaves no earlier record of the body behind."""
    backend: ServiceNowBackend = servicenow.state.backend
    groups, incidents = sn_count(servicenow, "sys_user_group"), sn_count(servicenow, "incident")
    numbers, sys_id = dict(backend.numbers.next), "f" * 32
    twice = [{"user_name": "dup-1", "sys_id": sys_id}, {"user_name": "dup-2", "sys_id": sys_id}]
    body = {"tables": {"sys_user_group": [{"name": "First"}, {"name": "Second"}],
                       "incident": [{"short_description": "numbered"}], "sys_user": twice}}
    r = call_asgi(servicenow, "POST", "/_sim/fixtures", headers=SN_ADMIN, json=body)
    assert r.status_code == 403, r.text
    assert (sn_count(servicenow, "sys_user_group"), sn_count(servicenow, "incident")) == (groups, incidents)
    assert backend.numbers.next == numbers  # the refused incident's number is handed out again
    good = call_asgi(servicenow, "POST", "/_sim/fixtures", headers=SN_ADMIN, json={"tables": body["tables"] | {
        "sys_user": twice[:1]}})
    assert good.status_code == 201 and good.json() == {"inserted": 4}, good.text
    assert sn_count(servicenow, "sys_user_group") == groups + 2


def test_servicenow_fixtures_roll_back_a_column_added_half_way(servicenow: FastAPI) -> None:
    backend: ServiceNowBackend = servicenow.state.backend
    body = {"tables": {"sys_dictionary": [{"name": "incident", "element": "u_rollback_probe",
                                           "internal_type": "string", "max_length": "40"}],
                       "sys_user": [{"user_name": "x", "sys_id": "e" * 32}, {"user_name": "y", "sys_id": "e" * 32}]}}
    r = call_asgi(servicenow, "POST", "/_sim/fixtures", headers=SN_ADMIN, json=body)
    assert r.status_code in (400, 403), r.text
    assert "u_rollback_probe" not in backend.dictionary.fields("incident")
    later = call_asgi(servicenow, "POST", "/api/now/table/incident", headers=SN_ADMIN, json={"short_description": "z"})
    assert later.status_code == 201, later.text
