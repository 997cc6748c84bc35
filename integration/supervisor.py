"""Several organisations in one core: one runner each, run concurrently, reconfigured without a restart.

Each organisation has an `OrgWorker`. A cycle is what `IntegrationRunner.run` does once (the
ServiceNow delta watch, then a share poll) preceded by one small query: the number of the
organisation's current configuration version. When it differs from the version applied, the
worker reads that version, builds a new runner from it and carries the delta watch's position
over, so no ticket change is lost or replayed; it logs the names of the fields that changed,
never a credential's value. A version that cannot be applied (wrong key, wrong integration
user) is logged once and the worker keeps running on the version it has.

The worker also runs the organisation's optional modules (changes, CMDB, OIM) as the version
says (modules_wiring.RunningModules): a new version stops them and starts its own, after the
new runner is built and before the old one closes. A version mapping a non-Text incident tag
is refused like a wrong key.

The worker drives the runner's public steps (`watch_once`, `poll_once`) itself rather than
`runner.run`, which has no hook between cycles. Organisations are isolated: each reads only its
own versions, and a failure in one worker's cycle never stops another's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from bpsn.integration.clients.servicenow import ServiceNowError
from bpsn.integration.config.crypto import ConfigCipher, ConfigKeyError
from bpsn.integration.config.settings import ConnectionSettings
from bpsn.integration.config.versioned import ConfigStore, changed_fields

from .bootstrap import (
    BootstrapError,
    OrgPlan,
    RunnerBuilder,
    check_tag_types,
    load_plans,
    open_reader,
    organizations_to_run,
    plan_for,
)
from .factory import close_runner
from .logs import REDACTOR, Redactor, most_verbose
from .modules_wiring import RunningModules
from .runner import IntegrationRunner, PollReport

log = logging.getLogger("bpsn.integration.supervisor")
READ_FIXES = {401: "Check BPSN_SERVICENOW_USER / BPSN_SERVICENOW_PASSWORD. ",
              403: "Give that user the x_bip_panda_user role (it reads x_bip_panda_config). "}
Wait = Callable[[asyncio.Event, float], Awaitable[None]]


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass


def carry_over(old: IntegrationRunner, new: IntegrationRunner, *, same_engine_settings: bool) -> None:
    """What a runner learnt that lives nowhere else: the delta watch's cursor (and the rows already
    handled at its second), the incidents' environments, the totals and, when the engine's settings
    did not change, the engine itself (ticket states last seen, tag changes waiting to be sent).
    With new engine settings the engine starts fresh, as after a restart."""
    new.watch.cursor = old.watch.cursor  # its position and the rows already handled at that second
    new.watch.environment_of.update(old.watch.environment_of)
    new.totals = old.totals
    if same_engine_settings:
        new.engine = new.watch.engine = old.engine


@dataclass
class OrgWorker:
    plan: OrgPlan
    runner: IntegrationRunner
    store: ConfigStore
    builder: RunnerBuilder
    base: ConnectionSettings
    redactor: Redactor = REDACTOR
    refused_version: int | None = None  # a version that could not be applied: not retried every cycle
    reconfigured: int = 0
    on_applied: Callable[[], None] | None = None
    modules: RunningModules = field(default_factory=RunningModules)  # changes, cmdb, oim: as the version says

    @property
    def organization(self) -> str:
        return self.plan.organization

    async def refresh(self) -> bool:
        """One query; when a new current version exists, apply it. True when the runner changed."""
        org = self.organization
        number = await self.store.current_version_number(org)
        if number is None or number in (self.plan.version, self.refused_version):
            return False
        try:
            version = await self.store.current(org)
            if version is None:
                return False
            plan = plan_for(version, self.base, self.redactor)
        except (BootstrapError, ConfigKeyError, ValueError) as exc:
            self.refused_version = number
            log.error("configuration of %s: version %d not applied, still running version %d: %s", org, number,
                      self.plan.version, exc, extra={"organization": org, "version": number})
            return False
        changed = changed_fields(self.plan.config, plan.config)
        runner = self.builder.build(plan)
        try:
            await check_tag_types(plan, runner)
        except BootstrapError as exc:
            await close_runner(runner)
            self.refused_version = number
            log.error("configuration of %s: version %d not applied, still running version %d: %s", org, number,
                      self.plan.version, exc, extra={"organization": org, "version": number})
            return False
        carry_over(self.runner, runner, same_engine_settings=plan.incident_settings == self.plan.incident_settings)
        modules = self.builder.build_modules(plan, runner)
        old, self.runner, previous = self.runner, runner, self.plan
        self.plan, self.refused_version = plan, None
        self.reconfigured += 1
        await self.modules.replace(modules)  # the old modules use the old runner's clients: stop them first
        await close_runner(old)
        if self.on_applied is not None:
            self.on_applied()
        log.info("configuration of %s: version %d applied (was %d); changed: %s", org, plan.version,
                 previous.version, ", ".join(changed) or "nothing",
                 extra={"organization": org, "version": plan.version, "previous_version": previous.version,
                        "changed": changed})
        log_modules(self.plan)
        return True

    async def cycle(self) -> bool:
        """One cycle: configuration check, delta watch, share poll. True when shares are still waiting."""
        org = {"organization": self.organization}
        try:
            await self.refresh()
        except Exception as exc:  # the instance is down or refused: keep running the version we have
            log.warning("configuration of %s not checked: %s", self.organization, exc, extra=org)
        report = await self.runner.cycle(org)
        if report is not None and report.shares:
            log.info("%s: %d shares, %d created, %d updated, %d errors", self.organization, report.shares,
                     report.created, report.updated, report.errors,
                     extra={**org, "shares": report.shares, "tickets_created": report.created,
                            "tickets_updated": report.updated, "errors": report.errors})
        return self.runner.again(report)

    async def run(self, stop: asyncio.Event, wait: Wait = wait_or_stop) -> None:
        self.modules.start()
        try:
            while not stop.is_set():
                if not await self.cycle():
                    await wait(stop, self.runner.poll_interval)
        finally:
            await self.modules.stop()


def log_modules(plan: OrgPlan) -> None:
    """Which modules run for an organisation, and why the others do not (never a credential)."""
    choice = plan.modules
    running = [name for name, why in choice.items() if not why]
    off = [f"{name} ({why})" for name, why in choice.items() if why]
    log.info("organisation %s: modules running: %s; not running: %s%s", plan.organization,
             ", ".join(running) or "none", ", ".join(off) or "none",
             "; BigPanda calls use the organisation API key (no bearer token: legacy fallback)"
             if plan.legacy_credential else "",
             extra={"organization": plan.organization, "modules": running, "legacy_credential": plan.legacy_credential})


@dataclass
class Supervisor:
    workers: list[OrgWorker]
    log_level_override: str | None = None
    on_log_level: Callable[[str], None] | None = None
    _level: str = field(default="", init=False)

    @classmethod
    def start(cls, plans: list[OrgPlan], store: ConfigStore, builder: RunnerBuilder, base: ConnectionSettings, *,
              log_level_override: str | None = None, on_log_level: Callable[[str], None] | None = None,
              redactor: Redactor = REDACTOR) -> Supervisor:
        workers = [OrgWorker(plan, builder.build(plan), store, builder, base, redactor) for plan in plans]
        for w in workers:
            w.modules.modules = builder.build_modules(w.plan, w.runner)
            log_modules(w.plan)
        sup = cls(workers, log_level_override, on_log_level)
        for w in workers:
            w.on_applied = sup.apply_log_level  # a new version may change the level
        sup.apply_log_level()
        for w in workers:
            log.info("organisation %s: configuration version %d, BigPanda %s -> ServiceNow %s, polling every %g s",
                     w.organization, w.plan.version, w.plan.connection.bigpanda_url, base.servicenow_url,
                     w.runner.poll_interval, extra={"organization": w.organization, "version": w.plan.version})
        return sup

    def log_level(self) -> str:
        return self.log_level_override or most_verbose(w.plan.config.settings.log_level for w in self.workers)

    def apply_log_level(self) -> None:
        level = self.log_level()
        if level != self._level and self.on_log_level is not None:
            self.on_log_level(level)
        self._level = level

    def worker(self, organization: str) -> OrgWorker:
        for w in self.workers:
            if w.organization == organization:
                return w
        raise KeyError(f"no worker for organisation {organization!r}")

    async def cycle_all(self) -> list[bool]:
        """One cycle of every organisation, concurrently (tests step through time with this)."""
        return list(await asyncio.gather(*(w.cycle() for w in self.workers)))

    async def run(self, stop: asyncio.Event, wait: Wait = wait_or_stop) -> None:
        await asyncio.gather(*(w.run(stop, wait) for w in self.workers))

    async def aclose(self) -> None:
        for w in self.workers:
            await w.modules.stop()
            await close_runner(w.runner)


async def serve_from_config(base: ConnectionSettings, orgs: list[str], all_orgs: bool, stop: asyncio.Event, *,
                            builder: RunnerBuilder, log_level_override: str | None = None,
                            on_log_level: Callable[[str], None] | None = None,
                            on_started: Callable[[Supervisor], None] | None = None,
                            servicenow_transport: httpx.AsyncBaseTransport | None = None,
                            cipher: ConfigCipher | None = None,
                            redactor: Redactor = REDACTOR) -> dict[str, PollReport]:
    """`bpsn core --org ...`: load every organisation's current version, run until `stop`, return the totals.

    Raises BootstrapError (MissingConfiguration when an organisation has no version) before anything runs."""
    redactor.add_connection(base)
    async with open_reader(base, transport=servicenow_transport, cipher=cipher) as store:
        try:
            plans = await load_plans(store, await organizations_to_run(store, orgs, all_orgs), base, redactor)
        except ConfigKeyError as exc:
            raise BootstrapError(str(exc), "set BPSN_CONFIG_KEY to the key the configuration was saved with") from None
        except ServiceNowError as exc:
            raise BootstrapError(f"cannot read the configuration as {base.servicenow_user!r}: {exc}",
                                 READ_FIXES.get(exc.status_code, "") + "`bpsn selftest --org NAME` checks it all") \
                from None
        except httpx.TransportError as exc:
            raise BootstrapError(f"cannot reach ServiceNow at {base.servicenow_url} ({type(exc).__name__})",
                                 "check BPSN_SERVICENOW_URL and that the instance is up") from None
        sup = Supervisor.start(plans, store, builder, base, log_level_override=log_level_override,
                               on_log_level=on_log_level, redactor=redactor)
        try:
            for w in sup.workers:
                await check_tag_types(w.plan, w.runner)
        except BaseException:
            await sup.aclose()
            raise
        if on_started is not None:
            on_started(sup)
        try:
            await sup.run(stop)
        finally:
            await sup.aclose()
        return {w.organization: w.runner.totals for w in sup.workers}
