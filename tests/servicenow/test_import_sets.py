"""Import Set API through HTTP: staging rows, transform maps, every result status."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bpsn.simulator.servicenow.app import create_app
from bpsn.simulator.servicenow.backend import ServiceNowBackend
from bpsn.simulator.servicenow.import_sets.staging import TransformContext, TransformMapError, staging_text

pytestmark = pytest.mark.anyio

ADMIN = ("admin", "admin")
INTEGRATION = ("bigpanda.integration", "bigpanda")


def incident_hook(source: dict[str, str], target: dict[str, Any], context: TransformContext) -> None:
    """A ShareIncident-style hook: the staging row's u_action says what to do."""
    action = source.get("u_action")
    if action == "ignore":
        context.ignore = True
        context.status_message = "ignored by the hook"
    elif action == "skip":
        context.skip = True
        context.status_message = f"duplicate share ({context.action})"
    elif action == "boom":
        raise RuntimeError("hook failed")
    elif action == "note" and context.existing is not None:
        target["work_notes"] = "updated by the import"


@pytest.fixture
def incident_staging(backend: ServiceNowBackend) -> str:
    """A staging table into incident, coalescing on correlation_id, plus a second map."""
    backend.dictionary.add_table("u_imp_incident", {"label": "Incident Import", "parent": "sys_import_set_row",
                                                    "fields": {f: {"type": "string"} for f in (
                                                        "u_correlation_id", "u_short_description", "u_state",
                                                        "u_close_code", "u_close_notes", "u_group", "u_action")}})
    backend.store.ensure_schema()
    backend.transform_maps.add({
        "name": "Incident", "source_table": "u_imp_incident", "target_table": "incident", "order": 100,
        "coalesce": ["correlation_id"],
        "field_map": {"correlation_id": "u_correlation_id", "short_description": "u_short_description",
                      "state": {"source": "u_state", "choice_action": "reject"},
                      "close_code": "u_close_code", "close_notes": "u_close_notes",
                      "assignment_group": {"source": "u_group", "reference_lookup": "name", "choice_action": "ignore"}},
        "script": incident_hook})
    backend.transform_maps.add({
        "name": "Correlation log", "source_table": "u_imp_incident", "target_table": "x_bip_panda_correlation",
        "order": 200, "field_map": {"u_source": "u_correlation_id", "u_type": "u_action"}})
    return "u_imp_incident"


async def post(client: httpx.AsyncClient, table: str, body: dict[str, Any], **kw: Any) -> httpx.Response:
    return await client.post(f"/api/now/import/{table}", json=body, **kw)


async def test_insert_transforms_into_the_target(client: httpx.AsyncClient) -> None:
    r = await post(client, "imp_user", {"u_user_name": "john.public", "u_first_name": "John",
                                        "u_last_name": "Public", "u_email": "john.public@example.com"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["import_set"] == "ISET0010001" and body["staging_table"] == "imp_user"
    [result] = body["result"]
    assert result["transform_map"] == "User" and result["table"] == "sys_user"
    assert result["status"] == "inserted"
    assert result["display_name"] == "name" and result["display_value"] == "John Public"
    assert result["record_link"].endswith(f"/api/now/table/sys_user/{result['sys_id']}")
    user = (await client.get(f"/api/now/table/sys_user/{result['sys_id']}")).json()["result"]
    assert user["user_name"] == "john.public" and user["email"] == "john.public@example.com"
    assert user["sys_created_by"] == "admin"  # the transform writes under the importing user's name


async def test_coalesce_updates_then_ignores_an_unchanged_row(client: httpx.AsyncClient) -> None:
    first = (await post(client, "imp_user", {"u_user_name": "jane", "u_email": "a@example.com"})).json()
    second = (await post(client, "imp_user", {"u_user_name": "jane", "u_email": "b@example.com"})).json()
    [r1], [r2] = first["result"], second["result"]
    assert r2["status"] == "updated" and r2["sys_id"] == r1["sys_id"]
    assert second["import_set"] == first["import_set"]  # one open synchronous set per table and day
    user = (await client.get(f"/api/now/table/sys_user/{r1['sys_id']}")).json()["result"]
    assert user["email"] == "b@example.com" and user["sys_mod_count"] == "1"
    [r3] = (await post(client, "imp_user", {"u_user_name": "jane", "u_email": "b@example.com"})).json()["result"]
    assert r3["status"] == "ignored" and r3["status_message"] == "No field values changed"
    assert r3["sys_id"] == r1["sys_id"]


async def test_empty_coalesce_value_is_skipped(client: httpx.AsyncClient) -> None:
    r = await post(client, "imp_user", {"u_email": "nobody@example.com"})
    [result] = r.json()["result"]
    assert result["status"] == "skipped" and "user_name" in result["status_message"]
    assert "record_link" not in result
    row = (await client.get(f"/api/now/table/imp_user/{result['sys_id']}")).json()["result"]  # the staging row
    assert row["sys_import_state"] == "skipped" and row["u_email"] == "nobody@example.com"


async def test_share_style_map_inserts_updates_and_the_hook_ignores_or_skips(
        client: httpx.AsyncClient, incident_staging: str) -> None:
    row = {"u_correlation_id": "bp-1", "u_short_description": "CPU high", "u_state": "In Progress",
           "u_group": "Network Operations"}
    first = (await post(client, incident_staging, row)).json()["result"]
    assert [r["status"] for r in first] == ["inserted", "inserted"]
    assert [r["transform_map"] for r in first] == ["Incident", "Correlation log"]
    assert first[0]["display_name"] == "number" and first[0]["display_value"].startswith("INC")
    incident = (await client.get(f"/api/now/table/incident/{first[0]['sys_id']}",
                                 params={"sysparm_display_value": "true"})).json()["result"]
    assert incident["state"] == "In Progress" and incident["correlation_id"] == "bp-1"
    assert incident["assignment_group"]["display_value"] == "Network Operations"

    updated = (await post(client, incident_staging, {**row, "u_short_description": "CPU very high",
                                                     "u_action": "note"})).json()["result"]
    assert updated[0]["status"] == "updated" and updated[0]["sys_id"] == first[0]["sys_id"]

    ignored = (await post(client, incident_staging, {**row, "u_short_description": "ignored",
                                                     "u_action": "ignore"})).json()["result"]
    assert ignored[0]["status"] == "ignored" and ignored[0]["status_message"] == "ignored by the hook"
    skipped = (await post(client, incident_staging, {**row, "u_short_description": "skipped",
                                                     "u_action": "skip"})).json()["result"]
    assert skipped[0]["status"] == "skipped" and skipped[0]["status_message"] == "duplicate share (update)"
    incident = (await client.get(f"/api/now/table/incident/{first[0]['sys_id']}")).json()["result"]
    assert incident["short_description"] == "CPU very high"  # neither ignore nor skip wrote anything


async def test_data_policy_refusal_is_an_error_and_other_maps_still_run(
        client: httpx.AsyncClient, incident_staging: str) -> None:
    created = (await post(client, incident_staging, {"u_correlation_id": "bp-2", "u_short_description": "disk"}))
    incident_id = created.json()["result"][0]["sys_id"]
    r = await post(client, incident_staging, {"u_correlation_id": "bp-2", "u_state": "6"})
    assert r.status_code == 201
    error, other = r.json()["result"]
    assert error["status"] == "error" and "Data Policy Exception" in error["error_message"]
    assert "Resolution code" in error["error_message"]
    assert "record_link" not in error
    assert other["status"] == "inserted" and other["table"] == "x_bip_panda_correlation"
    staging = (await client.get(f"/api/now/table/{incident_staging}/{error['sys_id']}")).json()["result"]
    assert staging["sys_import_state"] == "error" and "Resolution code" in staging["sys_row_error"]
    incident = (await client.get(f"/api/now/table/incident/{incident_id}")).json()["result"]
    assert incident["state"] == "1"


async def test_hook_exception_reject_and_reference_ignore(client: httpx.AsyncClient, incident_staging: str) -> None:
    boom = (await post(client, incident_staging, {"u_correlation_id": "bp-3", "u_action": "boom"})).json()
    assert boom["result"][0]["status"] == "error"
    assert boom["result"][0]["error_message"] == "Transform script error: RuntimeError: hook failed"
    rejected = (await post(client, incident_staging, {"u_correlation_id": "bp-4", "u_state": "Sleeping"})).json()
    assert rejected["result"][0]["status"] == "ignored"
    assert rejected["result"][0]["status_message"].startswith("Row rejected")
    unknown_group = (await post(client, incident_staging, {"u_correlation_id": "bp-5",
                                                           "u_group": "No Such Group"})).json()
    [inc, _] = unknown_group["result"]
    assert inc["status"] == "inserted"
    record = (await client.get(f"/api/now/table/incident/{inc['sys_id']}")).json()["result"]
    assert record["assignment_group"] == ""  # choice_action ignore: the field is left out


async def test_insert_multiple_then_read_each_row(client: httpx.AsyncClient) -> None:
    records = [{"u_user_name": "m.one", "u_first_name": "M", "u_last_name": "One"},
               {"User ID": "m.two", "Email": "m.two@example.com"},  # column labels work too
               {"u_email": "no-key@example.com"}]
    r = await client.post("/api/now/import/imp_user/insertMultiple", json={"records": records})
    assert r.status_code == 201, r.text
    ids = r.json()
    assert set(ids) == {"import_set_id", "multi_import_set_id"}
    rows = (await client.get("/api/now/table/imp_user", params={
        "sysparm_query": f"sys_import_set={ids['import_set_id']}^ORDERBYsys_import_row"})).json()["result"]
    assert [row["u_user_name"] for row in rows] == ["m.one", "m.two", ""]
    statuses = []
    for row in rows:
        got = await client.get(f"/api/now/import/imp_user/{row['sys_id']}")
        assert got.status_code == 200
        statuses.append(got.json()["result"][0]["status"])
    assert statuses == ["inserted", "inserted", "skipped"]
    iset = (await client.get(f"/api/now/table/sys_import_set/{ids['import_set_id']}")).json()["result"]
    assert iset["state"] == "processed" and iset["number"].startswith("ISET")

    again = await client.post("/api/now/import/imp_user/insertMultiple", json={"records": [{"u_user_name": "m.3"}]},
                              params={"multi_import_set_id": ids["multi_import_set_id"]})
    assert again.status_code == 201 and again.json()["multi_import_set_id"] == ids["multi_import_set_id"]
    assert again.json()["import_set_id"] != ids["import_set_id"]
    bogus = await client.post("/api/now/import/imp_user/insertMultiple", json={"records": []},
                              params={"multi_import_set_id": "0" * 32})
    assert bogus.status_code == 400 and bogus.json()["status"] == "failure"


async def test_get_staging_row_answers_the_post_shape(client: httpx.AsyncClient) -> None:
    posted = (await post(client, "imp_user", {"u_user_name": "g.user", "u_first_name": "G"})).json()
    rows = (await client.get("/api/now/table/imp_user", params={"u_user_name": "g.user"})).json()["result"]
    got = await client.get(f"/api/now/import/imp_user/{rows[0]['sys_id']}")
    assert got.status_code == 200 and got.json() == posted
    missing = await client.get(f"/api/now/import/imp_user/{'0' * 32}")
    assert missing.status_code == 404 and missing.json()["error"]["message"] == "No Record found"
    hidden = await client.get(f"/api/now/import/imp_user/{rows[0]['sys_id']}", auth=INTEGRATION)
    assert hidden.status_code == 404  # no read right on the staging table


async def test_unknown_or_non_staging_table_is_invalid(client: httpx.AsyncClient) -> None:
    r = await post(client, "imp_nothing", {"a": "b"})
    assert r.status_code == 400 and r.json() == {"error": {"message": "Invalid table imp_nothing", "detail": None},
                                                 "status": "failure"}
    r = await post(client, "incident", {"short_description": "x"})
    assert r.status_code == 400 and r.json()["error"]["message"] == "Invalid table incident"
    assert "sys_import_set_row" in r.json()["error"]["detail"]
    r = await client.post("/api/now/import/imp_user", json=["not", "an", "object"])
    assert r.status_code == 400 and r.json()["status"] == "failure"


async def test_staging_table_without_a_map_keeps_the_row(client: httpx.AsyncClient, backend: ServiceNowBackend) -> None:
    backend.dictionary.add_table("u_imp_plain", {"parent": "sys_import_set_row", "fields": {"u_name": {}}})
    backend.store.ensure_schema()
    r = await post(client, "u_imp_plain", {"u_name": "kept"})
    assert r.status_code == 201 and r.json()["result"] == []
    rows = (await client.get("/api/now/table/u_imp_plain")).json()["result"]
    assert rows[0]["u_name"] == "kept" and rows[0]["sys_import_state"] == "pending"


async def test_non_string_values_are_mangled_like_the_instance(client: httpx.AsyncClient) -> None:
    await post(client, "imp_user", {"u_user_name": "nested", "u_first_name": {"a": "b", "n": 1},
                                    "u_last_name": ["x", True, None], "sys_import_state": "inserted"})
    row = (await client.get("/api/now/table/imp_user", params={"u_user_name": "nested"})).json()["result"][0]
    assert row["u_first_name"] == "{a=b, n=1}" and row["u_last_name"] == "[x, true, ]"
    assert row["sys_import_state"] == "inserted"  # set by the transform, not by the body
    assert staging_text(12) == "12" and staging_text(None) == ""


async def test_staging_acl_and_the_transform_honours_the_importers_acls(client: httpx.AsyncClient) -> None:
    denied = await post(client, "imp_user", {"u_user_name": "x"}, auth=INTEGRATION)
    assert denied.status_code == 403
    assert denied.json()["error"] == {"message": "Operation Failed",
                                      "detail": "ACL Exception Insert Failed due to security constraints"}
    role = (await client.post("/api/now/table/sys_user_role", json={"name": "import_transformer"})).json()["result"]
    user = (await client.get("/api/now/table/sys_user", params={"user_name": INTEGRATION[0]})).json()["result"][0]
    await client.post("/api/now/table/sys_user_has_role", json={"user": user["sys_id"], "role": role["sys_id"]})
    allowed = await post(client, "imp_user", {"u_user_name": "via.integration"}, auth=INTEGRATION)
    assert allowed.status_code == 201  # the row is staged ...
    [result] = allowed.json()["result"]
    # ... but sys_user create is admin-only: the transform writes as the importer (GlideRecordSecure)
    assert result["status"] == "error" and "ACL Exception" in result["error_message"], result
    assert (await client.get("/api/now/table/sys_user", params={"user_name": "via.integration"})).json()["result"] == []
    row = (await client.get("/api/now/table/imp_user", params={"u_user_name": "via.integration"})).json()["result"][0]
    assert row["sys_import_state"] == "error" and "ACL Exception" in row["sys_row_error"]


async def test_unauthenticated_is_401(backend: ServiceNowBackend) -> None:
    transport = httpx.ASGITransport(app=create_app(backend))
    async with httpx.AsyncClient(transport=transport, base_url="http://sn") as anonymous:
        r = await anonymous.post("/api/now/import/imp_user", json={"u_user_name": "x"})
    assert r.status_code == 401 and r.json()["error"]["message"] == "User Not Authenticated"


def test_transform_maps_are_validated(backend: ServiceNowBackend) -> None:
    maps = backend.transform_maps
    base = {"name": "Bad", "source_table": "imp_user", "target_table": "sys_user",
            "field_map": {"user_name": "u_user_name"}}
    for broken in ({**base, "source_table": "incident"}, {**base, "target_table": "nope"},
                   {**base, "field_map": {"no_field": "u_user_name"}},
                   {**base, "field_map": {"user_name": "u_missing"}},
                   {**base, "coalesce": ["email"]}, {**base, "run_business_rules": False},
                   {**base, "script": "no.such.module:fn"}, {**base, "unknown_key": 1},
                   {**base, "field_map": {"user_name": {"source": "u_user_name", "choice_action": "maybe"}}},
                   {**base, "field_map": {"user_name": {"source": "u_user_name", "reference_lookup": "name"}}}):
        with pytest.raises(TransformMapError):
            maps.add(broken)
    assert [m.name for m in maps.for_source("imp_user")] == ["User"]
    maps.add({**base, "active": False})
    assert [m.name for m in maps.for_source("imp_user")] == ["User"]
    assert maps.remove("Bad") and not maps.remove("Bad")


async def test_two_field_coalesce_looks_up_through_one_composite_index(
        client: httpx.AsyncClient, backend: ServiceNowBackend) -> None:
    """The share map coalesces on (incident id, organisation); through the organisation's own
    index every staged share would scan all the organisation's metadata rows."""
    for n in range(3):
        r = await post(client, "x_bip_panda_shareincident", {"u_bp_incident_id": f"inc-{n}", "u_bp_organization": "acme"})
        by_map = {res["transform_map"]: res["status"] for res in r.json()["result"]}
        assert by_map["BigPanda ShareIncident"] == "inserted", r.text
    plan = " ".join(row["detail"] for row in backend.store.execute(
        "EXPLAIN QUERY PLAN SELECT * FROM x_bip_panda_incident_metadata WHERE u_bp_incident_id = ? "
        "AND u_organization = ?", ["inc-1", "acme"]))
    assert "ixc_x_bip_panda_incident_metadata_u_bp_incident_id_u_organization" in plan, plan
    backend.store.drop_column("x_bip_panda_incident_metadata", "u_organization")  # the index goes with it
    assert "u_organization" not in backend.store.columns("x_bip_panda_incident_metadata")
