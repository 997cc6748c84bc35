"""No secret in the clear in anything the stack writes (issue #15, must hold 6 and 7).

Every secret the stack takes (each token, key, password and secret field of every BPSN_*
settings class, found by name, plus BPSN_CONFIG_KEY) is set to its own random marker. The
simulators and the core then run as processes with --state-file, the core at debug level; the
run sends requests that carry the secrets in every way the APIs take them (Bearer and Basic
auth, BigPanda's ?access_token= and x-auth-token, OAuth token requests with form bodies and a
query string, the admin token in both headers), saves snapshots, reads both journals, stops
cleanly (state files written), then runs `bpsn up` (its banner), `bpsn selftest` and `bpsn demo`.
Every file written under the run's folder is scanned for every marker, for the base64 of each
`user:password` pair (Basic auth) and for the OAuth tokens the run was given. A hit fails,
naming the file and the secret.
"""

from __future__ import annotations

import base64
import re
import secrets
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bpsn.bench.chaos_stack import ProcessStack
from bpsn.integration.changes.factory import ChangesConnection
from bpsn.integration.cmdb.settings import CmdbSettings
from bpsn.integration.config.crypto import KEY_ENV
from bpsn.integration.config.settings import ConnectionSettings
from bpsn.integration.config.versioned import ConfigAdminSettings
from bpsn.integration.oim.factory import OimConnection
from bpsn.integration.rules.connect import RulesConnection
from bpsn.load.processes import Child, child_env, cli, wait_until
from bpsn.simulator.bigpanda.settings import BigPandaSettings
from bpsn.simulator.servicenow.settings import ServiceNowSettings

pytestmark = pytest.mark.slow(seconds=7)

SETTINGS: list[Any] = [BigPandaSettings, ServiceNowSettings, ConnectionSettings, OimConnection, ChangesConnection,
                       ConfigAdminSettings, RulesConnection, CmdbSettings]
SECRET_NAME = re.compile(r"(token|_key|password|secret)$")
# a secret one side checks and the other presents must be the same value
SAME_AS = {"BPSN_BIGPANDA_BEARER_TOKEN": "BPSN_BP_USER_API_KEY", "BPSN_BIGPANDA_API_KEY": "BPSN_BP_ORG_TOKEN",
           "BPSN_INCIDENTS_APP_KEY": "BPSN_BP_INCIDENTS_APP_KEY", "BPSN_CHANGES_APP_KEY": "BPSN_BP_CHANGES_APP_KEY",
           "BPSN_OIM_APP_KEY": "BPSN_BP_OIM_APP_KEY", "BPSN_SERVICENOW_PASSWORD": "BPSN_SN_INTEGRATION_PASSWORD",
           "BPSN_RULES_PASSWORD": "BPSN_SN_ADMIN_PASSWORD"}


def secret_variables() -> list[str]:
    """Every environment variable that sets a secret, read from the settings classes themselves
    (a secret added later is scanned for without touching this test)."""
    names = {KEY_ENV}
    for cls in SETTINGS:
        prefix = str(cls.model_config.get("env_prefix", ""))
        for field_name, info in cls.model_fields.items():
            text_field = info.annotation in (str, SecretStr, SecretStr | None, str | None)
            if SECRET_NAME.search(field_name) and text_field:
                names.add(f"{prefix}{field_name}".upper())
    return sorted(names)


def markers() -> dict[str, str]:
    values = {name: f"mk{secrets.token_hex(12)}" for name in secret_variables() if name not in SAME_AS}
    values.update({name: values[other] for name, other in SAME_AS.items()})
    return values


def basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


class Secrets:
    """What to look for: each marker, each Basic credential's base64, and tokens the run was given."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.wanted: dict[str, str] = {value: name for name, value in env.items()}
        sn = ServiceNowSettings()
        for user, var in (("admin", "BPSN_SN_ADMIN_PASSWORD"), (sn.integration_user, "BPSN_SN_INTEGRATION_PASSWORD"),
                          (sn.analyst_user, "BPSN_SN_ANALYST_PASSWORD"),
                          (ConfigAdminSettings().config_user, "BPSN_CONFIG_PASSWORD"),
                          (sn.oauth_client_id, "BPSN_SN_OAUTH_CLIENT_SECRET")):
            self.wanted[basic(user, env[var])] = f"base64 of {user}:${var}"

    def add(self, value: str, what: str) -> None:
        self.wanted[value] = what

    def scan(self, root: Path) -> list[str]:
        hits = []
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            data = path.read_bytes()
            for value, what in self.wanted.items():
                if value.encode() in data:
                    hits.append(f"{path.relative_to(root)}: {what}")
        return hits


def carry_secrets_in_requests(stack: ProcessStack, env: dict[str, str], found: Secrets) -> None:
    """Requests that present every secret the way the real APIs take it."""
    bp, sn = stack.bigpanda_url, stack.servicenow_url
    incidents = f"/resources/v2.0/environments/{BigPandaSettings().environment}/incidents"
    user_key, org_token = env["BPSN_BP_USER_API_KEY"], env["BPSN_BP_ORG_TOKEN"]
    with httpx.Client(base_url=bp, timeout=30) as c:
        assert c.get(incidents, params={"access_token": user_key}).status_code == 200
        assert c.get(incidents, headers={"x-auth-token": user_key}).status_code == 200
        r = c.post("/data/v2/alerts", params={"access_token": org_token},
                   json={"app_key": env["BPSN_BP_ALERTS_APP_KEY"], "status": "warning", "host": "scan-1",
                         "check": "disk"})
        assert r.status_code == 201, r.text
        assert c.get("/_sim/shares", headers={"Authorization": f"Bearer {env['BPSN_BP_ADMIN_TOKEN']}"}
                     ).status_code == 200
    sn_settings = ServiceNowSettings()
    users = [("admin", env["BPSN_SN_ADMIN_PASSWORD"]), (sn_settings.integration_user,
             env["BPSN_SN_INTEGRATION_PASSWORD"]), (sn_settings.analyst_user, env["BPSN_SN_ANALYST_PASSWORD"])]
    client_id, client_secret = sn_settings.oauth_client_id, env["BPSN_SN_OAUTH_CLIENT_SECRET"]
    with httpx.Client(base_url=sn, timeout=30) as c:
        for user, password in users:
            assert c.get("/api/now/table/sys_user", params={"sysparm_limit": 1},
                         auth=(user, password)).status_code in (200, 403)
        form = {"grant_type": "password", "client_id": client_id, "client_secret": client_secret,
                "username": "admin", "password": env["BPSN_SN_ADMIN_PASSWORD"]}
        r = c.post("/oauth_token.do", data=form)
        assert r.status_code == 200, r.text
        tokens = r.json()
        found.add(tokens["access_token"], "an OAuth access token")
        found.add(tokens["refresh_token"], "an OAuth refresh token")
        assert c.get("/api/now/table/incident", params={"sysparm_limit": 1},
                     headers={"Authorization": f"Bearer {tokens['access_token']}"}).status_code == 200
        r = c.post("/oauth_token.do", data={"grant_type": "refresh_token", "client_id": client_id,
                                            "client_secret": client_secret, "refresh_token": tokens["refresh_token"]})
        assert r.status_code == 200, r.text
        found.add(r.json()["access_token"], "an OAuth access token (refreshed)")
        c.post("/oauth_token.do", auth=(client_id, client_secret),
               data={"grant_type": "client_credentials"})  # the client's own Basic credentials
        c.post("/oauth_token.do", params=form)  # the secrets in a query string, as a careless client sends them


def run_cli(args: list[str], env: dict[str, str], out: Path, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run(cli(*args), env=child_env(**env), capture_output=True, stdin=subprocess.DEVNULL, timeout=timeout, check=False)
    out.write_bytes(proc.stdout + b"\n--- stderr ---\n" + proc.stderr)
    return proc


def run_up(env: dict[str, str], logs: Path) -> None:
    """`bpsn up` on free ports until its banner is out, then SIGTERM (its output is in logs/)."""
    up = Child("bpsn-up", cli("up", "--bigpanda-port", "0", "--servicenow-port", "0"), logs, env).start()
    try:
        wait_until(lambda: "Ctrl-C stops everything" in up.tail(100_000), [up], 60, "bpsn up's banner")
    finally:
        assert up.proc is not None
        up.proc.terminate()
        up.proc.wait(30)


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Secrets, list[str]]:
    root = tmp_path_factory.mktemp("artefacts")
    env = markers()
    found = Secrets(env)
    with ProcessStack(root, bigpanda_state=True, servicenow_state=True, env=env,
                      core_args=["--log-level", "DEBUG"]) as stack:
        stack.start_all()
        incidents = [stack.send_alert(f"scan-host-{i}") for i in range(5)]
        stack.drain()
        assert stack.count(incidents).ok
        carry_secrets_in_requests(stack, env, found)
        for client, name in ((stack.bp_admin, "bigpanda-snapshot.json"), (stack.sn_admin, "servicenow-snapshot.sqlite")):
            client.post("/_sim/snapshot/save", json={"path": name}).raise_for_status()
        for side in ("bigpanda", "servicenow"):
            stack.dump(root / f"{side}-journal.json", stack.journal(side))
        cli_env = {**env, "BPSN_BIGPANDA_URL": stack.bigpanda_url, "BPSN_SERVICENOW_URL": stack.servicenow_url}
        run_cli(["selftest"], cli_env, root / "selftest.out")
        for name in ("core", "bigpanda", "servicenow"):
            assert stack.stop(name) is not None
    run_up(env, root / "logs")
    demo = run_cli(["demo", "--hosts", "5", "--poll-interval", "0.5", "--timeout", "30"], env, root / "demo.out")
    assert demo.returncode == 0, (root / "demo.out").read_text()[-2000:]  # the demo takes any alerts app key
    return root, found, found.scan(root)


def test_the_run_wrote_every_kind_of_artefact(scanned: tuple[Path, Secrets, list[str]]) -> None:
    root, _, _ = scanned
    written = {p.name for p in root.rglob("*") if p.is_file()}
    for name in ("bigpanda-state.json", "servicenow-state.sqlite", "bigpanda-snapshot.json",
                 "servicenow-snapshot.sqlite", "bigpanda-journal.json", "servicenow-journal.json",
                 "selftest.out", "demo.out", "core-1.log", "bigpanda-1.log", "servicenow-1.log", "bpsn-up.log"):
        assert name in written, (name, sorted(written))
    assert "DEBUG" in (root / "logs" / "core-1.log").read_text()


def test_the_scan_finds_a_secret_written_in_the_clear(scanned: tuple[Path, Secrets, list[str]],
                                                      tmp_path: Path) -> None:
    _, found, _ = scanned
    value, what = next(iter(found.wanted.items()))
    (tmp_path / "leaky.log").write_text(f"header: {value}\n")
    assert found.scan(tmp_path) == [f"leaky.log: {what}"]


def test_no_artefact_holds_a_secret_in_the_clear(scanned: tuple[Path, Secrets, list[str]]) -> None:
    root, found, hits = scanned
    print(f"scanned {sum(1 for p in root.rglob('*') if p.is_file())} files for {len(found.wanted)} secrets")
    assert hits == [], "secrets in the clear:\n" + "\n".join(hits)
