"""What a test gets from bpsn: both simulators and the core, with a fresh state on demand.

`Harness` is the one object behind the `bpsn_bench` fixture (in-process, no ports: the
InProcessBench), the `bpsn_stack` fixture and `bpsn.running(...)` (real HTTP servers on
loopback ports, in a background thread). The simulators are driven through their admin API,
the core directly: `poll()` runs one cycle of it now. Everything runs on one event loop in a
thread of its own, so synchronous test code and the servers never share a loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from bpsn.base.clock import SimClock
from bpsn.integration.config.settings import ConnectionSettings
from bpsn.integration.engine.mapping import IncidentSettings
from bpsn.integration.factory import build_runner, close_runner
from bpsn.integration.modules.alert_config import AlertConfigSettings
from bpsn.integration.runner import IntegrationRunner, PollReport
from bpsn.simulator.bigpanda.auth import journal_user
from bpsn.simulator.bigpanda.settings import BigPandaSettings
from bpsn.simulator.servicenow.records.outbound import SEEDED_SYS_ID as OUTBOUND_SYS_ID
from bpsn.simulator.servicenow.records.outbound import TABLE as OUTBOUND_TABLE
from bpsn.simulator.servicenow.settings import ServiceNowSettings

from .admin import Faults, SimulatorAdmin
from .config import BenchConfig
from .journal import Request, RequestJournal
from .views import BigPandaViews, IncidentView

T = TypeVar("T")
CALL_TIMEOUT = 60.0


@dataclass(frozen=True)
class Credentials:
    """The seeded tenants' credentials (BPSN_BP_* and BPSN_SN_* override them)."""

    bigpanda_org_token: str
    bigpanda_user_api_key: str
    bigpanda_alerts_app_key: str
    bigpanda_incidents_app_key: str
    bigpanda_changes_app_key: str
    bigpanda_oim_app_key: str
    bigpanda_operator_api_key: str
    servicenow_user: str
    servicenow_password: str
    servicenow_admin: str
    servicenow_admin_password: str

    @classmethod
    def of(cls, bp: BigPandaSettings, sn: ServiceNowSettings) -> Credentials:
        return cls(bp.org_token, bp.user_api_key, bp.alerts_app_key, bp.incidents_app_key, bp.changes_app_key,
                   bp.oim_app_key, bp.operator_api_key, sn.integration_user, sn.integration_password, "admin",
                   sn.admin_password)

    def __repr__(self) -> str:  # a test report never shows a credential
        return "Credentials(...)"


class EventLoopThread:
    """An event loop running in a daemon thread; synchronous code hands it coroutines."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = CALL_TIMEOUT) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=timeout)

    def on_loop(self) -> bool:
        """Whether the caller runs on this loop's thread (where waiting on the loop would hang)."""
        return threading.current_thread() is self._thread

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self.loop.close()


class Harness:
    """Subclasses set the clients, `runner` and `config`, and give `_transports()` (the core's)
    and `_async_transport(simulator)` (a test's own asynchronous clients)."""

    bigpanda_url: str
    servicenow_url: str
    clock: Any  # now() and advance(seconds): the shared virtual clock, both simulators' timers with it
    _sim_clock: SimClock  # the clock object itself (the core's sleeps and a reset use it)
    runner: IntegrationRunner
    settings: ConnectionSettings
    config: BenchConfig
    slept: float = 0.0
    _incident_settings: IncidentSettings | None = None  # set by reconfigure(); None: the configuration's
    # where ServiceNow's change notifications reach the core, and the Authorization header value it
    # accepts; None where the harness does not wire them (the core's delta watch still applies)
    notification_url: str | None = None
    _notification_header: str = ""
    alert_settings: AlertConfigSettings | None = None  # None: the configuration's

    def _connect(self, transport: Any, loop_thread: EventLoopThread, bp: BigPandaSettings,
                 sn: ServiceNowSettings) -> None:
        """Synchronous clients for both sides and the admin API (`transport(url)` gives each its transport)."""
        self._loop_thread = loop_thread
        self._organization = bp.organization
        self.credentials = Credentials.of(bp, sn)
        c = self.credentials
        # BigPanda takes two credentials: the user API key (Incidents API and the rest) and the
        # organisation token (the alerts API)
        self.bigpanda_client = httpx.Client(base_url=self.bigpanda_url, transport=transport(self.bigpanda_url),
                                            headers={"Authorization": f"Bearer {c.bigpanda_user_api_key}"})
        self.alerts_client = httpx.Client(base_url=self.bigpanda_url, transport=transport(self.bigpanda_url),
                                          headers={"Authorization": f"Bearer {c.bigpanda_org_token}"})
        self.servicenow_client = httpx.Client(
            base_url=self.servicenow_url, transport=transport(self.servicenow_url),
            auth=(c.servicenow_admin, c.servicenow_admin_password), headers={"Accept": "application/json"})
        bp_admin = SimulatorAdmin("bigpanda", httpx.Client(  # BigPanda's /_sim takes the admin token
            base_url=self.bigpanda_url, transport=transport(self.bigpanda_url),
            headers={"X-Bpsn-Admin-Token": bp.admin_token.get_secret_value()}))
        sn_admin = SimulatorAdmin("servicenow", httpx.Client(
            base_url=self.servicenow_url, transport=transport(self.servicenow_url),
            auth=(c.servicenow_admin, c.servicenow_admin_password)))
        self.admins = {"bigpanda": bp_admin, "servicenow": sn_admin}
        self.faults = Faults(bp_admin, sn_admin)
        self.journal = RequestJournal(bp_admin, sn_admin)
        # a person at BigPanda's console (the operator user): tags, snoozes and relations a test makes
        # are theirs, not the integration's; with the admin token they never count against the
        # API's rate limit, so a test's own reads cannot change what the core is allowed
        self.operator_client = httpx.Client(base_url=self.bigpanda_url, transport=transport(self.bigpanda_url),
                                            headers={"Authorization": f"Bearer {c.bigpanda_operator_api_key}",
                                                     "X-Bpsn-Admin-Token": bp.admin_token.get_secret_value()})
        self.bigpanda_views = BigPandaViews(self.operator_client, bp_admin)
        # asynchronous clients on the harness's loop (`run(harness.admin.get(...))`): ServiceNow as
        # admin, BigPanda's alerts API with the organisation token
        self.admin = self.async_client("servicenow", auth=(c.servicenow_admin, c.servicenow_admin_password))
        self.source = self.async_client("bigpanda", headers={"Authorization": f"Bearer {c.bigpanda_org_token}"})

    def _close_clients(self) -> None:
        for client in (self.bigpanda_client, self.alerts_client, self.servicenow_client, self.operator_client,
                       *(a.client for a in self.admins.values())):
            client.close()

        async def close_async() -> None:
            await self.admin.aclose()
            await self.source.aclose()
        self.run(close_async())

    def _async_transport(self, simulator: str) -> httpx.AsyncBaseTransport:
        raise NotImplementedError

    def async_client(self, simulator: str, **kwargs: Any) -> httpx.AsyncClient:
        """An asynchronous client of `bigpanda` or `servicenow` for the harness's loop (use it
        through `run(...)`); kwargs as httpx.AsyncClient's (auth, headers)."""
        url = self.bigpanda_url if simulator == "bigpanda" else self.servicenow_url

        async def make() -> httpx.AsyncClient:
            return httpx.AsyncClient(transport=self._async_transport(simulator), base_url=url, **kwargs)
        return self.run(make())

    def servicenow_user(self, user: str, password: str) -> httpx.AsyncClient:
        """A ServiceNow client acting as someone other than the core (an analyst)."""
        return self.async_client("servicenow", auth=(user, password))

    @property
    def organization(self) -> str:
        """The seeded BigPanda organisation the credentials belong to."""
        return self._organization

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = CALL_TIMEOUT) -> T:
        """Run a coroutine on the harness's loop (where the core and the simulators live)."""
        return self._loop_thread.run(coro, timeout)

    # --- the core ---------------------------------------------------------------------------------
    def _transports(self) -> dict[str, httpx.AsyncBaseTransport | None]:
        return {"bigpanda_transport": None, "servicenow_transport": None}

    def core_transport(self, simulator: str) -> httpx.AsyncBaseTransport:
        """A transport to `bigpanda` or `servicenow` for a piece of the core a test builds itself
        (a companion module, a forwarder): in-process or over the network, as the harness runs."""
        return self._async_transport(simulator)

    async def _virtual_sleep(self, seconds: float) -> None:
        """The core's waits (retry backoff) pass on the virtual clock, not the wall clock."""
        self._sim_clock.advance(seconds)
        self.slept += seconds

    @property
    def incident_settings(self) -> IncidentSettings:
        """The Incidents settings in force: set by `reconfigure`, else the configuration's."""
        return self._incident_settings or self.config.incident_settings(self._organization)

    def new_core(self) -> IntegrationRunner:
        """A fresh core (as after a restart): no memory but what the two systems hold."""
        real_time = not self._sim_clock.frozen  # a running clock: the core waits and paces for real
        alerts = self.alert_settings or self.config.alert_settings()

        async def build() -> IntegrationRunner:
            return build_runner(self.settings, clock=self._sim_clock, pace=real_time,
                                sleep=asyncio.sleep if real_time else self._virtual_sleep,
                                incident_settings=self.incident_settings,
                                alert_settings=alerts, **self._transports())
        return self.run(build())

    def reconfigure(self, incident_settings: IncidentSettings) -> None:
        """Restart the core with other Incidents settings (what a new configuration version does)."""
        self._incident_settings = incident_settings
        self.run(close_runner(self.runner))
        self.runner = self.new_core()

    def poll(self) -> PollReport:
        """One poll of the core now, its companions finished (in production they overlap the
        next retrieval)."""
        async def poll_and_settle() -> PollReport:
            report = await self.runner.poll_once()
            await self.runner.settle()
            return report
        return self.run(poll_and_settle())

    def cycle(self) -> PollReport | None:
        """One cycle as the core's own loop runs it: the delta watch, then a poll, an error in
        either logged, not raised (None when the poll failed); then its callbacks and companions."""
        async def cycle_and_settle() -> PollReport | None:
            report = await self.runner.cycle()
            await self.runner.settle()
            return report
        return self.run(cycle_and_settle())

    def watch(self) -> int:
        """One pass of the core's ServiceNow delta watch (ticket changes -> BigPanda)."""
        return self.run(self.runner.watch_once())

    # --- ServiceNow's change notifications (issue #16) ---------------------------------------------
    def notify_core_of_changes(self, *, tables: str = "incident", authorization: str | None = None) -> None:
        """Activate ServiceNow's outbound change notification (the seeded `u_bpsn_outbound_message`
        record, through the Table API as admin) pointing at this harness's core. `authorization`
        replaces the header value the core accepts (a wrong one makes the core refuse)."""
        if self.notification_url is None:
            raise RuntimeError(f"{type(self).__name__} does not wire change notifications to its core; "
                               "its delta watch picks changes up at each poll")
        r = self.servicenow_client.patch(f"/api/now/table/{OUTBOUND_TABLE}/{OUTBOUND_SYS_ID}", json={
            "active": "true", "endpoint": self.notification_url, "tables": tables,
            "auth_header": self._notification_header if authorization is None else authorization})
        r.raise_for_status()

    def settle_notifications(self) -> None:
        """Let ServiceNow's pending change notifications reach the core and the core do what is due
        now (a watch pass, tag calls whose window is over). `advance` does it too. No-op here."""

    # --- state ------------------------------------------------------------------------------------
    def reset(self, config: BenchConfig | None = None) -> None:
        """The seeded state again: data, clock, fault rules, journals, and a core with no memory,
        configured by `config` (or the one in force)."""
        if config is not None:
            self.config = config
        self._incident_settings = self.alert_settings = None
        self._restart_clock()  # first: the simulators seed their records at the start instant
        for admin in self.admins.values():
            admin.reset()  # data, fault rules and journal
        self.slept = 0.0
        self.run(close_runner(self.runner))
        self._apply_config()

    def configure(self, config: BenchConfig) -> None:
        """Another configuration, now, without a reset: the core restarts with its settings, its
        fixtures are loaded and its rules saved on top of the current state."""
        self.config = config
        self._incident_settings = self.alert_settings = None
        self.run(close_runner(self.runner))
        self._apply_config()

    def _restart_clock(self) -> None:
        self._sim_clock.restart()

    def _apply_config(self) -> None:
        if (bp := self.config.bigpanda_fixtures()) is not None:
            self.admins["bigpanda"].load_fixtures(bp)
        if (sn := self.config.servicenow_fixtures()) is not None:
            self.admins["servicenow"].load_fixtures(sn)
        self.runner = self.new_core()
        if self.config.rules:
            self.run(self.runner.rule_store.save_all(self._organization, self.config.rules))
        if self.config.fixtures is not None or self.config.rules:
            self.journal.clear()  # a test counts its own requests, not the set-up's

    # --- conveniences -----------------------------------------------------------------------------
    def advance(self, seconds: float) -> None:
        """Move the shared clock on; both simulators' timers due by then fire."""
        self.clock.advance(seconds)

    def incident(self, incident_id: str) -> IncidentView:
        """A BigPanda incident as its V2 API shows it (alerts expanded), from any environment."""
        return self.bigpanda_views.incident(incident_id)

    def tag_id(self, name: str) -> str:
        """The id of BigPanda's incident tag definition named `name`."""
        return self.bigpanda_views.tag_id(name)

    def journal_marks(self) -> tuple[int, int]:
        """The newest request ids of the ServiceNow and BigPanda journals: count from here."""
        mark = self.journal.mark()
        return mark["servicenow"], mark["bigpanda"]

    def requests(self, simulator: str, since_id: int = 0, **filters: Any) -> list[Request]:
        """Journaled requests of one simulator after request `since_id` (see `journal.find`)."""
        return self.journal.find(simulator=simulator, since={simulator: since_id}, **filters)

    def core_requests(self, simulator: str, since_id: int = 0, **filters: Any) -> list[Request]:
        """The core's own requests to one simulator after request `since_id`."""
        if simulator == "servicenow":
            return self.requests(simulator, since_id, user=self.settings.servicenow_user, **filters)
        token = self.settings.bigpanda_bearer_token.get_secret_value()
        return self.requests(simulator, since_id, user=journal_user(self._organization, "user", token), **filters)

    def send_alerts(self, *alerts: dict[str, Any]) -> httpx.Response:
        """Alerts through BigPanda's alerts API, with the seeded organisation's token and app key."""
        return self.alerts_client.post("/data/v2/alerts", json={"app_key": self.credentials.bigpanda_alerts_app_key,
                                                         "alerts": list(alerts)})

    def records(self, table: str, query: str = "") -> list[dict[str, Any]]:
        """ServiceNow records of a table matching an encoded query, read as admin."""
        r = self.servicenow_client.get(f"/api/now/table/{table}", params={
            "sysparm_query": query, "sysparm_exclude_reference_link": "true"})
        r.raise_for_status()
        return list(r.json()["result"])

    def tickets(self, query: str = "correlation_display=BigPanda") -> list[dict[str, Any]]:
        """ServiceNow incidents matching an encoded query (by default: every ticket the core made)."""
        return self.records("incident", query)
