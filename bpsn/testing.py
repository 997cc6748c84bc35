"""An in-process bench for tests: both simulators and the core on one virtual clock.

Nothing listens on a port: the core's HTTP clients talk to the simulators' ASGI apps
directly, so a scenario is fast, isolated and deterministic. Call from synchronous code
(pytest-bdd steps) through `bench.run(coroutine)`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx

from bpsn.base.clock import SimClock
from bpsn.integration.config.settings import ConnectionSettings
from bpsn.integration.engine.mapping import IncidentSettings
from bpsn.integration.factory import build_runner, close_runner
from bpsn.integration.modules.alert_config import AlertConfigSettings
from bpsn.integration.runner import IntegrationRunner, PollReport
from bpsn.simulator.bigpanda.app import create_app as create_bigpanda_app
from bpsn.simulator.bigpanda.backend import BigPandaBackend
from bpsn.simulator.bigpanda.settings import BigPandaSettings
from bpsn.simulator.common.asgi_call import InProcessTransport
from bpsn.simulator.servicenow.app import create_app as create_servicenow_app
from bpsn.simulator.servicenow.backend import ServiceNowBackend
from bpsn.simulator.servicenow.settings import ServiceNowSettings

T = TypeVar("T")
BATCH_PATH = "/api/now/v1/batch"


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


BP_URL, SN_URL = "http://bigpanda.test", "http://servicenow.test"


def call_asgi(app: Any, method: str, url: str, base_url: str = "http://testserver",
              **kwargs: Any) -> httpx.Response:
    """One request to an ASGI app from synchronous test code, with no server and no port."""
    async def send() -> httpx.Response:
        async with httpx.AsyncClient(transport=InProcessTransport(app), base_url=base_url) as client:
            return await client.request(method, url, **kwargs)
    return asyncio.run(send())


class InProcessBench:
    def __init__(self, *, seed: int = 1, incident_settings: IncidentSettings | None = None) -> None:
        self.clock = SimClock.virtual()
        self.bigpanda = BigPandaBackend(BigPandaSettings(base_url=BP_URL, seed=seed), clock=self.clock)
        self.servicenow = ServiceNowBackend(ServiceNowSettings(instance_url=SN_URL, seed=seed), clock=self.clock)
        self.bigpanda_app = create_bigpanda_app(self.bigpanda)
        self.servicenow_app = create_servicenow_app(self.servicenow)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="bench-loop", daemon=True)
        self._thread.start()
        self.settings = ConnectionSettings(bigpanda_url=BP_URL, servicenow_url=SN_URL)
        self.slept = 0.0
        self.incident_settings = incident_settings
        self.alert_settings: AlertConfigSettings | None = None  # None: the module's defaults
        self.runner = self.new_core()
        self.source = self.run(self._client(self.bigpanda_app, BP_URL,
                                            headers={"Authorization": f"Bearer {self.bigpanda.settings.org_token}"}))
        self.admin = self.run(self._client(self.servicenow_app, SN_URL, auth=("admin", "admin")))

    @staticmethod
    async def _client(app: Any, base_url: str, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=InProcessTransport(app), base_url=base_url, **kwargs)

    def new_core(self) -> IntegrationRunner:
        """A fresh core (as after a restart): no memory but what the two systems hold."""
        async def build() -> IntegrationRunner:
            return build_runner(self.settings, clock=self.clock, pace=False, sleep=self._virtual_sleep,
                                incident_settings=self.incident_settings, alert_settings=self.alert_settings,
                                bigpanda_transport=InProcessTransport(self.bigpanda_app),
                                servicenow_transport=InProcessTransport(self.servicenow_app))
        return self.run(build())

    def reconfigure(self, incident_settings: IncidentSettings) -> None:
        """Restart the core with other module settings (what a new configuration version does)."""
        self.incident_settings = incident_settings
        self.run(close_runner(self.runner))
        self.runner = self.new_core()

    async def _virtual_sleep(self, seconds: float) -> None:
        """The core's waits (retry backoff) pass on the virtual clock, not the wall clock."""
        self.advance(seconds)
        self.slept += seconds

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=60)

    # --- actions ------------------------------------------------------------------------------
    def send_alerts(self, *alerts: dict[str, Any]) -> httpx.Response:
        body = {"app_key": self.bigpanda.settings.alerts_app_key, "alerts": list(alerts)}
        return self.run(self.source.post("/data/v2/alerts", json=body))

    def poll(self) -> PollReport:
        """One poll, its companions finished (in production they overlap the next retrieval)."""
        async def poll_and_settle() -> PollReport:
            report = await self.runner.poll_once()
            await self.runner.settle()
            return report
        return self.run(poll_and_settle())

    def watch(self) -> int:
        """One pass of the core's ServiceNow delta watch (ticket changes -> BigPanda)."""
        return self.run(self.runner.watch_once())

    def servicenow_user(self, user: str, password: str) -> httpx.AsyncClient:
        """A ServiceNow client acting as someone other than the core (an analyst)."""
        return self.run(self._client(self.servicenow_app, SN_URL, auth=(user, password)))

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.bigpanda.tick()
        self.servicenow.tick()

    def tickets(self, query: str = "correlation_display=BigPanda") -> list[dict[str, Any]]:
        r = self.run(self.admin.get("/api/now/table/incident", params={
            "sysparm_query": query, "sysparm_exclude_reference_link": "true"}))
        r.raise_for_status()
        return list(r.json()["result"])

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
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()
        self.servicenow.store.close()
