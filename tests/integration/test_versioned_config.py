"""Versioned configuration in x_bip_panda_config: versions, diff, rollback, organisations, roles, logs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from bpsn.integration.clients.http import ApiClient
from bpsn.integration.clients.servicenow import ServiceNowClient, ServiceNowError
from bpsn.integration.config.crypto import ConfigCipher, ConfigKeyError
from bpsn.integration.config.models import CREDENTIAL_FIELDS, IntegrationConfig, Secret
from bpsn.integration.config.versioned import TABLE, ConfigStore, NoChange, VersionNotFound
from bpsn.simulator.servicenow.backend import ServiceNowBackend

pytestmark = pytest.mark.anyio

ADMIN = ("bigpanda.admin", "bigpanda-admin")
ANALYST = ("noc.analyst", "analyst")
CLEAR = {"bearer_token": "BPUclear-bearer-0001", "api_key": "clear-api-key-0002",
         "incidents_app_key": "clear-incidents-0003", "changes_app_key": "clear-changes-0004",
         "cmdb_v2_app_key": "clear-cmdb-0005", "oim_app_key": "clear-oim-0006"}
KEY = Fernet.generate_key().decode()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def connect(backend: ServiceNowBackend,
                  pooled_servicenow: tuple[ServiceNowBackend, Any]) -> AsyncIterator[Callable[[tuple[str, str]], ConfigStore]]:
    _, app = pooled_servicenow
    clients: list[httpx.AsyncClient] = []

    def make(auth: tuple[str, str], key: str = KEY) -> ConfigStore:
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sn", auth=auth)
        clients.append(http)
        return ConfigStore(ServiceNowClient(ApiClient(http)), ConfigCipher(key))

    yield make
    for c in clients:
        await c.aclose()


def first_config(**overrides: object) -> IntegrationConfig:
    return IntegrationConfig().replace(**CLEAR, **overrides)


async def test_save_makes_versions_with_author_time_and_one_current(connect) -> None:
    store = connect(ADMIN)
    v1 = await store.save("demo", first_config(), "initial")
    v2 = await store.save("demo", v1.config.replace(retrieval_count=50), "bigger batches")
    assert (v1.version, v2.version) == (1, 2)
    assert v2.author == "bigpanda.admin" and v2.created_on and v2.note == "bigger batches"
    history = await store.history("demo")
    assert [(h.version, h.current) for h in history] == [(1, False), (2, True)]
    current = await store.current("demo")
    assert current is not None and current.version == 2
    assert current.config.settings.retrieval_count == 50
    assert current.config.bearer_token.reveal() == CLEAR["bearer_token"]
    assert current.config.incident_settings("demo").namespace == "demo"


async def test_a_save_with_no_change_is_refused(connect) -> None:
    store = connect(ADMIN)
    v1 = await store.save("demo", first_config())
    with pytest.raises(NoChange):
        await store.save("demo", v1.config, "same again")
    assert len(await store.history("demo")) == 1


async def test_diff_is_per_field_and_never_shows_credentials(connect) -> None:
    store = connect(ADMIN)
    v1 = await store.save("demo", first_config())
    await store.save("demo", v1.config.replace(api_key="rotated-api-key-0099", incident_url_base="https://eu.bigpanda.io",
                                                resolve_servicenow=False))
    changes = {c.field: c for c in await store.diff("demo", 1, 2)}
    assert changes["api_key"].summary == "changed" and changes["bearer_token"].summary == "unchanged"
    assert changes["incident_url_base"].changed and changes["settings.resolve_servicenow"].changed
    assert not changes["settings.retrieval_count"].changed
    shown = repr(list(changes.values())) + "".join(c.summary for c in changes.values())
    for clear in [*CLEAR.values(), "rotated-api-key-0099"]:
        assert clear not in shown


async def test_rollback_is_a_new_version_equal_to_the_old_one(connect) -> None:
    store = connect(ADMIN)
    v1 = await store.save("demo", first_config(), "initial")
    await store.save("demo", v1.config.replace(bearer_token="BPUsecond-bearer", retrieval_count=10), "v2")
    v3 = await store.rollback("demo", 1)
    assert v3.version == 3 and v3.config == v1.config and "rollback to version 1" in v3.note
    assert [h.version for h in await store.history("demo") if h.current] == [3]
    with pytest.raises(NoChange):
        await store.rollback("demo", 1)
    with pytest.raises(VersionNotFound):
        await store.rollback("demo", 42)


async def test_organisations_are_isolated(connect) -> None:
    store = connect(ADMIN)
    await store.save("acme", first_config(api_base_url="https://api.acme.example"), "acme v1")
    await store.save("demo", first_config(), "demo v1")
    await store.save("demo", first_config(retrieval_count=5), "demo v2")
    acme, demo = await store.history("acme"), await store.history("demo")
    assert [(v.version, v.current, v.note) for v in acme] == [(1, True, "acme v1")]
    assert [(v.version, v.current) for v in demo] == [(1, False), (2, True)]
    assert (await store.current("acme")).config.api_base_url == "https://api.acme.example"  # type: ignore[union-attr]
    assert await store.current("nobody") is None and await store.history("nobody") == []
    with pytest.raises(ValueError):
        await store.history("demo^ORorganization=acme")


async def test_the_instance_holds_only_fernet_tokens_and_the_analyst_sees_them_masked(connect, backend,
                                                                                      pooled_servicenow) -> None:
    await connect(ADMIN).save("demo", first_config())
    _, app = pooled_servicenow  # the module's app for `backend`: a second app for it would answer the same
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sn", auth=ANALYST) as sn:
        r = await sn.get(f"/api/now/table/{TABLE}", params={"sysparm_query": "organization=demo"})
        assert r.status_code == 200
        row = r.json()["result"][0]
        for name in CREDENTIAL_FIELDS:  # x_bip_panda_user: "credentials masked" (the seed; x_bip_panda_acls.yaml)
            assert row[name] == "********"
        for clear in CLEAR.values():
            assert clear not in r.text
        # and the store's own copy of the instance (SQLite) has no clear credential either
        for stored in backend.store.select(TABLE):
            assert not set(CLEAR.values()) & {str(v) for v in stored.values()}
        # the analyst may read, never write
        w = await sn.post(f"/api/now/table/{TABLE}", json={"organization": "demo", "version": "9"})
        assert w.status_code == 403 and "ACL Exception" in w.text
        p = await sn.patch(f"/api/now/table/{TABLE}/{row['sys_id']}", json={"current": "false"})
        assert p.status_code == 403
    # the service account (itil + x_bip_panda_user) reads the Fernet tokens and decrypts them
    assert (await connect(("bigpanda.integration", "bigpanda")).current("demo")).config.bearer_token  # type: ignore[union-attr]
    analyst_store = connect(ANALYST)
    with pytest.raises(ServiceNowError) as denied:
        await analyst_store.save("demo", first_config(retrieval_count=7))
    assert denied.value.status_code == 403


async def test_a_wrong_key_cannot_read_credentials(connect) -> None:
    await connect(ADMIN).save("demo", first_config())
    with pytest.raises(ConfigKeyError) as err:
        await connect(ADMIN, key="another passphrase").current("demo")
    assert "BPSN_CONFIG_KEY" in str(err.value)


def test_passphrase_and_fernet_keys_both_work() -> None:
    by_phrase = ConfigCipher("a passphrase")
    assert ConfigCipher("a passphrase").decrypt(by_phrase.encrypt("x")) == "x"  # same derivation everywhere
    by_key = ConfigCipher(KEY)
    assert Fernet(KEY.encode()).decrypt(by_key.encrypt("y").encode()) == b"y"
    assert by_key.encrypt("") == "" and by_key.decrypt("") == ""


def test_secrets_never_show_their_value() -> None:
    config = first_config()
    text = repr(config) + str(config) + f"{config.bearer_token}" + repr(config.masked())
    for clear in CLEAR.values():
        assert clear not in text
    assert str(Secret("x")) == "(set)" and str(Secret()) == "(not set)"
    with pytest.raises(ValueError) as bad:
        config.replace(api_base_url="not a url", bearer_token="BPUsecret-in-error")
    assert "BPUsecret-in-error" not in str(bad.value)
    with pytest.raises(ValueError):
        config.replace(no_such_key="1")


async def test_no_credential_in_logs_through_save_and_rollback(connect, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    store = connect(ADMIN)
    v1 = await store.save("demo", first_config(), "initial")
    await store.save("demo", v1.config.replace(oim_app_key="rotated-oim-0777"), "rotate OIM")
    await store.rollback("demo", 1)
    assert any("version 2 saved" in r.getMessage() and "oim_app_key" in r.getMessage() for r in caplog.records)
    logged = caplog.text + "".join(r.getMessage() for r in caplog.records)
    for clear in [*CLEAR.values(), "rotated-oim-0777"]:
        assert clear not in logged


def test_module_settings_cover_every_incident_setting() -> None:
    import dataclasses

    from bpsn.integration.config.models import (
        ALERT_CONFIG_OWNED,
        CONNECTION_OWNED,
        SETTING_FIELDS,
        ModuleSettings,
    )
    from bpsn.integration.engine.mapping import IncidentSettings

    owned_elsewhere = {"namespace", *ALERT_CONFIG_OWNED, *CONNECTION_OWNED}
    engine_fields = {f.name for f in dataclasses.fields(IncidentSettings)} - owned_elsewhere
    # the Alert Configuration's and the connection page's engine settings are never Incidents settings
    assert not owned_elsewhere & set(SETTING_FIELDS)
    assert engine_fields <= set(SETTING_FIELDS) and {"poll_interval", "retrieval_count"} <= set(SETTING_FIELDS)
    config = IntegrationConfig().replace(update_fields="short_description, impact", max_alerts_in_description="3")
    assert config.incident_settings("acme") == IncidentSettings(update_fields=("short_description", "impact"),
                                                                max_alerts_in_description=3, namespace="acme",
                                                                console_url="https://a.bigpanda.io")
    with pytest.raises(ValueError):
        IntegrationConfig().replace(retrieval_count=500)
    assert ModuleSettings.model_validate({"retired_setting": 1}) == ModuleSettings()  # old records still load
