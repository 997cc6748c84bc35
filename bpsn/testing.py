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
from bpsn.harness.journal import batch_items, batches_writing
from bpsn.integration.config.settings import ConnectionSettings
from bpsn.integration.engine.mapping import IncidentSettings
from bpsn.integration.factory import close_runner
from bpsn.integration.notifications import NOTIFICATION_PATH, ChangeFollower, NotificationApp, notification_token
from bpsn.simulator.bigpanda.app import create_app as create_bigpanda_app
from bpsn.simulator.bigpanda.backend import BigPandaBackend
from bpsn.simulator.bigpanda.settings import BigPandaSettings
from bpsn.simulator.common.asgi_call import InProcessTransport
from bpsn.simulator.servicenow.app import create_app as create_servicenow_app
from bpsn.simulator.servicenow.backend import ServiceNowBackend
from bpsn.simulator.servicenow.settings import ServiceNowSettings

BP_URL, SN_URL, CORE_URL = "http://bigpanda.test", "http://servicenow.test", "http://core.test"


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
        self.runner = self.new_core()
        self._wire_notifications()

    def _wire_notifications(self) -> None:
        """ServiceNow's change notifications reach the core's notification app in-process (still
        inactive: `notify_core_of_changes()` turns them on); `advance` lets them settle."""
        self.follower = ChangeFollower(lambda: self.runner)
        token = notification_token()
        self._notification_header = f"Bearer {token}"
        self.notification_app = NotificationApp(self.follower, token)
        self.notification_url = CORE_URL + NOTIFICATION_PATH
        self.servicenow.outbound.client = httpx.AsyncClient(transport=InProcessTransport(self.notification_app))

    def advance(self, seconds: float) -> None:
        super().advance(seconds)
        self.settle_notifications()

    def settle_notifications(self) -> None:
        if not self.servicenow.outbound.pending() and self.follower.due_in() is None:
            return  # nothing waits: no trip to the loop (most tests never turn notifications on)
        if self._loop_thread.on_loop():
            return  # the core's own waits run on the loop: they cannot wait on it (the next step settles)

        async def settle() -> None:
            for _ in range(10):  # a watch pass may write, and that write notify again
                await self.servicenow.outbound.flush()
                await self.follower.catch_up()
                if self.follower.due_in() != 0.0 and not any(
                        d.due <= self.clock.now() for d in self.servicenow.outbound.queue):
                    return
        self.run(settle())

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

    def _async_transport(self, simulator: str) -> httpx.AsyncBaseTransport:
        return InProcessTransport(self.bigpanda_app if simulator == "bigpanda" else self.servicenow_app)

    def reset(self, config: BenchConfig | None = None) -> None:
        self.bigpanda.pusher.client = None
        self.follower.forget()
        super().reset(config)

    # --- the simulators' state, in-process -------------------------------------------------------
    def _tick(self, _now: float) -> None:
        self.bigpanda.tick()
        self.servicenow.tick()

    @property
    def org(self) -> Any:
        """The default BigPanda organisation's state."""
        return self.bigpanda.orgs[self.bigpanda.settings.organization]

    def close(self) -> None:
        self.run(close_runner(self.runner))
        if self.servicenow.outbound.client is not None:
            self.run(self.servicenow.outbound.client.aclose())
        self._close_clients()
        self._loop_thread.stop()
        self.servicenow.store.close()


__all__ = ["InProcessBench", "batch_items", "batches_writing", "call_asgi"]
