"""Steps of config_drives_modules.feature and settings_take_effect.feature (issue #17, must-holds 1
and 2): the core run from configuration versions in x_bip_panda_config, as `bpsn core --org` runs it.

The versions are written over the Table API as the instance's admin, the core reads them as its
integration user and reaches both simulators through the harness's transports, so the same
steps run against a remote stack. Values in a settings table: `(seeded)` is the seeded
credential of that name, `(none)` an empty value, `(bigpanda)` the BigPanda simulator's URL.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from cryptography.fernet import Fernet
from pytest_bdd import given, parsers, then, when

from bpsn.harness.base import Harness
from bpsn.integration.bootstrap import RunnerBuilder, load_plans, open_reader
from bpsn.integration.clients.http import ApiClient
from bpsn.integration.clients.servicenow import ServiceNowClient
from bpsn.integration.config.crypto import ConfigCipher
from bpsn.integration.config.models import (
    ALERT_CONFIG_OWNED,
    IntegrationConfig,
    ModuleSettings,
)
from bpsn.integration.config.tag_types import TagTypeRefused, refuse_closed_list_tags
from bpsn.integration.config.versioned import ConfigStore
from bpsn.integration.modules.alert_config import QUESTIONS
from bpsn.integration.supervisor import Supervisor

SEEDED = {"bearer_token": "bigpanda_user_api_key", "api_key": "bigpanda_org_token",
          "incidents_app_key": "bigpanda_incidents_app_key", "changes_app_key": "bigpanda_changes_app_key",
          "oim_app_key": "bigpanda_oim_app_key"}
SETTING_OF_QUESTION = {question: name for name, question in QUESTIONS.items()}


class ConfiguredCore:
    """One scenario's versions (written as admin) and the supervised core that runs them."""

    def __init__(self, bench: Harness) -> None:
        self.bench = bench
        self.cipher = ConfigCipher(Fernet.generate_key().decode())
        self.writer = bench.servicenow_user(bench.credentials.servicenow_admin,
                                            bench.credentials.servicenow_admin_password)
        self.supervisor: Supervisor | None = None
        self._reader: Any = None

    @property
    def organization(self) -> str:
        return self.bench.organization

    def store(self) -> ConfigStore:
        return ConfigStore(ServiceNowClient(ApiClient(self.writer)), self.cipher)

    def value(self, name: str, raw: str) -> Any:
        if raw == "(seeded)":
            return getattr(self.bench.credentials, SEEDED[name])
        if raw == "(none)":
            return ""
        if "(bigpanda)" in raw:
            return raw.replace("(bigpanda)", self.bench.bigpanda_url.rstrip("/"))
        return json.loads(raw) if raw.lstrip().startswith(("[", "{")) else raw

    def current(self) -> IntegrationConfig | None:
        version = self.bench.run(self.store().current(self.organization))
        return version.config if version else None

    def save(self, changes: dict[str, str]) -> None:
        base = self.current() or IntegrationConfig().replace(
            bearer_token=self.bench.credentials.bigpanda_user_api_key, api_key=self.bench.credentials.bigpanda_org_token,
            incidents_app_key=self.bench.credentials.bigpanda_incidents_app_key,
            api_base_url=self.bench.bigpanda_url.rstrip("/"), integration_user=self.bench.settings.servicenow_user)
        config = base.replace(**{name: self.value(name, raw) for name, raw in changes.items()})
        self.bench.run(self.store().save(self.organization, config, "a scenario's version"))

    def start(self) -> Supervisor:
        bench = self.bench
        builder = RunnerBuilder(bench._sim_clock, bigpanda_transport=bench.core_transport("bigpanda"),
                                servicenow_transport=bench.core_transport("servicenow"), pace=False,
                                sleep=bench._virtual_sleep)

        async def work() -> Supervisor:
            self._reader = open_reader(bench.settings, transport=bench.core_transport("servicenow"),
                                       cipher=self.cipher)
            store = await self._reader.__aenter__()
            plans = await load_plans(store, [self.organization], bench.settings)
            return Supervisor.start(plans, store, builder, bench.settings)
        self.supervisor = bench.run(work())
        return self.supervisor

    def worker(self) -> Any:
        assert self.supervisor is not None, "the core has not started from the configuration"
        return self.supervisor.worker(self.organization)

    def close(self) -> None:
        async def work() -> None:
            if self.supervisor is not None:
                await self.supervisor.aclose()
            if self._reader is not None:
                await self._reader.__aexit__(None, None, None)
            await self.writer.aclose()
        self.bench.run(work())


@pytest.fixture
def bpsn_configured_core(bpsn_bench: Harness) -> Any:
    core = ConfiguredCore(bpsn_bench)
    yield core
    core.close()


def _table(datatable: list[list[str]]) -> dict[str, str]:
    return {name: value for name, value in datatable[1:]}


# --- versions and the core --------------------------------------------------------------------
@given("the organisation's configuration has its bearer token, API key and Incidents App Key")
def first_version(bpsn_configured_core: ConfiguredCore) -> None:
    bpsn_configured_core.save({})


@given("the organisation's configuration sets:")
@when("a new configuration version sets:")
def new_version(bpsn_configured_core: ConfiguredCore, datatable: list[list[str]]) -> None:
    bpsn_configured_core.save(_table(datatable))


@given("the core runs from the organisation's configuration")
@when("the core starts from the organisation's configuration")
def core_starts(bpsn_configured_core: ConfiguredCore) -> None:
    bpsn_configured_core.start()


@when("the core runs one cycle")
def one_cycle(bpsn_bench: Harness, bpsn_configured_core: ConfiguredCore) -> None:
    assert bpsn_configured_core.supervisor is not None
    bpsn_bench.run(bpsn_configured_core.supervisor.cycle_all())


@then(parsers.parse("the core runs configuration version {version:d}"))
def runs_version(bpsn_configured_core: ConfiguredCore, version: int) -> None:
    assert bpsn_configured_core.worker().plan.version == version


@then(parsers.parse('the modules running are "{names}"'))
def modules_running(bpsn_configured_core: ConfiguredCore, names: str) -> None:
    w = bpsn_configured_core.worker()
    running = sorted(n for n, why in w.plan.modules.items() if not why)
    assert running == sorted(n.strip() for n in names.split(",")), w.plan.modules
    assert w.modules.names == sorted(n for n in running if n != "incidents")


@then(parsers.parse('the module "{name}" is not running: "{why}"'))
def module_not_running(bpsn_configured_core: ConfiguredCore, name: str, why: str) -> None:
    assert bpsn_configured_core.worker().plan.modules[name] == why


@then("the CMDB sync runs with:")
def cmdb_sync_settings(bpsn_configured_core: ConfiguredCore, datatable: list[list[str]]) -> None:
    settings = bpsn_configured_core.worker().modules.modules["cmdb"].worker.settings
    for name, value in _table(datatable).items():
        assert getattr(settings, name) == type(getattr(settings, name))(value), (name, getattr(settings, name))


@then(parsers.parse('the core sends the Changes App Key of version {version:d} with each change'))
def changes_key_sent(bpsn_bench: Harness, bpsn_configured_core: ConfiguredCore, version: int) -> None:
    forwarder = bpsn_configured_core.worker().modules.modules["changes"].worker
    config = bpsn_bench.run(bpsn_configured_core.store().get(bpsn_configured_core.organization, version)).config
    assert forwarder.api.app_key == config.changes_app_key.reveal()


@then("the core retrieved the shares with the organisation API key")
def shares_with_org_key(bpsn_bench: Harness) -> None:
    from bpsn.simulator.bigpanda.auth import journal_user
    token = bpsn_bench.credentials.bigpanda_org_token
    shares = bpsn_bench.requests("bigpanda", path="/integrations/v3/servicenow/shares")
    assert shares and {r.user for r in shares} == {journal_user(bpsn_bench.organization, "org", token)}, \
        [r.describe() for r in shares]


@then(parsers.parse('the core {action} BigPanda at "{path}" with "{query}"'))
def endpoint_used(bpsn_bench: Harness, action: str, path: str, query: str) -> None:
    used = bpsn_bench.requests("bigpanda", path=path)
    assert used and all(query in r.query for r in used), [r.describe() for r in used]


# --- settings that take effect ------------------------------------------------------------------
@given(parsers.parse('the Alert Configuration answers "{question}" with "{answer}"'))
def alert_configuration_answer(bpsn_bench: Harness, question: str, answer: str) -> None:
    """Saved as the form saves it (the `alert_configuration` settings); the engine takes what
    the Alert Configuration module says, through the same path as a configuration version."""
    module = ModuleSettings.model_validate({"alert_configuration": {SETTING_OF_QUESTION[question]: answer}})
    from_config = module.incident_settings(bpsn_bench.organization)
    bpsn_bench.reconfigure(dataclasses.replace(
        bpsn_bench.incident_settings, **{name: getattr(from_config, name) for name in ALERT_CONFIG_OWNED}))


@given(parsers.parse('BigPanda defines the {kind} incident tag "{name}"'))
def define_tag_of_type(bpsn_bench: Harness, kind: str, name: str) -> None:
    values = ["gold", "silver"] if kind.startswith("ClosedList") else None
    bpsn_bench.bigpanda_views.define_tag(name, kind, values=values)


@when(parsers.parse('an admin saves the Incident Tag Mapping "{tag}" to the field "{field}"'))
def save_tag_mapping(bpsn_bench: Harness, bpsn_configured_core: ConfiguredCore, bpsn_context: dict[str, Any],
                     tag: str, field: str) -> None:
    """As `bpsn config set tag_mappings` saves it: the tag's type is checked in BigPanda first."""
    core = bpsn_configured_core
    config = (core.current() or IntegrationConfig()).replace(
        tag_mappings=[{"tag": tag, "field": field, "direction": "both"}])
    bpsn_context["refused"] = ""
    try:
        bpsn_bench.run(refuse_closed_list_tags(config, core.organization,
                                               transport=bpsn_bench.core_transport("bigpanda")))
    except TagTypeRefused as exc:
        bpsn_context["refused"] = str(exc)
        return
    bpsn_bench.run(core.store().save(core.organization, config, f"map {tag}"))


@then(parsers.parse('the mapping is refused, saying "{text}"'))
def mapping_refused(bpsn_context: dict[str, Any], text: str) -> None:
    assert text in bpsn_context["refused"], bpsn_context["refused"]


@then(parsers.parse('the current configuration maps {tags}'))
def current_maps(bpsn_configured_core: ConfiguredCore, tags: str) -> None:
    config = bpsn_configured_core.current()
    mapped = [m.tag for m in config.incident_settings("x").tag_mappings] if config else []
    wanted = [] if tags == "no tag" else [t.strip('" ') for t in tags.replace(" and ", ", ").split(", ")]
    assert mapped == wanted, mapped


@given(parsers.parse("the core lists similar incidents scoring at least {threshold:f}, after a restart too"))
def similar_across_restarts(bpsn_bench: Harness, bpsn_context: dict[str, Any], threshold: float) -> None:
    from bpsn.integration.modules import similar
    from bpsn.steps.common import reattach_on_restart

    def attach(runner: Any) -> None:
        similar.attach(runner, similar.SimilarSettings(enabled=True, threshold=threshold))
    attach(bpsn_bench.runner)
    reattach_on_restart(bpsn_context, "similar incidents", attach)


@given(parsers.parse("the core copies Root Cause Changes, reading an open incident at most every {seconds:d} "
                     "seconds, after a restart too"))
def rcc_across_restarts(bpsn_bench: Harness, bpsn_context: dict[str, Any], seconds: int) -> None:
    from bpsn.integration.modules import root_cause
    from bpsn.steps.common import reattach_on_restart

    def attach(runner: Any) -> None:
        bpsn_context["rcc"] = root_cause.attach(runner, root_cause.RootCauseSettings(enabled=True,
                                                                                     refresh_seconds=seconds))
    attach(bpsn_bench.runner)
    reattach_on_restart(bpsn_context, "root cause changes", attach)


# --- what BigPanda sends about correlation and external tickets ---------------------------------
@then(parsers.parse('the instance holds the correlation "{target}" of type "{kind}" with confidence "{score}"'))
def correlation_row(bpsn_bench: Harness, bpsn_context: dict[str, Any], target: str, kind: str, score: str) -> None:
    rows = bpsn_bench.records("x_bip_panda_correlation", f"u_source={bpsn_context['incident_id']}")
    assert [(r["u_target"], r["u_type"], r["u_confidence"]) for r in rows] == [(target, kind, score)], rows


@then(parsers.parse('the instance lists {count:d} external tickets of the incident'))
def external_ticket_count(bpsn_bench: Harness, bpsn_context: dict[str, Any], count: int) -> None:
    [ticket] = bpsn_bench.tickets(f"correlation_id={bpsn_context['incident_id']}")
    rows = bpsn_bench.records("x_bip_panda_external_ticket", f"u_incident={ticket['sys_id']}")
    assert len(rows) == count, rows
    bpsn_context["external_tickets"], bpsn_context["ticket"] = rows, ticket


@then(parsers.parse('the external ticket is the "{system}" ticket with its number and URL'))
def external_ticket_is(bpsn_context: dict[str, Any], system: str) -> None:
    [row], ticket = bpsn_context["external_tickets"], bpsn_context["ticket"]
    assert (row["u_system"], row["u_ticket_number"]) == (system, ticket["number"]), row
    assert ticket["sys_id"] in row["u_ticket_url"], row


@then(parsers.parse('the ticket\'s BigPanda links point at "{base}"'))
def links_point_at(bpsn_bench: Harness, bpsn_context: dict[str, Any], base: str) -> None:
    [ticket] = bpsn_bench.tickets(f"correlation_id={bpsn_context['incident_id']}")
    lines = [line for line in ticket["description"].splitlines()
             if line.startswith(("BigPanda incident: ", "Timeline: ", "Preview: "))]
    assert len(lines) == 3 and all(line.split(": ", 1)[1].startswith(f"{base}/#/") for line in lines), lines
