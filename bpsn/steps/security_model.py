"""Binds features/app_security_model.feature: the v3 app's roles against its eight tables.

Each scenario makes a ServiceNow user holding exactly the roles it names (through the Table API,
as an administrator would) and then acts as that user over HTTP, so the steps check what the
instance answers, not what its ACL data says. The credentials the Background saves are Fernet
tokens, as the core stores them (integration/config/crypto.py); the clear values never reach the
instance.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from pytest_bdd import given, parsers, then, when

from bpsn.harness.base import Harness
from bpsn.integration.config.crypto import ConfigCipher
from bpsn.integration.config.models import CREDENTIAL_FIELDS

# The eight tables the seed lists for the x_bip_panda scope
BIGPANDA_TABLES = ("x_bip_panda_config", "x_bip_panda_shareincident", "x_bip_panda_bp_alerts",
                   "x_bip_panda_incident_metadata", "x_bip_panda_correlation", "x_bip_panda_similar_incident",
                   "x_bip_panda_related_change", "x_bip_panda_external_ticket")
CONFIG = "x_bip_panda_config"
MASK = "********"
CLEAR_SECRET = "BPU-security-model-clear-secret"


def _roles(text: str) -> list[str]:
    return [r.strip() for r in re.split(r",| and ", text) if r.strip()]


def _as(bpsn_bench: Harness, bpsn_context: dict[str, Any], user: str, method: str, url: str,
        **kwargs: Any) -> httpx.Response:
    client = bpsn_bench.servicenow_user(user, bpsn_context["passwords"][user])  # made on the bench's loop

    async def call() -> httpx.Response:
        async with client:
            return await client.request(method, url, **kwargs)

    return bpsn_bench.run(call())


def _admin(bpsn_bench: Harness, method: str, url: str, **kwargs: Any) -> httpx.Response:
    r = bpsn_bench.servicenow_client.request(method, url, **kwargs)
    assert r.status_code < 300, f"{method} {url} as the instance admin: {r.status_code} {r.text[:300]}"
    return r


def _config_row(bpsn_bench: Harness, org: str) -> dict[str, Any]:
    rows = _admin(bpsn_bench, "GET", f"/api/now/table/{CONFIG}",
                  params={"sysparm_query": f"organization={org}^current=true"}).json()["result"]
    assert rows, f"no current configuration of organisation {org!r}"
    return rows[0]  # type: ignore[no-any-return]


def _sample(table: str) -> dict[str, str]:
    """A record any table of the eight accepts (none has a mandatory field)."""
    return {"x_bip_panda_config": {"name": "security-model", "organization": "security-model"}}.get(table, {})


# --- Given ---------------------------------------------------------------------------------------

@given(parsers.parse('the BigPanda configuration of organisation "{org}" is saved with its credentials'))
def config_saved(bpsn_bench: Harness, org: str) -> None:
    cipher = ConfigCipher("security-model-bench-key")
    _admin(bpsn_bench, "POST", f"/api/now/table/{CONFIG}", json={
        "name": org, "organization": org, "version": "1", "current": "true",
        **{name: cipher.encrypt(f"{CLEAR_SECRET}-{name}") for name in CREDENTIAL_FIELDS}})


@given(parsers.re(r'a ServiceNow user "(?P<user>[^"]+)" with the roles? (?P<roles>.+)'))
def user_with_roles(bpsn_bench: Harness, bpsn_context: dict[str, Any], user: str, roles: str) -> None:
    password = f"Sec-{user}-pw1"
    record = _admin(bpsn_bench, "POST", "/api/now/table/sys_user",
                    json={"user_name": user, "user_password": password}).json()["result"]
    for role in _roles(roles):
        found = _admin(bpsn_bench, "GET", "/api/now/table/sys_user_role",
                       params={"sysparm_query": f"name={role}"}).json()["result"]
        assert found, f"the instance has no role {role!r}"
        _admin(bpsn_bench, "POST", "/api/now/table/sys_user_has_role",
               json={"user": record["sys_id"], "role": found[0]["sys_id"]})
    bpsn_context.setdefault("passwords", {})[user] = password


# --- When ---------------------------------------------------------------------------------------

@when(parsers.parse('"{user}" stages a share of BigPanda incident "{bp_id}" through the Import Set API'))
def stages_a_share(bpsn_bench: Harness, bpsn_context: dict[str, Any], user: str, bp_id: str) -> None:
    bpsn_context["import"] = _as(bpsn_bench, bpsn_context, user, "POST", "/api/now/import/x_bip_panda_shareincident",
                                 json={"u_bp_incident_id": bp_id, "u_bp_organization": "demo",
                                       "u_bp_incident_status": "active"})


# --- Then: reading -------------------------------------------------------------------------------

@then(parsers.parse('"{user}" can read every BigPanda table'))
def reads_every_table(bpsn_bench: Harness, bpsn_context: dict[str, Any], user: str) -> None:
    for table in BIGPANDA_TABLES:
        r = _as(bpsn_bench, bpsn_context, user, "GET", f"/api/now/table/{table}", params={"sysparm_limit": "1"})
        assert r.status_code == 200, f"{user} reading {table}: {r.status_code} {r.text[:200]}"


@then(parsers.parse('"{user}" cannot read any BigPanda table'))
def reads_no_table(bpsn_bench: Harness, bpsn_context: dict[str, Any], user: str) -> None:
    for table in BIGPANDA_TABLES:
        r = _as(bpsn_bench, bpsn_context, user, "GET", f"/api/now/table/{table}")
        assert r.status_code == 403, f"{user} reading {table}: {r.status_code} {r.text[:200]}"
        assert r.json()["error"]["message"] == "Insufficient rights to query records"
    config = _config_row(bpsn_bench, "demo")
    one = _as(bpsn_bench, bpsn_context, user, "GET", f"/api/now/table/{CONFIG}/{config['sys_id']}")
    assert one.status_code == 404, f"{user} reading one configuration record: {one.status_code}"


@then(parsers.parse('"{user}" sees the credentials of organisation "{org}" as "{shown}"'))
def sees_credentials_as(bpsn_bench: Harness, bpsn_context: dict[str, Any], user: str, org: str, shown: str) -> None:
    r = _as(bpsn_bench, bpsn_context, user, "GET", f"/api/now/table/{CONFIG}",
            params={"sysparm_query": f"organization={org}"})
    assert r.status_code == 200, r.text
    record = r.json()["result"][0]
    assert {name: record[name] for name in CREDENTIAL_FIELDS} == dict.fromkeys(CREDENTIAL_FIELDS, shown)
    assert CLEAR_SECRET not in r.text


@then(parsers.parse('"{user}" sees the credentials of organisation "{org}" as stored, encrypted'))
def sees_credentials_stored(bpsn_bench: Harness, bpsn_context: dict[str, Any], user: str, org: str) -> None:
    stored = _config_row(bpsn_bench, org)
    r = _as(bpsn_bench, bpsn_context, user, "GET", f"/api/now/table/{CONFIG}/{stored['sys_id']}")
    assert r.status_code == 200, r.text
    record = r.json()["result"]
    for name in CREDENTIAL_FIELDS:
        assert record[name] == stored[name] and record[name].startswith("gAAAAA"), name
    assert CLEAR_SECRET not in r.text  # the instance never holds a clear credential


@then(parsers.parse('"{user}" cannot search the configuration with {operator}'))
def cannot_range_query(bpsn_bench: Harness, bpsn_context: dict[str, Any], user: str, operator: str) -> None:
    r = _as(bpsn_bench, bpsn_context, user, "GET", f"/api/now/table/{CONFIG}",
            params={"sysparm_query": f"organization{operator}de"})
    assert r.status_code == 403 and r.json()["error"]["message"] == "Insufficient rights to query records", r.text
    look_up = _as(bpsn_bench, bpsn_context, user, "GET", f"/api/now/table/{CONFIG}",
                  params={"sysparm_query": "organization=demo"})
    assert look_up.status_code == 200 and len(look_up.json()["result"]) == 1  # a look-up still works


# --- Then: writing ----------------------------------------------------------------------------------

def _creates(bpsn_bench: Harness, bpsn_context: dict[str, Any], user: str, table: str) -> httpx.Response:
    return _as(bpsn_bench, bpsn_context, user, "POST", f"/api/now/table/{table}", json=_sample(table))


@then(parsers.parse('"{user}" can create a record in every BigPanda table'))
def creates_everywhere(bpsn_bench: Harness, bpsn_context: dict[str, Any], user: str) -> None:
    for table in BIGPANDA_TABLES:
        r = _creates(bpsn_bench, bpsn_context, user, table)
        assert r.status_code == 201, f"{user} creating in {table}: {r.status_code} {r.text[:200]}"


@then(parsers.parse('"{user}" cannot create a record in any BigPanda table'))
def creates_nowhere(bpsn_bench: Harness, bpsn_context: dict[str, Any], user: str) -> None:
    for table in BIGPANDA_TABLES:
        r = _creates(bpsn_bench, bpsn_context, user, table)
        assert r.status_code == 403 and "ACL Exception Insert Failed" in r.text, f"{user} creating in {table}"


@then(parsers.parse('"{user}" cannot change or delete a record in any BigPanda table'))
def changes_nowhere(bpsn_bench: Harness, bpsn_context: dict[str, Any], user: str) -> None:
    for table in BIGPANDA_TABLES:
        sys_id = _admin(bpsn_bench, "POST", f"/api/now/table/{table}", json=_sample(table)).json()["result"]["sys_id"]
        patched = _as(bpsn_bench, bpsn_context, user, "PATCH", f"/api/now/table/{table}/{sys_id}",
                      json={"sys_domain": "x"})
        deleted = _as(bpsn_bench, bpsn_context, user, "DELETE", f"/api/now/table/{table}/{sys_id}")
        assert patched.status_code == 403 and "ACL Exception Update Failed" in patched.text, table
        assert deleted.status_code == 403 and "ACL Exception Delete Failed" in deleted.text, table


@then(parsers.parse('"{user}" can change and delete a record in every BigPanda table'))
def changes_everywhere(bpsn_bench: Harness, bpsn_context: dict[str, Any], user: str) -> None:
    for table in BIGPANDA_TABLES:
        sys_id = _admin(bpsn_bench, "POST", f"/api/now/table/{table}", json=_sample(table)).json()["result"]["sys_id"]
        patched = _as(bpsn_bench, bpsn_context, user, "PATCH", f"/api/now/table/{table}/{sys_id}", json={})
        deleted = _as(bpsn_bench, bpsn_context, user, "DELETE", f"/api/now/table/{table}/{sys_id}")
        assert (patched.status_code, deleted.status_code) == (200, 204), f"{user} on {table}: {patched.text[:200]}"


@then(parsers.parse('"{user}" cannot find the configuration of organisation "{org}" to change or delete it'))
def cannot_find_to_change(bpsn_bench: Harness, bpsn_context: dict[str, Any], user: str, org: str) -> None:
    stored = _config_row(bpsn_bench, org)
    url = f"/api/now/table/{CONFIG}/{stored['sys_id']}"
    patched = _as(bpsn_bench, bpsn_context, user, "PATCH", url, json={"change_note": "changed blind"})
    deleted = _as(bpsn_bench, bpsn_context, user, "DELETE", url)
    assert (patched.status_code, deleted.status_code) == (404, 404), patched.text
    assert _config_row(bpsn_bench, org)["sys_mod_count"] == stored["sys_mod_count"]


@then(parsers.parse('"{user}" cannot change the configuration of organisation "{org}"'))
def cannot_change_config(bpsn_bench: Harness, bpsn_context: dict[str, Any], user: str, org: str) -> None:
    stored = _config_row(bpsn_bench, org)
    r = _as(bpsn_bench, bpsn_context, user, "PATCH", f"/api/now/table/{CONFIG}/{stored['sys_id']}",
            json={"change_note": "changed by the service account"})
    assert r.status_code == 403 and "ACL Exception Update Failed" in r.text, r.text


@then(parsers.parse('"{user}" can open an incident'))
def opens_an_incident(bpsn_bench: Harness, bpsn_context: dict[str, Any], user: str) -> None:
    r = _as(bpsn_bench, bpsn_context, user, "POST", "/api/now/table/incident",
            json={"short_description": "opened by " + user})
    assert r.status_code == 201, r.text


@then(parsers.parse('"{user}" cannot stage a share through the Import Set API'))
def cannot_stage(bpsn_bench: Harness, bpsn_context: dict[str, Any], user: str) -> None:
    r = _as(bpsn_bench, bpsn_context, user, "POST", "/api/now/import/x_bip_panda_shareincident",
            json={"u_bp_incident_id": "BP-NOT-STAGED", "u_bp_organization": "demo"})
    assert r.status_code == 403 and "ACL Exception Insert Failed" in r.text, r.text


@then(parsers.parse('the metadata of BigPanda incident "{bp_id}" is written'))
def metadata_written(bpsn_bench: Harness, bpsn_context: dict[str, Any], bp_id: str) -> None:
    r = bpsn_context["import"]
    assert r.status_code == 201, r.text
    [result] = [e for e in r.json()["result"] if e["table"] == "x_bip_panda_incident_metadata"]
    assert result["status"] == "inserted", result
    rows = _admin(bpsn_bench, "GET", "/api/now/table/x_bip_panda_incident_metadata",
                  params={"sysparm_query": f"u_bp_incident_id={bp_id}"}).json()["result"]
    assert len(rows) == 1
