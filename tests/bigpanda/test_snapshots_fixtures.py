"""Snapshots (save, reset, load gives equal API answers; versioned files) and seed fixtures
(validated whole, named errors, the example file, the `sim bigpanda` options)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from bpsn.base.clock import SimClock
from bpsn.simulator.bigpanda.admin import snapshot
from bpsn.simulator.bigpanda.admin.fixtures import load_fixtures
from bpsn.simulator.bigpanda.admin.snapshot import PICKLE_MAGIC
from bpsn.simulator.bigpanda.backend import BigPandaBackend
from bpsn.simulator.bigpanda.errors import BpError
from bpsn.simulator.bigpanda.settings import BigPandaSettings
from bpsn.simulator.common.fixtures import example_fixtures, read_fixture_file
from bpsn.testing import call_asgi

ORG = {"Authorization": "Bearer demo-org-token"}
ADMIN = {"X-Bpsn-Admin-Token": "bpsn-admin-token"}
USER = {"Authorization": "Bearer BPUdemo-user-key"}
INCIDENTS_KEY = {"x-bp-app-key": "demo-incidents-app-key"}
CHANGES_KEY = {"x-bp-app-key": "demo-changes-app-key"}
T0 = 1_767_225_600
EXAMPLE = example_fixtures("bigpanda")


class Api:
    def __init__(self, backend: BigPandaBackend, app: FastAPI) -> None:
        self.backend, self.app = backend, app
        backend.reset()  # one app per worker (building it takes a second), fresh state per test
        self.quiet()

    def quiet(self) -> None:
        for org in self.backend.orgs.values():  # a frozen clock puts every request in one second
            org.rate_limits.enabled = False

    def call(self, method: str, url: str, headers: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
        headers = headers if headers is not None else USER
        if url.startswith("/_sim/"):  # the admin API takes the admin token
            headers = {**headers, **ADMIN}
        return call_asgi(self.app, method, url, headers=headers, **kw)

    def ok(self, method: str, url: str, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        r = self.call(method, url, headers, **kw)
        assert r.status_code < 300, r.text
        return r.json() if r.content else None

    def alert(self, headers: dict[str, str] = ORG, **fields: Any) -> dict[str, Any]:
        body = {"app_key": "demo-alerts-app-key", "status": "critical", "check": "cpu", **fields}
        return self.ok("POST", "/data/v2/alerts", headers, json=body)["alerts"][0]


@pytest.fixture
def api(shared_bigpanda: tuple[BigPandaBackend, FastAPI], tmp_path: Path) -> Api:
    # the worker's simulator, as a new one for this module (conftest.py puts its settings back after)
    shared_bigpanda[0].settings.snapshot_dir = tmp_path  # the snapshot routes read and write only in here
    return Api(*shared_bigpanda)


# --- snapshots --------------------------------------------------------------------------------------
def build_state(api: Api) -> dict[str, str]:
    """State of every kind, built through the HTTP API only."""
    a = api.alert(host="web-1")
    api.alert(host="web-1", check="disk")
    b = api.alert(host="db-1", status="warning")
    api.ok("POST", "/resources/v2.0/environments",
           json={"name": "databases", "filter": 'host = "db-*"', "autoshare_targets": ["servicenow"]})
    tag = api.ok("POST", "/resources/v2.0/incidents/tags/definitions", json={"name": "snow_ticket"})
    env = "/resources/v2.0/environments/production/incidents"
    api.ok("POST", f"{env}/{a['incident_id']}/tags/{tag['id']}", json={"tag_value": "INC0001"})
    api.ok("POST", f"{env}/{a['incident_id']}/comments", json={"comment": "looking"})
    api.ok("POST", "/resources/v2.0/maintenance-plans",
           json={"name": "DB patching", "condition": {"=": ["host", "db-*"]}, "start": T0, "end": T0 + 3600})
    api.ok("POST", "/data/changes", {**USER, **CHANGES_KEY},
           json={"identifier": "CHG1", "status": "Planned", "summary": "Patch db", "start": T0})
    api.ok("POST", "/resources/v2.1/mapping-enrichment", json={"name": "cmdb", "key_fields": ["host"]})
    api.ok("PUT", "/_sim/organizations/demo/correlation-patterns",
           json=[{"id": "by_host", "tags": ["host"], "window": 1800}])
    api.ok("PUT", "/_sim/organizations/demo/rate-limits", json={"enabled": False, "per_second": 7})
    shares = api.ok("GET", "/integrations/v3/servicenow/shares", {**USER, **INCIDENTS_KEY}, params={"limit": 1})
    api.ok("POST", "/integrations/v3/servicenow/callbacks", {**USER, **INCIDENTS_KEY}, json={"results": [
        {"share_id": shares["shares"][0]["share_id"],
         "ticket": {"number": "INC0010001", "sys_id": "abc", "url": "http://sn/abc"}}]})
    api.ok("GET", "/integrations/v3/servicenow/shares", {**USER, **INCIDENTS_KEY}, params={"limit": 1})  # leased
    return {"a": a["incident_id"], "b": b["incident_id"]}


def answers(api: Api, ids: dict[str, str]) -> dict[str, Any]:
    env = "/resources/v2.0/environments/production/incidents"
    return {
        "incidents": [api.call("GET", f"{env}/{i}", params={"expand": "alerts"}).json() for i in ids.values()],
        "activities": api.call("GET", f"/resources/v2.0/incidents/{ids['a']}/activities").json(),
        "v1": api.call("GET", f"/resources/v1.0/incidents/{ids['b']}", ORG).json(),
        "shares": api.call("GET", "/_sim/shares").json(),
        "environments": api.call("GET", "/resources/v2.0/environments").json(),
        "tags": api.call("GET", "/resources/v2.0/incidents/tags/definitions").json(),
        "plans": api.call("GET", "/resources/v2.0/maintenance-plans").json(),
        "changes": api.call("GET", "/resources/v2.0/changes",
                            params={"start_time_frame": T0 - 10, "end_time_frame": T0 + 10}).json(),
        "maps": api.call("GET", "/resources/v2.1/mapping-enrichment").json(),
        "patterns": api.call("GET", "/_sim/organizations/demo/correlation-patterns").json(),
        "rate_limits": api.call("GET", "/_sim/organizations/demo/rate-limits").json(),
    }


def test_state_survives_save_reset_load(api: Api, tmp_path: Path) -> None:
    ids = build_state(api)
    before = answers(api, ids)
    assert before["shares"]["leased"] and before["incidents"][0]["external_tickets"]
    path = tmp_path / "bigpanda.snapshot"
    assert api.call("POST", "/_sim/snapshot/save", json={"path": path.name}).json() == {"status": "ok"}
    api.ok("POST", "/_sim/reset")
    api.quiet()
    assert api.call("GET", f"/resources/v2.0/environments/production/incidents/{ids['a']}").status_code == 404
    loaded = api.call("POST", "/_sim/snapshot/load", json={"path": path.name})
    assert loaded.status_code == 200, loaded.text
    assert answers(api, ids) == before


def test_a_loaded_snapshot_continues_with_the_same_ids(api: Api, tmp_path: Path) -> None:
    build_state(api)
    path = tmp_path / "s"
    snapshot.save(api.backend, str(path))
    first = api.alert(host="cache-1")
    snapshot.load(api.backend, str(path))
    assert api.alert(host="cache-1") == first  # same rng state, same ids


def test_the_clock_is_not_part_of_a_snapshot(api: Api, tmp_path: Path) -> None:
    path = tmp_path / "s"
    snapshot.save(api.backend, str(path))
    later = api.backend.clock.advance(100)
    snapshot.load(api.backend, str(path))
    assert api.backend.clock.now() == later


def test_a_snapshot_is_plain_json_without_credentials(api: Api, tmp_path: Path) -> None:
    build_state(api)
    path = tmp_path / "s"
    snapshot.save(api.backend, str(path))
    document = json.loads(path.read_bytes())
    assert (document["format"], document["version"]) == ("bpsn-bigpanda-snapshot", 2)
    assert [o["name"] for o in document["organizations"]] == ["demo"]
    text = path.read_text()
    for secret in ("demo-org-token", "BPUdemo-user-key", "demo-alerts-app-key", "demo-incidents-app-key"):
        assert secret not in text
    assert path.stat().st_mode & 0o077 == 0  # the owner's only


def test_an_unknown_format_version_is_refused(api: Api, tmp_path: Path) -> None:
    path = tmp_path / "s"
    snapshot.save(api.backend, str(path))
    path.write_text(json.dumps({**json.loads(path.read_bytes()), "version": 99}))
    incident = api.alert(host="web-9")["incident_id"]
    r = api.call("POST", "/_sim/snapshot/load", json={"path": "s"})
    assert r.status_code == 400
    assert "format version 99" in r.json()["errors"][0] and "reads only version 2" in r.json()["errors"][0]
    assert incident in api.backend.orgs["demo"].incidents  # nothing changed


def test_a_snapshot_saved_under_another_key_is_refused(api: Api, tmp_path: Path) -> None:
    path = tmp_path / "s"
    snapshot.save(api.backend, str(path))
    # instances of their own (backends only, no app): the test is of simulators started under other keys
    other = BigPandaBackend(BigPandaSettings(admin_token="another-admin-token"), clock=SimClock.virtual())
    with pytest.raises(BpError) as caught:
        snapshot.load(other, str(path))
    assert "credentials cannot be decrypted" in caught.value.messages[0]
    same = BigPandaBackend(BigPandaSettings(snapshot_key="k", admin_token="a"), clock=SimClock.virtual())
    snapshot.save(same, str(path))
    snapshot.load(BigPandaBackend(BigPandaSettings(snapshot_key="k", admin_token="b")), str(path))  # the key rules


@pytest.mark.parametrize(("content", "message"), [
    (None, "No such file"),
    (b"hello", "not a BigPanda simulator snapshot"),
    (b"[1, 2]", "not a BigPanda simulator snapshot"),
    (PICKLE_MAGIC + b"{\"format\": 1}\n" + pickle.dumps(print), "version 1 (a pickle)"),
    (b'{"format": "bpsn-bigpanda-snapshot", "version": 2}', "rng: Field required"),
    (b'{"format": "bpsn-bigpanda-snapshot", "version": 2, "saved_at": 0, "organizations": [], '  # noqa: ISC004
     b'"rng": {"version": 3, "internal": [], "gauss_next": null}}', "damaged: rng.internal"),
])
def test_a_bad_snapshot_file_is_a_400(api: Api, tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "s"
    if content is not None:
        path.write_bytes(content)
    r = api.call("POST", "/_sim/snapshot/load", json={"path": "s"})
    assert r.status_code == 400 and message in r.json()["errors"][0], r.text
    assert list(api.backend.orgs) == ["demo"]


@pytest.mark.parametrize("name", ["/etc/passwd", "../outside", "inner/../../outside", "..", "link/s"])
def test_snapshot_routes_stay_inside_the_snapshot_directory(api: Api, tmp_path: Path, name: str) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir(exist_ok=True)
    (tmp_path / "link").symlink_to(outside)
    for route in ("/_sim/snapshot/save", "/_sim/snapshot/load"):
        r = api.call("POST", route, json={"path": name})
        assert r.status_code == 400 and "snapshot directory" in r.json()["errors"][0], r.text
    assert list(outside.iterdir()) == []


def test_saving_where_no_file_can_be_written_is_a_400(api: Api, tmp_path: Path) -> None:
    r = api.call("POST", "/_sim/snapshot/save", json={"path": "no/such/dir"})
    assert r.status_code == 400 and "cannot write" in r.json()["errors"][0]


# --- fixtures -------------------------------------------------------------------------------------------
def test_the_example_fixtures_load(api: Api) -> None:
    data = read_fixture_file(EXAMPLE)
    r = api.call("POST", "/_sim/fixtures", json=data)
    assert r.status_code == 201, r.text
    assert r.json() == {"organizations": ["acme"], "environments": 2, "correlation_patterns": 2,
                        "tag_definitions": 2, "maintenance_plans": 1, "alerts": 3, "incidents": 2}
    acme = {"Authorization": "Bearer BPUacme-user-key"}
    api.backend.orgs["acme"].rate_limits.enabled = False
    envs = api.ok("GET", "/resources/v2.0/environments", acme)
    assert [e["name"] for e in envs] == ["production", "eu-critical"]
    found = api.ok("GET", "/resources/v2.0/environments/production/incidents", acme)
    assert found["total"] == 2
    eu = next(i for i in found["items"] if len(i["alerts"]) == 2)  # web-1 and web-2 by cluster c1 in the EU
    assert eu["start"] == int(api.backend.clock.now()) - 600
    plans = api.ok("GET", "/resources/v2.0/maintenance-plans", acme)
    assert [(p["name"], p["status"]) for p in plans["items"]] == [("DB patching", "active")]
    db = next(i for i in found["items"] if i["alerts"][0]["alert_id"] in api.backend.orgs["acme"].alerts
              and api.backend.orgs["acme"].alerts[i["alerts"][0]["alert_id"]].tags.get("host") == "db-1")
    assert db["maintenance"] == "active"
    assert list(api.backend.orgs) == ["demo", "acme"]


def fixture(**org: Any) -> dict[str, Any]:
    return {"organizations": [{"name": "beta", "org_token": "beta-token", "user_api_keys": {"BPUbeta": "b@x"},
                               "app_keys": {"alerts": "beta-alerts"}, "integrations": {"beta-alerts": "api.x"},
                               **org}]}


@pytest.mark.parametrize(("org", "message"), [
    ({"environments": [{"name": "prod", "filter": "status = "}]},
     "organizations[0] (beta).environments[0] (prod): filter: BPQL"),
    ({"environments": [{"name": "prod", "autoshare_targets": [], "push": {"servicenow": {"url": "http://x/y"}}}]},
     "organizations[0] (beta).environments[0] (prod): push target 'servicenow'"),
    ({"correlation_patterns": [{"id": "p", "tags": [], "window": 10}]},
     "organizations[0] (beta).correlation_patterns[0] (p): tags must name"),
    ({"maintenance_plans": [{"name": "mp", "condition": {"~": ["host", "x"]}, "duration": 60}]},
     "organizations[0] (beta).maintenance_plans[0] (mp): condition: operator '~' is not known"),
    ({"maintenance_plans": [{"name": "mp", "condition": {"=": ["host", "x"]}}]},
     "organizations[0] (beta).maintenance_plans[0] (mp): end or duration is required"),
    ({"tag_definitions": [{"name": "t", "type": "Colour"}]}, "organizations[0] (beta).tag_definitions[0] (t): type"),
    ({"alerts": [{"status": "critical", "host": "h"}, {"status": "broken", "host": "h"}]},
     "organizations[0] (beta).alerts[1]: status must be one of"),
    ({"alerts": [{"status": "critical", "host": "h", "app_key": "nope"}]},
     "organizations[0] (beta).alerts[0]: app_key 'nope' is not an integration"),
    ({"user_api_keys": {"BPUdemo-user-key": "x@y"}},
     "organizations[0] (beta): token 'BPUdemo-user-key' already belongs to organization demo"),
    ({"environments": [{"name": "prod", "colour": "red"}]},
     "organizations.0.environments.0.colour: Extra inputs are not permitted"),
])
def test_a_bad_fixture_changes_nothing_and_names_the_entry(api: Api, org: dict[str, Any], message: str) -> None:
    good = {"name": "alpha", "org_token": "alpha-token", "alerts": [{"status": "critical", "host": "h"}],
            "integrations": {"alpha-alerts": "api.x"}}
    data = fixture(**org)
    data["organizations"].insert(0, good)
    data["organizations"][1]["name"] = "beta"
    message = message.replace("[0] (beta)", "[1] (beta)").replace("organizations.0.", "body.organizations.1.")
    state = api.backend.rng.getstate()
    r = api.call("POST", "/_sim/fixtures", json=data)
    assert r.status_code == 400, r.text
    assert any(e.startswith(message) for e in r.json()["errors"]), r.json()
    assert list(api.backend.orgs) == ["demo"] and api.backend.rng.getstate() == state


def test_fixture_errors_from_a_file_name_the_entry(api: Api) -> None:
    with pytest.raises(BpError) as caught:
        load_fixtures(api.backend, {"organizations": [{"name": "acme", "org_token": "t"}, {"name": "beta"}]})
    assert caught.value.messages == ["organizations[1] (beta).org_token: Field required"]


def test_a_fixture_replaces_an_organization_of_the_same_name(api: Api) -> None:
    api.alert(host="web-1")
    loaded = load_fixtures(api.backend, fixture(name="demo", org_token="demo-org-token", alerts=[]))
    assert loaded["incidents"] == 0 and api.backend.orgs["demo"].incidents == {}
    assert api.backend.orgs["demo"].environments == {}  # only what the fixture lists


def test_fixture_alerts_are_ingested_oldest_first_at_their_offsets(api: Api) -> None:
    now = api.backend.clock.now()  # the module's clock: earlier tests may have moved it
    load_fixtures(api.backend, fixture(
        correlation_patterns=[{"id": "by_service", "tags": ["service"], "window": 100}],
        environments=[{"name": "all", "autoshare_targets": ["servicenow"]}],
        alerts=[{"at": -50, "status": "critical", "host": "b", "service": "pay"},
                {"at": -500, "status": "critical", "host": "a", "service": "pay"},
                {"at": -120, "status": "warning", "host": "c", "service": "pay"}]))
    org = api.backend.orgs["beta"]
    starts = sorted((i.start, len(i.alert_ids)) for i in org.incidents.values())
    assert starts == [(now - 500, 1), (now - 120, 2)]  # 380 s apart: outside the 100 s window
    assert len(org.shares.pending()) == 2


def test_cli_seeds_fixtures_and_keeps_state_in_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from bpsn.cli import main
    from bpsn.cli.main import app

    seen: list[dict[str, int]] = []

    def fake_run(asgi: FastAPI, *_: Any, **__: Any) -> None:  # the server, as if it ran and stopped
        backend: BigPandaBackend = asgi.state.backend
        seen.append({name: len(org.incidents) for name, org in backend.orgs.items()})
        backend.ingest(backend.resolve_token("acme-org-token"),
                       {"app_key": "acme-alerts-app-key", "status": "critical", "host": "later"})

    monkeypatch.setattr(main, "_serve_foreground", fake_run)
    state = tmp_path / "bp.state"
    args = ["sim", "bigpanda", "--port", "0", "--state-file", str(state), "--fixtures", str(EXAMPLE)]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "seeded acme" in first.output and state.is_file()
    second = CliRunner().invoke(app, args)
    assert second.exit_code == 0, second.output
    assert "not applied" in second.output
    assert seen == [{"demo": 0, "acme": 2}, {"demo": 0, "acme": 3}]  # the third came from the state file
    bad = tmp_path / "bad.yaml"
    bad.write_text("organizations:\n  - {name: x}\n")
    refused = CliRunner().invoke(app, ["sim", "bigpanda", "--port", "0", "--fixtures", str(bad)])
    assert refused.exit_code == 2 and "org_token: Field required" in refused.output


def test_snapshot_and_fixture_answers_conform_to_the_document(api: Api, tmp_path: Path) -> None:
    """These routes are kept out of the contract tests' fuzzing (they write files and replace
    organizations), so their answers are checked against the OpenAPI document here."""
    import schemathesis

    schema = schemathesis.openapi.from_dict(api.app.openapi())
    (tmp_path / "d").mkdir()
    checked = [
        ("POST", "/_sim/snapshot/save", api.call("POST", "/_sim/snapshot/save", json={"path": "s"})),
        ("POST", "/_sim/snapshot/load", api.call("POST", "/_sim/snapshot/load", json={"path": "s"})),
        ("POST", "/_sim/snapshot/load", api.call("POST", "/_sim/snapshot/load", json={"path": "sx"})),
        ("POST", "/_sim/snapshot/save", api.call("POST", "/_sim/snapshot/save", json={"path": "d"})),
        ("POST", "/_sim/fixtures", api.call("POST", "/_sim/fixtures", json=read_fixture_file(EXAMPLE))),
        ("POST", "/_sim/fixtures", api.call("POST", "/_sim/fixtures", json=fixture(alerts=[{"status": "x"}]))),
    ]
    assert [r.status_code for _, _, r in checked] == [200, 200, 400, 400, 201, 400]
    for method, route, response in checked:
        schema[route][method].validate_response(response)
