"""The document's list of tables follows the instance: a table added at run time is listed, and a
reset takes it away again (the document is not kept from the first time it was asked for)."""

from __future__ import annotations

import httpx
import pytest

from bpsn.simulator.servicenow.backend import ServiceNowBackend

pytestmark = pytest.mark.anyio

TABLE_PATH = "/api/now/table/{table}"


async def listed_tables(client: httpx.AsyncClient) -> tuple[list[str], list[str]]:
    """(every table the Table API takes, the staging tables the Import Set API takes)."""
    paths = (await client.get("/openapi.json")).json()["paths"]
    any_table = next(p for p in paths[TABLE_PATH]["get"]["parameters"] if p["name"] == "table")
    staging = next(p for p in paths["/api/now/import/{staging_table}"]["post"]["parameters"]
                   if p["name"] == "staging_table")
    return any_table["schema"]["enum"], staging["schema"]["enum"]


async def test_a_table_added_at_run_time_is_listed_until_a_reset(backend: ServiceNowBackend,
                                                                 client: httpx.AsyncClient) -> None:
    tables, staging = await listed_tables(client)
    assert "incident" in tables and "u_imp_doc" not in tables and "u_imp_doc" not in staging

    backend.dictionary.add_table("u_imp_doc", {"label": "Doc Import", "parent": "sys_import_set_row",
                                               "fields": {"u_name": {"type": "string"}}})
    backend.store.ensure_schema()
    tables, staging = await listed_tables(client)
    assert "u_imp_doc" in tables and "u_imp_doc" in staging
    assert tables == sorted(tables)

    assert (await client.post("/_sim/reset")).status_code == 200
    tables, staging = await listed_tables(client)
    assert "u_imp_doc" not in tables and "u_imp_doc" not in staging and "incident" in tables
