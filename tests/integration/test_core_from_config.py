"""The core runs from x_bip_panda_config: one runner per organisation, new versions applied live."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from bpsn.integration.bootstrap import BootstrapError, MissingConfiguration, RunnerBuilder, load_plans, open_reader
from bpsn.integration.clients.http import ApiClient
from bpsn.integration.clients.servicenow import ServiceNowClient
from bpsn.integration.config.crypto import ConfigCipher
from bpsn.integration.config.models import IntegrationConfig
from bpsn.integration.config.versioned import TABLE, ConfigStore, ConfigVersion
from bpsn.integration.logs import Redactor
from bpsn.integration.supervisor import Supervisor, serve_from_config
from bpsn.testing import BP_URL, SN_URL, InProcessBench

KEY = Fernet.generate_key().decode()
ADMIN = ("bigpanda.admin", "bigpanda-admin")
ACME = {"org_token": "acme-org-token-5e1d", "user_key": "BPUacme-user-key-77c0", "alerts": "acme-alerts-key-0b3f",
        "incidents": "acme-incidents-key-91aa"}
ROTATED_BEARER = "BPUdemo-rotated-key-c4e2"


class Counting(httpx.AsyncBaseTransport):
    """The simulator, with every request's method and URL kept."""

    def __init__(self, app: Any) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await self.inner.handle_async_request(request)

    def to_table(self, table: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == f"/api/now/table/{table}"]


class Core:
    """The bench's simulators with a supervised core reading its configuration from the instance."""

    def __init__(self, bench: InProcessBench) -> None:
        self.bench = bench
        self.servicenow = Counting(bench.servicenow_app)
        self.builder = RunnerBuilder(bench.clock, bigpanda_transport=httpx.ASGITransport(app=bench.bigpanda_app),
                                     servicenow_transport=httpx.ASGITransport(app=bench.servicenow_app), pace=False,
                                     sleep=bench._virtual_sleep)
        self.redactor = Redactor()
        self.supervisor: Supervisor | None = None
        self._reader: Any = None

    def save(self, org: str, config: IntegrationConfig, note: str = "") -> ConfigVersion:
        async def work() -> ConfigVersion:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.bench.servicenow_app),
                                         base_url=SN_URL, auth=ADMIN) as http:
                return await ConfigStore(ServiceNowClient(ApiClient(http)), ConfigCipher(KEY)).save(org, config, note)
        return self.bench.run(work())

    def start(self, *orgs: str, level_sink: list[str] | None = None) -> Supervisor:
        async def work() -> Supervisor:
            self._reader = open_reader(self.bench.settings, transport=self.servicenow, cipher=ConfigCipher(KEY))
            store = await self._reader.__aenter__()
            plans = await load_plans(store, list(orgs), self.bench.settings, self.redactor)
            return Supervisor.start(plans, store, self.builder, self.bench.settings, redactor=self.redactor,
                                    on_log_level=level_sink.append if level_sink is not None else None)
        self.supervisor = self.bench.run(work())
        return self.supervisor

    def cycle(self) -> list[bool]:
        assert self.supervisor is not None
        return self.bench.run(self.supervisor.cycle_all())

    def close(self) -> None:
        async def work() -> None:
            if self.supervisor is not None:
                await self.supervisor.aclose()
            if self._reader is not None:
                await self._reader.__aexit__(None, None, None)
        self.bench.run(work())


@pytest.fixture
def core(bench: InProcessBench) -> Iterator[Core]:
    c = Core(bench)
    yield c
    c.close()


def demo_config(bench: InProcessBench, **changes: Any) -> IntegrationConfig:
    s = bench.bigpanda.settings
    return IntegrationConfig().replace(**{
        "bearer_token": s.user_api_key, "api_key": s.org_token, "incidents_app_key": s.incidents_app_key,
        "api_base_url": BP_URL, "incident_url_base": "https://demo.bigpanda.example", **changes})


def add_acme(bench: InProcessBench) -> IntegrationConfig:
    bench.bigpanda.add_organization("acme", ACME["org_token"], {ACME["user_key"]: "ops@acme.example"},
                                    {"alerts": ACME["alerts"], "incidents": ACME["incidents"]},
                                    {ACME["alerts"]: "api.acme_monitoring"}, seed_environment=True)
    return IntegrationConfig().replace(bearer_token=ACME["user_key"], api_key=ACME["org_token"],
                                       incidents_app_key=ACME["incidents"], api_base_url=BP_URL, retrieval_count=7)


def send_alert(bench: InProcessBench, host: str, org_token: str | None = None, app_key: str | None = None) -> str:
    s = bench.bigpanda.settings
    async def post() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=bench.bigpanda_app), base_url=BP_URL,
                                     headers={"Authorization": f"Bearer {org_token or s.org_token}"}) as c:
            return await c.post("/data/v2/alerts", json={"app_key": app_key or s.alerts_app_key, "alerts": [
                {"status": "critical", "host": host, "check": "CPU load"}]})
    r = bench.run(post())
    assert r.status_code == 201, r.text
    return str(r.json()["alerts"][0]["incident_id"])


def last_journal_id(bench: InProcessBench) -> int:
    entries = bench.bigpanda.journal.find()
    return entries[-1].id if entries else 0


def test_the_core_runs_from_the_current_version(bench: InProcessBench, core: Core) -> None:
    core.save("demo", demo_config(bench, retrieval_count=12, max_alerts_in_description=2, close_code="Fixed by BP"))
    sup = core.start("demo")
    w = sup.worker("demo")
    assert (w.plan.version, w.runner.retrieval_count) == (1, 12)
    assert w.runner.engine.settings.namespace == "demo" and w.runner.engine.settings.close_code == "Fixed by BP"
    assert w.plan.connection.bigpanda_url == BP_URL and w.plan.connection.servicenow_user == "bigpanda.integration"
    incident = send_alert(bench, "web-prod-01")
    core.cycle()
    [ticket] = bench.tickets(f"correlation_id={incident}")
    assert ticket["short_description"].startswith("BigPanda Incident: web-prod-01")
    assert bench.incident(incident).tickets[0].number == ticket["number"]  # the callback reached BigPanda


def test_no_version_says_so_and_how_to_create_one(bench: InProcessBench, core: Core) -> None:
    with pytest.raises(MissingConfiguration) as err:
        core.start("ghost")
    text = str(err.value)
    assert "'ghost'" in text and TABLE in text and "bpsn config set bearer_token --org ghost" in text


def serve(bench: InProcessBench, orgs: list[str], all_orgs: bool = False, key: str = KEY) -> list[str]:
    """serve_from_config as `bpsn core` calls it, stopped as soon as it has started."""
    started: list[str] = []
    stop = asyncio.Event()

    def on_started(sup: Supervisor) -> None:
        started.extend(w.organization for w in sup.workers)
        stop.set()
    builder = RunnerBuilder(bench.clock, bigpanda_transport=httpx.ASGITransport(app=bench.bigpanda_app),
                            servicenow_transport=httpx.ASGITransport(app=bench.servicenow_app), pace=False)
    bench.run(serve_from_config(bench.settings, orgs, all_orgs, stop, builder=builder, on_started=on_started,
                                servicenow_transport=httpx.ASGITransport(app=bench.servicenow_app),
                                cipher=ConfigCipher(key), redactor=Redactor()))
    return started


def test_serve_names_what_is_missing_and_finds_every_organisation(bench: InProcessBench, core: Core) -> None:
    with pytest.raises(MissingConfiguration, match="no organisation has a configuration"):
        serve(bench, [], all_orgs=True)
    core.save("demo", demo_config(bench))
    core.save("acme", add_acme(bench))
    assert serve(bench, [], all_orgs=True) == ["acme", "demo"]
    assert serve(bench, ["demo"]) == ["demo"]
    with pytest.raises(MissingConfiguration, match="'nobody'"):
        serve(bench, ["demo", "nobody"])
    with pytest.raises(BootstrapError, match="BPSN_CONFIG_KEY"):
        serve(bench, ["demo"], key=Fernet.generate_key().decode())
    with pytest.raises(BootstrapError, match="--org NAME"):
        serve(bench, [])


def test_a_new_version_is_applied_at_the_next_cycle_and_logged_by_field_name(
        bench: InProcessBench, core: Core, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    bench.bigpanda.orgs["demo"].user_api_keys[ROTATED_BEARER] = "rotated@demo.example"
    core.save("demo", demo_config(bench))
    levels: list[str] = []
    core.start("demo", level_sink=levels)
    first = core.supervisor.worker("demo").runner  # type: ignore[union-attr]
    core.cycle()
    bench.advance(30)
    cursor = first.watch.cursor
    core.save("demo", demo_config(bench, bearer_token=ROTATED_BEARER, retrieval_count=5, log_level="DEBUG"), "rotate")
    incident = send_alert(bench, "db-prod-01")
    since = last_journal_id(bench)
    core.cycle()
    w = core.supervisor.worker("demo")  # type: ignore[union-attr]
    assert (w.plan.version, w.reconfigured, w.runner.retrieval_count) == (2, 1, 5)
    assert w.runner is not first and w.runner.watch.cursor == cursor  # the watch goes on where it was
    assert w.runner.engine is first.engine  # same engine settings: its memory is kept
    assert levels == ["INFO", "DEBUG"]  # the process's log level follows the configuration
    # the new bearer token is the one BigPanda saw for this cycle's share retrieval
    polls = bench.bigpanda.journal.find(path="/integrations/v3/servicenow/shares", since_id=since)
    assert polls and {e.user for e in polls} == {f"demo:user:{ROTATED_BEARER[-6:]}"}
    assert bench.tickets(f"correlation_id={incident}")
    applied = [r for r in caplog.records if "version 2 applied" in r.getMessage()]
    assert len(applied) == 1 and applied[0].changed == ["bearer_token", "settings.retrieval_count",  # type: ignore[attr-defined]
                                                         "settings.log_level"]
    for secret in (ROTATED_BEARER, bench.bigpanda.settings.user_api_key, bench.bigpanda.settings.incidents_app_key):
        assert secret not in caplog.text


def test_the_check_is_one_small_query_per_cycle(bench: InProcessBench, core: Core) -> None:
    core.save("demo", demo_config(bench))
    core.start("demo")
    before = len(core.servicenow.to_table(TABLE))
    for _ in range(3):
        core.cycle()
    checks = core.servicenow.to_table(TABLE)[before:]
    assert len(checks) == 3
    assert all(r.url.params["sysparm_fields"] == "version" and r.url.params["sysparm_limit"] == "1"
               and "current=true" in r.url.params["sysparm_query"] for r in checks)


def test_a_version_that_cannot_be_applied_is_refused_once_and_the_core_keeps_running(
        bench: InProcessBench, core: Core, caplog: pytest.LogCaptureFixture) -> None:
    core.save("demo", demo_config(bench))
    core.start("demo")
    core.save("demo", demo_config(bench, integration_user="someone.else"))
    caplog.set_level(logging.ERROR)
    incident = send_alert(bench, "web-prod-02")
    core.cycle()
    core.cycle()
    w = core.supervisor.worker("demo")  # type: ignore[union-attr]
    assert w.plan.version == 1 and w.refused_version == 2
    refused = [r.getMessage() for r in caplog.records if "not applied" in r.getMessage()]
    assert len(refused) == 1 and "someone.else" in refused[0] and "bpsn config set integration_user" in refused[0]
    assert bench.tickets(f"correlation_id={incident}")
    core.save("demo", demo_config(bench, integration_user="bigpanda.integration", retrieval_count=9))  # the fix
    core.cycle()
    assert (w.plan.version, w.runner.retrieval_count, w.refused_version) == (3, 9, None)


def test_two_organisations_each_run_with_their_own_credentials(bench: InProcessBench, core: Core) -> None:
    core.save("demo", demo_config(bench))
    core.save("acme", add_acme(bench))
    sup = core.start("demo", "acme")
    demo, acme = sup.worker("demo"), sup.worker("acme")
    assert demo.runner.bigpanda.app_key == bench.bigpanda.settings.incidents_app_key
    assert acme.runner.bigpanda.app_key == ACME["incidents"] and acme.runner.retrieval_count == 7
    assert acme.runner.engine.settings.namespace == "acme"
    since = last_journal_id(bench)
    in_demo = send_alert(bench, "web-prod-01")
    in_acme = send_alert(bench, "web-prod-01", ACME["org_token"], ACME["alerts"])
    core.cycle()
    demo_ticket, acme_ticket = (bench.tickets(f"correlation_id={i}") for i in (in_demo, in_acme))
    assert len(demo_ticket) == 1 and len(acme_ticket) == 1 and demo_ticket[0]["sys_id"] != acme_ticket[0]["sys_id"]
    assert bench.bigpanda.orgs["acme"].incidents[in_acme].tickets[0].number == acme_ticket[0]["number"]
    assert bench.incident(in_demo).tickets[0].number == demo_ticket[0]["number"]
    pollers = {e.user for e in bench.bigpanda.journal.find(path="/integrations/v3/servicenow/shares",
                                                           since_id=since)}
    assert pollers == {f"demo:user:{bench.bigpanda.settings.user_api_key[-6:]}", f"acme:user:{ACME['user_key'][-6:]}"}
    # configuration reads are per organisation: a new acme version changes nothing for demo
    core.save("acme", add_acme_v2())
    core.cycle()
    assert (acme.plan.version, acme.reconfigured, acme.runner.retrieval_count) == (2, 1, 3)
    assert (demo.plan.version, demo.reconfigured) == (1, 0)
    assert all("organization=acme" in r.url.params["sysparm_query"] or "organization=demo" in
               r.url.params["sysparm_query"] for r in core.servicenow.to_table(TABLE))


def add_acme_v2() -> IntegrationConfig:
    return IntegrationConfig().replace(bearer_token=ACME["user_key"], api_key=ACME["org_token"],
                                       incidents_app_key=ACME["incidents"], api_base_url=BP_URL, retrieval_count=3)


def test_run_cycles_every_organisation_until_stopped(bench: InProcessBench, core: Core) -> None:
    core.save("demo", demo_config(bench, poll_interval=20))
    core.save("acme", add_acme(bench))
    sup = core.start("demo", "acme")
    waits: list[float] = []
    stop = asyncio.Event()

    async def wait(event: asyncio.Event, seconds: float) -> None:  # virtual time: nothing really sleeps
        waits.append(seconds)
        if len(waits) == 4:
            event.set()
        await asyncio.sleep(0)
    incident = send_alert(bench, "web-prod-03")
    bench.run(sup.run(stop, wait))
    assert len(waits) >= 4 and set(waits) == {15.0, 20.0}  # each waits its own interval: acme's default, demo's 20 s
    assert bench.tickets(f"correlation_id={incident}")
