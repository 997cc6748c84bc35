"""An in-process bench for tests: both simulators and the core on one virtual clock.

Nothing listens on a port: the core's HTTP clients talk to the simulators' ASGI apps directly,
so a scenario is fast, isolated and deterministic. Synchronous code (pytest-bdd steps) calls
the bench's loop through `bench.run(coroutine)`, or uses the synchronous clients
(`servicenow_client`, `bigpanda_client`, `alerts_client`), which run on that loop too.

A bench is built once and reset for each test (`reset()`: data, clock, fault rules, journals
and the core's memory), which costs milliseconds; building one costs a few hundred. The
`bpsn_bench` fixture (bpsn.pytest_plugin) hands out one bench per pytest worker, reset.
"""

from __future__ import annotations

from typing import Any

import httpx

from bpsn.base.clock import SimClock
from bpsn.harness.base import EventLoopThread, Harness
from bpsn.harness.config import BenchConfig
from bpsn.integration.config.settings import ConnectionSettings
from bpsn.integration.engine.mapping import IncidentSettings
from bpsn.integration.factory import close_runner
from bpsn.integration.modules.alert_config import AlertConfigSettings
from bpsn.simulator.bigpanda.app import create_app as create_bigpanda_app
from bpsn.simulator.bigpanda.backend import BigPandaBackend
from bpsn.simulator.bigpanda.settings import BigPandaSettings
from bpsn.simulator.common.asgi_call import InProcessTransport
from bpsn.simulator.servicenow.app import create_app as create_servicenow_app
from bpsn.simulator.servicenow.backend import ServiceNowBackend
from bpsn.simulator.servicenow.settings import ServiceNowSettings

BATCH_PATH = "/api/now/v1/batch"
BP_URL, SN_URL = "http://bigpanda.test", "http://servicenow.test"


def batch_items(entries: list[Any]) -> list[list[tuple[str, str]]]:
    """The (method, table) writes of each Batch API request: its items are journaled just before it."""
    out: list[list[tuple[str, str]]] = []
    items: list[tuple[str, str]] = []
    for e in entries:
        if e.path == BATCH_PATH:
            out.append(items)
            items = []
        elif e.method != "GET":
            items.append((e.method, e.table))
    return out


def batches_writing(entries: list[Any], table: str) -> int:
    """Batch API requests that wrote `table`."""
    return sum(any(t == table for _, t in items) for items in batch_items(entries))


def call_asgi(app: Any, method: str, url: str, base_url: str = "http://testserver",
              **kwargs: Any) -> httpx.Response:
    """One request to an ASGI app from synchronous test code, with no server and no port."""
    with httpx.Client(transport=InProcessTransport(app), base_url=base_url) as client:
        return client.request(method, url, **kwargs)


class InProcessBench(Harness):
    """Both simulators (their backends: `bigpanda`, `servicenow`; their apps) and the core."""

    def __init__(self, *, seed: int = 1, incident_settings: IncidentSettings | None = None,
                 config: BenchConfig | None = None) -> None:
        self.bigpanda_url, self.servicenow_url = BP_URL, SN_URL
        self.clock = self._sim_clock = SimClock.virtual()
        bp, sn = BigPandaSettings(base_url=BP_URL, seed=seed), ServiceNowSettings(instance_url=SN_URL, seed=seed)
        self.bigpanda = BigPandaBackend(bp, clock=self.clock)
        self.servicenow = ServiceNowBackend(sn, clock=self.clock)
        self.clock.on_advance(self._tick)
        self.bigpanda_app = create_bigpanda_app(self.bigpanda)
        self.servicenow_app = create_servicenow_app(self.servicenow)
        self._loop_thread = EventLoopThread("bench-loop")
        self._connect(self.transport_for, self._loop_thread, bp, sn)
        self.settings = ConnectionSettings(bigpanda_url=BP_URL, servicenow_url=SN_URL)
        self.config = config or BenchConfig()
        self._incident_settings = incident_settings
        self.alert_settings: AlertConfigSettings | None = None  # None: the configuration's
        self.runner = self.new_core()
        self.source = self.run(self._client(self.bigpanda_app, BP_URL,
                                            headers={"Authorization": f"Bearer {self.bigpanda.settings.org_token}"}))
        self.admin = self.run(self._client(self.servicenow_app, SN_URL, auth=("admin", sn.admin_password)))

    # --- transports and clients ------------------------------------------------------------------
    def transport(self, simulator: str) -> InProcessTransport:
        """A transport to one simulator's app (`bigpanda` or `servicenow`) for your own
        httpx.Client or httpx.AsyncClient; synchronous requests run on the bench's loop."""
        app = {"bigpanda": self.bigpanda_app, "servicenow": self.servicenow_app}[simulator]
        return InProcessTransport(app, loop=self._loop_thread.loop)

    def transport_for(self, url: str) -> InProcessTransport:
        return self.transport("bigpanda" if url == BP_URL else "servicenow")

    def _transports(self) -> dict[str, Any]:
        return {"bigpanda_transport": InProcessTransport(self.bigpanda_app),
                "servicenow_transport": InProcessTransport(self.servicenow_app)}

    @staticmethod
    async def _client(app: Any, base_url: str, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=InProcessTransport(app), base_url=base_url, **kwargs)

    def servicenow_user(self, user: str, password: str) -> httpx.AsyncClient:
        """A ServiceNow client acting as someone other than the core (an analyst)."""
        return self.run(self._client(self.servicenow_app, SN_URL, auth=(user, password)))

    # --- the core's configuration ---------------------------------------------------------------
    @property
    def incident_settings(self) -> IncidentSettings:
        """The Incidents settings in force: set by `reconfigure`, else the configuration's."""
        return self._incident_settings or self.config.incident_settings(self._organization)

    def new_core(self) -> Any:
        if self._incident_settings is None and self.alert_settings is None:
            return super().new_core()
        saved = self.config
        self.config = _Overridden(saved, self._incident_settings, self.alert_settings)  # type: ignore[assignment]
        try:
            return super().new_core()
        finally:
            self.config = saved

    def reconfigure(self, incident_settings: IncidentSettings) -> None:
        """Restart the core with other module settings (what a new configuration version does)."""
        self._incident_settings = incident_settings
        self.run(close_runner(self.runner))
        self.runner = self.new_core()

    def configure(self, config: BenchConfig) -> None:
        self._incident_settings = None
        self.alert_settings = None
        super().configure(config)

    def reset(self, config: BenchConfig | None = None) -> None:
        self._incident_settings = None
        self.alert_settings = None
        self.bigpanda.pusher.client = None
        super().reset(config)

    # --- actions ---------------------------------------------------------------------------------
    def send_alerts(self, *alerts: dict[str, Any]) -> httpx.Response:
        body = {"app_key": self.bigpanda.settings.alerts_app_key, "alerts": list(alerts)}
        return self.run(self.source.post("/data/v2/alerts", json=body))

    def _tick(self, _now: float) -> None:
        self.bigpanda.tick()
        self.servicenow.tick()

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)  # both simulators' timers run with it (on_advance)

    @property
    def org(self) -> Any:
        """The default BigPanda organisation's state."""
        return self.bigpanda.orgs[self.bigpanda.settings.organization]

    def tag_id(self, name: str) -> str:
        return next(t.id for t in self.org.tag_definitions.values() if t.name == name)

    def journal_marks(self) -> tuple[int, int]:
        """The newest request ids of the ServiceNow and BigPanda journals: count from here."""
        return tuple(  # type: ignore[return-value]
            (entries[-1].id if (entries := journal.find()) else 0)
            for journal in (self.servicenow.journal, self.bigpanda.journal))

    def incident(self, incident_id: str) -> Any:
        return self.bigpanda.orgs[self.bigpanda.settings.organization].incidents[incident_id]

    def close(self) -> None:
        async def shutdown() -> None:
            await close_runner(self.runner)
            await self.source.aclose()
            await self.admin.aclose()
        self.run(shutdown())
        self._close_clients()
        self._loop_thread.stop()
        self.servicenow.store.close()


class _Overridden:
    """A configuration with the bench's own overrides of the Incidents and alert settings."""

    def __init__(self, config: BenchConfig, incidents: IncidentSettings | None,
                 alerts: AlertConfigSettings | None) -> None:
        self._config, self._incidents, self._alerts = config, incidents, alerts

    def incident_settings(self, organization: str) -> IncidentSettings:
        return self._incidents or self._config.incident_settings(organization)

    def alert_settings(self) -> AlertConfigSettings:
        return self._alerts or self._config.alert_settings()


__all__ = ["InProcessBench", "batch_items", "batches_writing", "call_asgi"]
