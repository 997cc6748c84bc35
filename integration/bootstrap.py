"""From a configuration version in x_bip_panda_config to a running core for one organisation.

What comes from where:

- the environment (`ConnectionSettings`, BPSN_*): how the core reaches the instance, the
  ServiceNow URL and the integration user's password, plus HTTP tuning (timeout, attempts,
  BigPanda pacing). It cannot come from the instance: it is how the instance is read.
- the organisation's current version: every setting of the seed's connection table and
  connection defaults. BigPanda's base URL (the region's when `region` is US or EU), the
  Retrieval and Callback Endpoints as whole URLs, the console URL, the bearer token (or the
  organisation API key as the legacy fallback when there is none), the app keys that turn the
  changes, CMDB and OIM modules on (with their switches; modules_wiring.py), the CMDB defaults,
  the integration user's name and the module settings (engine settings, poll interval, batch
  size, log level). A version mapping a non-Text incident tag is refused (check_tag_types).

The record names the integration user; the core logs in with the environment's user. The two
must be the same account, or the echo guard would take the core's own writes for an analyst's
(and answer them): a mismatch is refused with both names and how to fix it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
from pydantic import SecretStr

from bpsn.base.clock import Clock
from bpsn.integration.config.crypto import ConfigCipher
from bpsn.integration.config.models import IntegrationConfig
from bpsn.integration.config.settings import ConnectionSettings
from bpsn.integration.config.versioned import (
    TABLE,
    ConfigAdminSettings,
    ConfigStore,
    ConfigVersion,
    open_store,
)
from bpsn.integration.engine.mapping import IncidentSettings
from bpsn.integration.engine.tags import closed_list_mappings

from .factory import build_runner
from .logs import REDACTOR, Redactor
from .modules_wiring import Module, ModuleTransports, build_modules, module_choice
from .runner import IntegrationRunner


class BootstrapError(RuntimeError):
    """The core cannot start (or apply a version) for a reason the operator can fix: what is wrong, and how."""

    def __init__(self, problem: str, fix: str = "") -> None:
        super().__init__(f"{problem}. Fix: {fix}" if fix else problem)
        self.problem, self.fix = problem, fix


class MissingConfiguration(BootstrapError):
    pass


def how_to_create(org: str) -> str:
    return (f"as a user with x_bip_panda.admin (BPSN_CONFIG_USER / BPSN_CONFIG_PASSWORD) run "
            f"`bpsn config set bearer_token --org {org}` and `bpsn config set incidents_app_key --org {org}` "
            f"(values on stdin or at the prompt), then `bpsn config set api_base_url <BigPanda API URL> --org {org}`")


@dataclass(frozen=True)
class OrgPlan:
    """Everything needed to run the core for one organisation, from one configuration version."""

    organization: str
    version: int
    config: IntegrationConfig
    connection: ConnectionSettings
    incident_settings: IncidentSettings

    @property
    def modules(self) -> dict[str, str]:
        """Every module and why it does not run ("" when it runs)."""
        return module_choice(self.config)

    @property
    def legacy_credential(self) -> bool:
        """True when the organisation API key stands in for a missing bearer token."""
        return self.config.bearer_credential[1] == "api_key"


def connection_for(config: IntegrationConfig, org: str, base: ConnectionSettings) -> ConnectionSettings:
    """The environment's settings with the organisation's BigPanda side and polling from `config`."""
    if config.integration_user != base.servicenow_user:
        raise BootstrapError(
            f"the configuration of {org!r} names integration user {config.integration_user!r} but the core logs in "
            f"to ServiceNow as {base.servicenow_user!r} (BPSN_SERVICENOW_USER): they must be the same account",
            f"`bpsn config set integration_user {base.servicenow_user} --org {org}`, or set "
            f"BPSN_SERVICENOW_USER / BPSN_SERVICENOW_PASSWORD to {config.integration_user!r}'s credentials")
    token = config.bearer_credential[0]
    missing = [] if token else ["bearer_token (nor an api_key, its legacy fallback)"]
    if config.settings.active and not config.incidents_app_key:  # type: ignore[attr-defined]
        missing.append("incidents_app_key")
    if missing:
        raise BootstrapError(f"the configuration of {org!r} has no {' and no '.join(missing)}",
                             " and ".join(f"`bpsn config set {name.split()[0]} --org {org}`" for name in missing)
                             + " (the value on stdin or at the prompt)")
    return base.model_copy(update={
        "bigpanda_url": config.bigpanda_api_url,
        "bigpanda_console_url": config.incident_url_base.rstrip("/"),
        "bigpanda_bearer_token": SecretStr(token),
        "bigpanda_api_key": SecretStr(config.api_key.reveal() or token),
        "incidents_app_key": SecretStr(config.incidents_app_key.reveal()),
        "poll_interval": config.settings.poll_interval,
        "retrieval_count": config.settings.retrieval_count,
    })


def plan_for(version: ConfigVersion, base: ConnectionSettings, redactor: Redactor = REDACTOR) -> OrgPlan:
    """Pure but for one side effect: the version's credentials join the log redactor before anything logs."""
    redactor.add_config(version.config)
    org = version.organization
    return OrgPlan(organization=org, version=version.version, config=version.config,
                   connection=connection_for(version.config, org, base),
                   incident_settings=version.config.incident_settings(org))


async def organizations_to_run(store: ConfigStore, orgs: list[str], all_orgs: bool) -> list[str]:
    if all_orgs:
        found = await store.organizations()
        if not found:
            raise MissingConfiguration(f"no organisation has a configuration in {TABLE} on this instance",
                                       how_to_create("<organisation>"))
        return sorted(set(found) | set(orgs))
    if not orgs:
        raise BootstrapError("name at least one organisation (--org NAME) or pass --all-orgs")
    return list(dict.fromkeys(orgs))


async def load_plans(store: ConfigStore, orgs: list[str], base: ConnectionSettings,
                     redactor: Redactor = REDACTOR) -> list[OrgPlan]:
    """Every organisation's current version as a plan; refuses when any has none (naming them all)."""
    versions = {org: await store.current(org) for org in orgs}
    missing = [org for org, v in versions.items() if v is None]
    if missing:
        raise MissingConfiguration(
            f"{', '.join(repr(org) for org in missing)}: no configuration version in {TABLE}",
            "; ".join(f"for {org!r}, {how_to_create(org)}" for org in missing))
    return [plan_for(v, base, redactor) for v in versions.values() if v is not None]


def reader_settings(base: ConnectionSettings) -> ConfigAdminSettings:
    """The core reads its configuration as the integration user (x_bip_panda_user: read, credentials masked
    by encryption); only `bpsn config` writes it, as an x_bip_panda.admin user."""
    return ConfigAdminSettings(servicenow_url=base.servicenow_url, config_user=base.servicenow_user,
                               config_password=base.servicenow_password, http_timeout=base.http_timeout)


@contextlib.asynccontextmanager
async def open_reader(base: ConnectionSettings, *, transport: httpx.AsyncBaseTransport | None = None,
                      cipher: ConfigCipher | None = None) -> AsyncIterator[ConfigStore]:
    async with open_store(reader_settings(base), transport=transport) as store:
        if cipher is not None:
            store.cipher = cipher
        yield store


@dataclass
class RunnerBuilder:
    """How runners are built in this process: the real defaults, or a test's transports and virtual time."""

    clock: Clock
    bigpanda_transport: httpx.AsyncBaseTransport | None = None
    servicenow_transport: httpx.AsyncBaseTransport | None = None
    pace: bool = True
    seed: int = 0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def build(self, plan: OrgPlan) -> IntegrationRunner:
        runner = build_runner(plan.connection, clock=self.clock, incident_settings=plan.incident_settings,
                              bigpanda_transport=self.bigpanda_transport,
                              servicenow_transport=self.servicenow_transport, seed=self.seed, pace=self.pace,
                              sleep=self.sleep, alert_settings=plan.config.settings.alert_settings(),
                              privacy=plan.config.settings.privacy)
        retrieval, callback = endpoints_of(plan.config)
        if retrieval or callback:
            runner.bigpanda.shares_url = retrieval or runner.bigpanda.shares_url
            runner.bigpanda.callbacks_url = callback or runner.bigpanda.callbacks_url
        return runner

    def build_modules(self, plan: OrgPlan, runner: IntegrationRunner) -> dict[str, Module]:
        return build_modules(plan.config, plan.connection, runner, self.clock,
                             ModuleTransports(self.bigpanda_transport, self.servicenow_transport, self.seed,
                                              self.sleep))


async def check_tag_types(plan: OrgPlan, runner: IntegrationRunner) -> None:
    """Refuses a version whose Incident Tag Mapping names a BigPanda tag that is not a Text tag
    (one read of the tag definitions, only when tags are mapped)."""
    mappings = plan.incident_settings.tag_mappings
    if not mappings:
        return
    problems = closed_list_mappings(mappings, await runner.bigpanda.tag_definitions())
    if problems:
        raise BootstrapError(f"the configuration of {plan.organization!r} version {plan.version}: "
                             + "; ".join(problems),
                             f"map only Text incident tags: `bpsn config set tag_mappings ... --org {plan.organization}`")


def endpoints_of(config: IntegrationConfig) -> tuple[str, str]:
    """The Retrieval and Callback Endpoints as whole URLs ("" where the base URL's paths apply)."""
    return config.settings.retrieval_endpoint, config.settings.callback_endpoint  # type: ignore[attr-defined]
