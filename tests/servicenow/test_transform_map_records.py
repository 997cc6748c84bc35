"""Transform maps as records: the v3 ticket map from x_bip_panda_shareincident to incident,
read and changed through the Table API, and every import following what the records say."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bpsn.simulator.servicenow.backend import ServiceNowBackend

pytestmark = pytest.mark.anyio

INTEGRATION = ("bigpanda.integration", "bigpanda")
STAGING = "x_bip_panda_shareincident"
TICKET_MAP = "BigPanda Incident"
TICKET = "0f" * 16


async def insert_multiple(client: httpx.AsyncClient, records: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Stage rows as the core does (one insertMultiple) and read them back in import order."""
    r = await client.post(f"/api/now/import/{STAGING}/insertMultiple", json={"records": records}, auth=INTEGRATION)
    assert r.status_code == 201, r.text
    rows = await client.get(f"/api/now/table/{STAGING}", params={
        "sysparm_query": f"sys_import_set={r.json()['import_set_id']}^ORDERBYsys_import_row"})
    return list(rows.json()["result"])


async def ticket_map(client: httpx.AsyncClient) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """The ticket map's record and its field maps by target field."""
    [record] = (await client.get("/api/now/table/sys_transform_map", params={"name": TICKET_MAP})).json()["result"]
    entries = (await client.get("/api/now/table/sys_transform_entry",
                                params={"map": record["sys_id"], "sysparm_limit": 100})).json()["result"]
    return record, {e["target_field"]: e for e in entries}


def ticket_row(sys_id: str = TICKET, **fields: str) -> dict[str, str]:
    return {"u_ticket": sys_id, "u_bp_incident_id": "bp-1", "u_short_description": "disk full on db-1",
            "u_impact": "2", "u_urgency": "2", **fields}


async def test_the_seeded_maps_are_records_only_an_admin_reads(client: httpx.AsyncClient) -> None:
    record, entries = await ticket_map(client)
    assert record["source_table"] == STAGING and record["target_table"] == "incident"
    assert record["active"] == "true" and record["run_business_rules"] == "true"
    assert entries["sys_id"]["source_field"] == "u_ticket" and entries["sys_id"]["coalesce"] == "true"
    assert entries["state"]["choice_action"] == "ignore"
    assert [e for e, v in entries.items() if v["coalesce"] == "true"] == ["sys_id"]
    denied = await client.get("/api/now/table/sys_transform_map", auth=INTEGRATION)
    assert denied.status_code == 403


async def test_a_ticket_row_inserts_then_updates_the_incident_with_rules_and_audit(
        client: httpx.AsyncClient) -> None:
    [row] = await insert_multiple(client, [ticket_row()])
    assert row["sys_import_state"] == "inserted" and row["sys_target_sys_id"] == TICKET
    assert row["sys_transform_map"] == TICKET_MAP and row["sys_target_table"] == "incident"
    assert row["sys_import_set"] and row["sys_import_row"] == "0" and row["sys_row_error"] == ""
    ticket = (await client.get(f"/api/now/table/incident/{TICKET}")).json()["result"]
    assert ticket["number"].startswith("INC") and ticket["priority"] == "3"  # business rules ran
    assert ticket["correlation_id"] == "bp-1" and ticket["sys_created_by"] == INTEGRATION[0]

    [again] = await insert_multiple(client, [ticket_row(u_short_description="disk full on db-1 and db-2")])
    assert again["sys_import_state"] == "updated" and again["sys_target_sys_id"] == TICKET
    audit = (await client.get("/api/now/table/sys_audit", params={
        "documentkey": TICKET, "fieldname": "short_description"})).json()["result"]
    assert [a["newvalue"] for a in audit] == ["disk full on db-1 and db-2"]
    [same] = await insert_multiple(client, [ticket_row(u_short_description="disk full on db-1 and db-2")])
    assert same["sys_import_state"] == "ignored" and same["sys_target_sys_id"] == TICKET


async def test_a_refused_write_is_the_rows_error_and_the_others_go_on(client: httpx.AsyncClient) -> None:
    await insert_multiple(client, [ticket_row()])
    other = "1e" * 16
    rows = await insert_multiple(client, [ticket_row(u_state="6"),  # resolve without a resolution code
                                          ticket_row(other, u_bp_incident_id="bp-2")])
    assert rows[0]["sys_import_state"] == "error" and "Data Policy Exception" in rows[0]["sys_row_error"]
    assert rows[1]["sys_import_state"] == "inserted" and rows[1]["sys_target_sys_id"] == other
    ticket = (await client.get(f"/api/now/table/incident/{TICKET}")).json()["result"]
    assert ticket["state"] == "1"


async def test_the_transform_honours_the_importers_acls(client: httpx.AsyncClient) -> None:
    """x_bip_panda_user alone may stage no row; itil + x_bip_panda_user stage and write incidents.
    A user allowed to stage but not to write incidents gets the row's error, and no ticket."""
    role = (await client.get("/api/now/table/sys_user_role", params={"name": "import_admin"})).json()["result"]
    if not role:
        role = [(await client.post("/api/now/table/sys_user_role", json={"name": "import_admin"})).json()["result"]]
    user = (await client.post("/api/now/table/sys_user", json={
        "user_name": "importer", "user_password": "importer-pass", "active": "true"})).json()["result"]
    await client.post("/api/now/table/sys_user_has_role", json={"user": user["sys_id"], "role": role[0]["sys_id"]})
    r = await client.post(f"/api/now/import/{STAGING}", json=ticket_row(), auth=("importer", "importer-pass"))
    assert r.status_code == 201, r.text
    result = {x["transform_map"]: x for x in r.json()["result"]}[TICKET_MAP]
    assert result["status"] == "error" and "ACL Exception" in result["error_message"]
    assert (await client.get(f"/api/now/table/incident/{TICKET}")).status_code == 404


async def test_an_admin_adds_a_field_map_and_the_next_ticket_follows_it(client: httpx.AsyncClient) -> None:
    record, _ = await ticket_map(client)
    added = await client.post("/api/now/table/sys_transform_entry", json={
        "map": record["sys_id"], "source_field": "u_bp_environment_name", "target_field": "subcategory"})
    assert added.status_code == 201, added.text
    await insert_multiple(client, [ticket_row(u_bp_environment_name="Production")])
    ticket = (await client.get(f"/api/now/table/incident/{TICKET}")).json()["result"]
    assert ticket["subcategory"] == "Production"


async def test_an_admin_changes_the_coalesce_and_the_next_row_updates_by_it(client: httpx.AsyncClient) -> None:
    await insert_multiple(client, [ticket_row()])
    _, entries = await ticket_map(client)
    for target, flag in (("sys_id", "false"), ("correlation_id", "true")):
        r = await client.patch(f"/api/now/table/sys_transform_entry/{entries[target]['sys_id']}",
                               json={"coalesce": flag})
        assert r.status_code == 200, r.text
    [row] = await insert_multiple(client, [ticket_row("2d" * 16, u_short_description="matched by correlation")])
    assert row["sys_import_state"] == "updated" and row["sys_target_sys_id"] == TICKET
    ticket = (await client.get(f"/api/now/table/incident/{TICKET}")).json()["result"]
    assert ticket["short_description"] == "matched by correlation"
    assert (await client.get(f"/api/now/table/incident/{'2d' * 16}")).status_code == 404


async def test_a_map_whose_records_cannot_work_is_each_rows_error(client: httpx.AsyncClient) -> None:
    record, _ = await ticket_map(client)
    await client.post("/api/now/table/sys_transform_entry", json={
        "map": record["sys_id"], "source_field": "u_no_such_column", "target_field": "short_description"})
    [row] = await insert_multiple(client, [ticket_row()])
    assert row["sys_import_state"] == "error"
    assert "BigPanda Incident cannot run" in row["sys_row_error"] and "u_no_such_column" in row["sys_row_error"]
    off = await client.patch(f"/api/now/table/sys_transform_map/{record['sys_id']}", json={"active": "false"})
    assert off.status_code == 200
    [row] = await insert_multiple(client, [ticket_row()])
    assert row["sys_transform_map"] != TICKET_MAP  # an inactive map does not run


async def test_reset_brings_the_default_maps_back(client: httpx.AsyncClient, backend: ServiceNowBackend) -> None:
    record, _ = await ticket_map(client)
    await client.delete(f"/api/now/table/sys_transform_map/{record['sys_id']}")
    assert [m.name for m in backend.transform_maps.for_source(STAGING)] == ["BigPanda ShareIncident"]
    backend.reset()
    assert [m.name for m in backend.transform_maps.for_source(STAGING)] == [TICKET_MAP, "BigPanda ShareIncident"]
