"""`bpsn selftest` against the in-process simulators: all pass, and each way it can fail says how to fix it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from typer.testing import CliRunner

from bpsn.base.clock import SimClock
from bpsn.cli.main import app
from bpsn.integration.clients.http import ApiClient
from bpsn.integration.clients.servicenow import ServiceNowClient
from bpsn.integration.config.crypto import ConfigCipher
from bpsn.integration.config.models import IntegrationConfig
from bpsn.integration.config.settings import ConnectionSettings
from bpsn.integration.config.versioned import ConfigStore
from bpsn.load.processes import free_port
from bpsn.selftest import main
from bpsn.simulator.bigpanda.app import create_app as create_bigpanda_app
from bpsn.simulator.bigpanda.backend import BigPandaBackend
from bpsn.simulator.bigpanda.settings import BigPandaSettings
from bpsn.simulator.servicenow.app import create_app as create_servicenow_app
from bpsn.simulator.servicenow.backend import ServiceNowBackend
from bpsn.testing import BP_URL, SN_URL

KEY = Fernet.generate_key().decode()
ADMIN = ("bigpanda.admin", "bigpanda-admin")


@dataclass
class World:
    servicenow: ServiceNowBackend
    bigpanda: BigPandaBackend
    sn_app: Any
    bp_app: Any

    @property
    def base(self) -> ConnectionSettings:
        return ConnectionSettings(bigpanda_url=BP_URL, servicenow_url=SN_URL)

    def save(self, org: str, config: IntegrationConfig) -> None:
        async def work() -> None:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.sn_app), base_url=SN_URL,
                                         auth=ADMIN) as http:
                await ConfigStore(ServiceNowClient(ApiClient(http)), ConfigCipher(KEY)).save(org, config)
        asyncio.run(work())

    def config(self, **changes: Any) -> IntegrationConfig:
        s = self.bigpanda.settings
        return IntegrationConfig().replace(**{"bearer_token": s.user_api_key, "api_key": s.org_token,
                                              "incidents_app_key": s.incidents_app_key, "api_base_url": BP_URL,
                                              **changes})

    def selftest(self, *orgs: str, base: ConnectionSettings | None = None, key: str = KEY,
                 servicenow_transport: httpx.AsyncBaseTransport | None = None) -> tuple[int, str]:
        lines: list[str] = []
        code = main(list(orgs), base=base or self.base,
                    servicenow_transport=servicenow_transport or httpx.ASGITransport(app=self.sn_app),
                    bigpanda_transport=httpx.ASGITransport(app=self.bp_app), cipher=ConfigCipher(key),
                    echo=lines.append)
        out = "\n".join(lines)
        for secret in self.secrets():
            assert secret not in out, "a credential was printed"
        return code, out

    def secrets(self) -> list[str]:
        s = self.bigpanda.settings
        return [s.user_api_key, s.org_token, s.incidents_app_key, "not-the-password-51", "lean-pw-1",
                "wrong-incidents-key-6f0e", "BPUwrong-bearer-3aa1"]


@pytest.fixture(scope="module")
def bigpanda() -> tuple[BigPandaBackend, Any]:
    """One BigPanda app for the module (its first request is slow), reset before each test."""
    bp = BigPandaBackend(BigPandaSettings(base_url=BP_URL), clock=SimClock.virtual())
    return bp, create_bigpanda_app(bp)


@pytest.fixture(scope="module")
def servicenow() -> Iterator[tuple[ServiceNowBackend, Any]]:
    """One ServiceNow instance and app for the module (a new one costs ~0.3 s), put back before each test."""
    sn = ServiceNowBackend(clock=SimClock.virtual())
    yield sn, create_servicenow_app(sn)
    sn.store.close()


@pytest.fixture
def world(bigpanda: tuple[BigPandaBackend, Any], servicenow: tuple[ServiceNowBackend, Any]) -> World:
    bp, bp_app = bigpanda
    bp.reset()
    sn, sn_app = servicenow
    sn.clock.restart()  # first: the instance seeds its records at the start instant (as /_sim/reset after it)
    sn.reset()
    return World(sn, bp, sn_app, bp_app)


def status_of(out: str, check: str) -> str:
    """PASS / FAIL / SKIP of the line whose check name starts with `check`."""
    for line in out.splitlines():
        status, _, rest = line.partition("  ")
        if status in ("PASS", "FAIL", "SKIP") and rest.startswith(check):
            return status
    raise AssertionError(f"no check {check!r} in:\n{out}")


def fix_after(out: str, check: str) -> str:
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if line.partition("  ")[2].startswith(check) and i + 1 < len(lines) and "fix:" in lines[i + 1]:
            return lines[i + 1]
    raise AssertionError(f"no fix after {check!r} in:\n{out}")


def test_everything_passes_for_a_configured_organisation(world: World) -> None:
    world.save("demo", world.config())
    code, out = world.selftest("demo")
    assert code == 0, out
    for check in ("ServiceNow reachable", "ServiceNow credentials", "ServiceNow roles", "ServiceNow round trip",
                  "configuration [demo]", "BigPanda reachable [demo]", "BigPanda bearer token [demo]",
                  "BigPanda incidents app key [demo]", "BigPanda permissions [demo]"):
        assert status_of(out, check) == "PASS"
    assert out.splitlines()[-1] == "9 passed, 0 failed, 0 skipped"
    assert "version 1 by bigpanda.admin" in out and "1 environment(s): production" in out
    # the app key probe consumed nothing: no share was leased
    assert not world.bigpanda.journal.find(path="/integrations/v3/servicenow/shares")


def test_without_org_it_checks_the_environment_settings(world: World) -> None:
    code, out = world.selftest()
    assert code == 0, out
    assert status_of(out, "configuration") == "SKIP" and status_of(out, "BigPanda incidents app key") == "PASS"


def test_a_wrong_servicenow_password(world: World) -> None:
    world.save("demo", world.config())
    base = world.base.model_copy(update={"servicenow_password": SecretStr("not-the-password-51")})
    code, out = world.selftest("demo", base=base)
    assert code == 1
    assert status_of(out, "ServiceNow reachable") == "PASS" and status_of(out, "ServiceNow credentials") == "FAIL"
    assert "refused user 'bigpanda.integration'" in out and "BPSN_SERVICENOW_PASSWORD" in fix_after(
        out, "ServiceNow credentials")
    assert status_of(out, "configuration [demo]") == "SKIP" and status_of(out, "BigPanda reachable [demo]") == "SKIP"


def test_a_missing_role(world: World) -> None:
    user = world.servicenow.insert_system("sys_user", {"user_name": "lean.integration", "user_password": "lean-pw-1",
                                                       "active": "true"})
    role = world.servicenow.store.select("sys_user_role")
    user_role = next(r["sys_id"] for r in role if r["name"] == "x_bip_panda_user")
    world.servicenow.insert_system("sys_user_has_role", {"user": user["sys_id"], "role": user_role})
    world.save("demo", world.config(integration_user="lean.integration"))
    base = world.base.model_copy(update={"servicenow_user": "lean.integration",
                                         "servicenow_password": SecretStr("lean-pw-1")})
    code, out = world.selftest("demo", base=base)
    assert code == 1
    assert status_of(out, "ServiceNow roles") == "FAIL" and "lacks itil" in out
    assert "add itil to 'lean.integration'" in fix_after(out, "ServiceNow roles")
    assert status_of(out, "ServiceNow round trip") == "FAIL"
    assert status_of(out, "configuration [demo]") == "PASS"  # x_bip_panda_user reads the configuration


def test_a_wrong_incidents_app_key(world: World) -> None:
    world.save("demo", world.config(incidents_app_key="wrong-incidents-key-6f0e"))
    code, out = world.selftest("demo")
    assert code == 1
    assert status_of(out, "BigPanda bearer token [demo]") == "PASS"
    assert status_of(out, "BigPanda incidents app key [demo]") == "FAIL"
    assert "`bpsn config set incidents_app_key --org demo`" in fix_after(out, "BigPanda incidents app key [demo]")


def test_a_wrong_bearer_token(world: World) -> None:
    world.save("demo", world.config(bearer_token="BPUwrong-bearer-3aa1"))
    code, out = world.selftest("demo")
    assert code == 1
    assert status_of(out, "BigPanda bearer token [demo]") == "FAIL" and "HTTP 401" in out
    assert status_of(out, "BigPanda incidents app key [demo]") == "SKIP"


def test_a_wrong_config_key(world: World) -> None:
    world.save("demo", world.config())
    code, out = world.selftest("demo", key=Fernet.generate_key().decode())
    assert code == 1
    assert status_of(out, "configuration [demo]") == "FAIL" and "do not decrypt" in out
    assert "BPSN_CONFIG_KEY" in fix_after(out, "configuration [demo]")
    assert status_of(out, "BigPanda bearer token [demo]") == "SKIP"


def test_no_configuration_and_another_integration_user(world: World) -> None:
    code, out = world.selftest("ghost")
    assert code == 1 and "no configuration version for 'ghost'" in out
    assert "bpsn config set bearer_token --org ghost" in fix_after(out, "configuration [ghost]")
    world.save("demo", world.config(integration_user="someone.else"))
    code, out = world.selftest("demo")
    assert code == 1 and "names integration user 'someone.else'" in out
    assert "bpsn config set integration_user bigpanda.integration --org demo" in fix_after(out, "configuration [demo]")


class Unreachable(httpx.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)


def test_servicenow_unreachable(world: World) -> None:
    code, out = world.selftest("demo", servicenow_transport=Unreachable())
    assert code == 1
    assert status_of(out, "ServiceNow reachable") == "FAIL" and "ConnectError" in out
    assert "BPSN_SERVICENOW_URL" in fix_after(out, "ServiceNow reachable")
    assert status_of(out, "configuration [demo]") == "SKIP"


def test_the_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    assert CliRunner().invoke(app, ["selftest", "--help"]).exit_code == 0
    nothing = f"http://127.0.0.1:{free_port()}"  # a port nobody listens on: refused at once
    monkeypatch.setenv("BPSN_SERVICENOW_URL", nothing)
    monkeypatch.setenv("BPSN_BIGPANDA_URL", nothing)
    result = CliRunner().invoke(app, ["selftest"])
    assert result.exit_code == 1
    assert "FAIL  ServiceNow reachable" in result.output and "FAIL  BigPanda reachable" in result.output
