"""The ACL matrix: users x tables x operations x paths, read from README.md's "Roles and ACLs" table.

The README's role x table table is the specification: this test parses it, makes one fresh user per
column holding exactly that column's roles, and checks every cell over HTTP: the Table API (read as
list and as one record, create, write, delete), the Aggregate API, a Batch API item and an ORDERBY
follow the read cell; footnote 1 (credentials masked) and footnote 2 (write / delete allowed by the
ACL but the record cannot be found without read) are checked where they appear. Then the paths that
reach another table or field: dot-walked fields and conditions and display values (through
`u_incident`, following the incident row), the Import Set API and its transform (following the
staging table's and the metadata table's create cells), query ACLs (query_match / query_range),
field ACLs added at run time as sys_security_acl records, and the app's 41 dedicated ACLs.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pooled_simulators import servicenow_pool

from bpsn.base.clock import SimClock
from bpsn.simulator.servicenow.admin.state import load_snapshot, save_snapshot
from bpsn.simulator.servicenow.app import create_app
from bpsn.simulator.servicenow.backend import ServiceNowBackend
from bpsn.simulator.servicenow.records.dictionary import Dictionary
from bpsn.testing import call_asgi

DICTIONARY = Dictionary.default()
README = Path(__file__).resolve().parents[2] / "README.md"
ADMIN = ("admin", "admin")
OPERATIONS = ("read", "create", "write", "delete")
CREDENTIALS = ("bearer_token", "api_key", "incidents_app_key", "changes_app_key", "cmdb_v2_app_key", "oim_app_key")
MASK = "********"
QUERY_DENIED = "Insufficient rights to query records"
MANDATORY = {"x_bip_panda_transform_rule": {"name": "acl-matrix-rule"},
             "x_bip_panda_cmdb_sync": {"u_map_name": "snow_cmdb_acl", "u_kind": "map"},
             "incident": {"short_description": "acl matrix incident"}}
WALKS_INCIDENT = ("x_bip_panda_incident_metadata", "x_bip_panda_bp_alerts", "x_bip_panda_similar_incident",
                  "x_bip_panda_related_change", "x_bip_panda_external_ticket")


@dataclass(frozen=True)
class Cell:
    operations: frozenset[str]
    masked: bool  # footnote 1: the credentials read as the mask
    unfound_writes: bool  # footnote 2: write / delete pass the ACL but the record is not found


@dataclass(frozen=True)
class Matrix:
    columns: list[frozenset[str]]  # the roles of each column
    cells: dict[str, list[Cell]]  # table -> one cell per column


def parse_readme_matrix(text: str) -> Matrix:
    section = text.split("### Roles and ACLs", 1)[1]
    lines = [line for line in section.splitlines() if line.startswith("| Table |")]
    assert lines, "README: the 'Roles and ACLs' section has no role x table table"
    start = section.index(lines[0])
    rows = []
    for line in section[start:].splitlines():
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    header, body = rows[0], rows[2:]
    columns = [frozenset(re.findall(r"`([^`]+)`", h)) for h in header[1:]]
    cells: dict[str, list[Cell]] = {}
    for row in body:
        table = row[0].strip("`")
        parsed = []
        for text_cell in row[1:]:
            ops = frozenset(re.sub(r"[¹²]", "", op).strip() for op in text_cell.split(",")) - {"—", ""}
            assert ops <= set(OPERATIONS), f"README matrix, {table}: {text_cell!r}"
            parsed.append(Cell(ops, "¹" in text_cell, "²" in text_cell))
        assert len(parsed) == len(columns), f"README matrix, {table}: {len(parsed)} cells"
        cells[table] = parsed
    return Matrix(columns, cells)


MATRIX = parse_readme_matrix(README.read_text())
COLUMN_IDS = ["+".join(sorted(c)) for c in MATRIX.columns]


def _call(app: Any, method: str, url: str, who: tuple[str, str], **kwargs: Any) -> httpx.Response:
    return call_asgi(app, method, url, base_url="http://sn", auth=who, **kwargs)


def _ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


def _make_user(app: Any, roles: frozenset[str]) -> tuple[str, str]:
    name = "acl." + "_".join(sorted(roles)).replace(".", "-")
    password = "Matrix-pw-" + str(len(name))
    user = _ok(_call(app, "POST", "/api/now/table/sys_user", ADMIN,
                     json={"user_name": name, "user_password": password}), 201)["result"]
    for role in roles:
        [found] = _ok(_call(app, "GET", "/api/now/table/sys_user_role", ADMIN,
                            params={"sysparm_query": f"name={role}"}))["result"]
        _ok(_call(app, "POST", "/api/now/table/sys_user_has_role", ADMIN,
                  json={"user": user["sys_id"], "role": found["sys_id"]}), 201)
    return name, password


def _writable_field(table: str) -> str:
    """A plain text field of the table that a write may change."""
    return next(name for name, f in DICTIONARY.fields(table).items()
                if f.type == "string" and not f.read_only and not f.choices and not name.startswith("sys_"))


def _new_record(app: Any, table: str, tag: str) -> str:
    body = {**MANDATORY.get(table, {})}
    if table == "x_bip_panda_config":
        body.update({"name": tag, "organization": tag, **{c: f"gAAAA-{c}-{tag}" for c in CREDENTIALS}})
    return str(_ok(_call(app, "POST", f"/api/now/table/{table}", ADMIN, json=body), 201)["result"]["sys_id"])


@pytest.fixture(scope="module")
def world() -> tuple[Any, dict[frozenset[str], tuple[str, str]]]:
    # an instance of its own: its users and records stay for the file; the pool's resets would drop them
    backend = ServiceNowBackend(clock=SimClock.virtual())
    app = create_app(backend)
    users = {roles: (ADMIN if roles == {"admin"} else _make_user(app, roles)) for roles in MATRIX.columns}
    return app, users


@pytest.fixture
def backend() -> ServiceNowBackend:
    """The process's pooled ServiceNow simulator (pooled_simulators.py) as a new one is; for the
    tests that need one as new. `world` stays apart: its users and records
    are kept across the file's tests."""
    return servicenow_pool().as_new()


@pytest.fixture
def app(backend: ServiceNowBackend) -> Any:
    return servicenow_pool().app


@pytest.fixture(params=range(len(MATRIX.columns)), ids=COLUMN_IDS)
def column(request: pytest.FixtureRequest) -> int:
    return int(request.param)


def test_the_readme_matrix_is_complete() -> None:
    assert len(MATRIX.columns) >= 5 and frozenset({"x_bip_panda.admin"}) in MATRIX.columns
    assert {"x_bip_panda_config", "x_bip_panda_shareincident", "x_bip_panda_bp_alerts",
            "x_bip_panda_incident_metadata", "x_bip_panda_correlation", "x_bip_panda_similar_incident",
            "x_bip_panda_related_change", "x_bip_panda_external_ticket", "incident"} <= set(MATRIX.cells)
    config = MATRIX.cells["x_bip_panda_config"]  # some columns read credentials masked, others in full
    assert any(c.masked for c in config) and any("read" in c.operations and not c.masked for c in config)


# --- every cell: read (Table API list and one, Aggregate, Batch, ORDERBY), create, write, delete ------

@pytest.mark.parametrize("table", list(MATRIX.cells))
def test_every_cell(world: tuple[Any, dict[frozenset[str], tuple[str, str]]], column: int, table: str) -> None:
    app, users = world
    cell, who = MATRIX.cells[table][column], users[MATRIX.columns[column]]
    sys_id = _new_record(app, table, f"c{column}")
    url = f"/api/now/table/{table}"
    listed = _call(app, "GET", url, who, params={"sysparm_query": f"sys_id={sys_id}^ORDERBYDESCsys_created_on"})
    one = _call(app, "GET", f"{url}/{sys_id}", who)
    stats = _call(app, "GET", f"/api/now/stats/{table}", who, params={"sysparm_count": "true"})
    batch = _ok(_call(app, "POST", "/api/now/v1/batch", who, json={
        "batch_request_id": "m", "rest_requests": [{"id": "1", "method": "GET", "url": f"{url}/{sys_id}"}]}))
    [item] = batch["serviced_requests"]
    if "read" in cell.operations:
        assert [r["sys_id"] for r in _ok(listed)["result"]] == [sys_id]
        assert _ok(one)["result"]["sys_id"] == sys_id
        assert _ok(stats)["result"]["stats"]["count"] != "0"
        assert item["status_code"] == 200
    else:
        assert listed.status_code == 403 and listed.json()["error"]["message"] == QUERY_DENIED
        assert one.status_code == 404 and sys_id not in one.text
        assert stats.status_code == 403
        assert item["status_code"] == 404 and sys_id not in base64.b64decode(item["body"]).decode()

    created = _call(app, "POST", url, who, json=MANDATORY.get(table, {}))
    if "create" in cell.operations:
        result = _ok(created, 201)["result"]
        assert (result == {}) == ("read" not in cell.operations)  # a record it may not read shows nothing
    else:
        assert created.status_code == 403 and "ACL Exception Insert Failed" in created.text

    patched = _call(app, "PATCH", f"{url}/{sys_id}", who, json={_writable_field(table): "changed"})
    after = _ok(_call(app, "GET", f"{url}/{sys_id}", ADMIN))["result"]
    if "read" not in cell.operations:
        assert patched.status_code == 404 and after["sys_mod_count"] == "0"
        assert ("write" in cell.operations) == cell.unfound_writes
    elif "write" in cell.operations:
        assert patched.status_code == 200 and after["sys_mod_count"] == "1", patched.text
    else:
        assert patched.status_code == 403 and "ACL Exception Update Failed" in patched.text
        assert after["sys_mod_count"] == "0"

    deleted = _call(app, "DELETE", f"{url}/{sys_id}", who)
    still = _call(app, "GET", f"{url}/{sys_id}", ADMIN).status_code == 200
    if "read" not in cell.operations:
        assert deleted.status_code == 404 and still
        assert ("delete" in cell.operations) == cell.unfound_writes
    elif "delete" in cell.operations:
        assert deleted.status_code == 204 and not still
    else:
        assert deleted.status_code == 403 and "ACL Exception Delete Failed" in deleted.text and still


def test_credentials_cells(world: tuple[Any, dict[frozenset[str], tuple[str, str]]], column: int) -> None:
    """Footnote 1: a masked reader sees ******** and cannot query, sort by, group or aggregate a
    credential; a full reader sees the stored token."""
    app, users = world
    cell, who = MATRIX.cells["x_bip_panda_config"][column], users[MATRIX.columns[column]]
    if "read" not in cell.operations:
        pytest.skip("this column does not read x_bip_panda_config")
    sys_id = _new_record(app, "x_bip_panda_config", f"cred{column}")
    url = "/api/now/table/x_bip_panda_config"
    for display in ("false", "true", "all"):
        record = _ok(_call(app, "GET", f"{url}/{sys_id}", who, params={"sysparm_display_value": display}))["result"]
        for name in CREDENTIALS:
            shown = record[name]["value"] if display == "all" else record[name]
            assert shown == (MASK if cell.masked else f"gAAAA-{name}-cred{column}")
    probes = [("GET", url, {"sysparm_query": "bearer_tokenISNOTEMPTY"}),
              ("GET", url, {"sysparm_query": "api_key=gAAAA-api_key-cred0"}),
              ("GET", url, {"sysparm_query": "ORDERBYbearer_token"}),
              ("GET", url, {"api_key": "x"}),
              ("GET", "/api/now/stats/x_bip_panda_config", {"sysparm_group_by": "bearer_token", "sysparm_count": "true"}),
              ("GET", "/api/now/stats/x_bip_panda_config", {"sysparm_max_fields": "oim_app_key"})]
    for method, path, params in probes:
        r = _call(app, method, path, who, params=params)
        assert r.status_code == (403 if cell.masked else 200), (params, r.text)
        assert "gAAAA-" not in r.text or not cell.masked


# --- dot-walked fields, conditions and display values through u_incident ---------------------------

@pytest.mark.parametrize("table", WALKS_INCIDENT)
def test_walks_into_incident_follow_the_incident_row(world: tuple[Any, dict[frozenset[str], tuple[str, str]]],
                                                     column: int, table: str) -> None:
    app, users = world
    cell, who = MATRIX.cells[table][column], users[MATRIX.columns[column]]
    if "read" not in cell.operations:
        pytest.skip("this column does not read the table")
    reads_incident = "read" in MATRIX.cells["incident"][column].operations
    incident = _ok(_call(app, "POST", "/api/now/table/incident", ADMIN,
                         json={"short_description": "walk-secret-" + table}), 201)["result"]
    sys_id = _ok(_call(app, "POST", f"/api/now/table/{table}", ADMIN,
                       json={"u_incident": incident["sys_id"]}), 201)["result"]["sys_id"]
    url = f"/api/now/table/{table}"
    for display in ("false", "true", "all"):
        record = _ok(_call(app, "GET", f"{url}/{sys_id}", who, params={
            "sysparm_fields": "u_incident,u_incident.short_description", "sysparm_display_value": display}))["result"]
        assert ("u_incident.short_description" in record) == reads_incident
        if display != "false":
            assert (record["u_incident"]["display_value"] == incident["number"]) == reads_incident
    for query in ("u_incident.short_descriptionSTARTSWITHwalk-secret", "u_incident.number=" + incident["number"],
                  "u_incident.short_descriptionSTARTSWITHnope", "ORDERBYu_incident.number"):
        r = _call(app, "GET", url, who, params={"sysparm_query": f"sys_id={sys_id}^{query}"})
        if reads_incident:
            assert [row["sys_id"] for row in _ok(r)["result"]] == ([] if "nope" in query else [sys_id])
        else:
            assert r.status_code == 403 and r.json()["error"]["message"] == QUERY_DENIED


# --- the Import Set API and its transform ------------------------------------------------------------

def test_import_set_transform_follows_the_importer_acls(world: tuple[Any, dict[frozenset[str], tuple[str, str]]],
                                                        column: int) -> None:
    app, users = world
    who = users[MATRIX.columns[column]]
    stages = "create" in MATRIX.cells["x_bip_panda_shareincident"][column].operations
    writes = MATRIX.cells["x_bip_panda_incident_metadata"][column].operations
    bp_id = f"BP-ACL-IMPORT-{column}"
    r = _call(app, "POST", "/api/now/import/x_bip_panda_shareincident", who,
              json={"u_bp_incident_id": bp_id, "u_bp_organization": "acl", "u_bp_incident_status": "active"})
    if not stages:
        assert r.status_code == 403 and "ACL Exception Insert Failed" in r.text
        return
    [meta] = [e for e in _ok(r, 201)["result"] if e["table"] == "x_bip_panda_incident_metadata"]
    stored = _ok(_call(app, "GET", "/api/now/table/x_bip_panda_incident_metadata", ADMIN,
                       params={"sysparm_query": f"u_bp_incident_id={bp_id}"}))["result"]
    if "create" in writes:
        assert meta["status"] == "inserted" and len(stored) == 1
    else:  # GlideRecordSecure: the row is that map's error, nothing is written
        assert meta["status"] == "error" and "ACL Exception Insert Failed" in meta["error_message"]
        assert stored == []
        return
    again = _ok(_call(app, "POST", "/api/now/import/x_bip_panda_shareincident", who, json={
        "u_bp_incident_id": bp_id, "u_bp_organization": "acl", "u_bp_incident_status": "resolved"}), 201)
    [meta] = [e for e in again["result"] if e["table"] == "x_bip_panda_incident_metadata"]
    assert meta["status"] == ("updated" if "write" in writes else "error")


def _acl(app: Any, name: str, operation: str, roles: str) -> None:
    _ok(_call(app, "POST", "/api/now/table/sys_security_acl", ADMIN,
              json={"name": name, "operation": operation, "u_roles": roles}), 201)


def test_a_field_acl_added_as_a_record_holds_at_once_in_transforms_and_display_values(app: Any) -> None:
    service = ("bigpanda.integration", "bigpanda")
    _acl(app, "x_bip_panda_incident_metadata.u_aia_summary", "create", "x_bip_panda.admin")
    _acl(app, "incident.number", "read", "itil_admin")
    row = {"u_bp_incident_id": "BP-FIELD-1", "u_bp_organization": "acl", "u_bp_aia_summary": "the summary"}
    _ok(_call(app, "POST", "/api/now/import/x_bip_panda_shareincident", service, json=row), 201)
    _ok(_call(app, "POST", "/api/now/import/x_bip_panda_shareincident", ("bigpanda.admin", "bigpanda-admin"),
              json={**row, "u_bp_incident_id": "BP-FIELD-2"}), 201)
    stored = {r["u_bp_incident_id"]: r["u_aia_summary"] for r in _ok(_call(
        app, "GET", "/api/now/table/x_bip_panda_incident_metadata", ADMIN,
        params={"sysparm_query": "u_organization=acl"}))["result"]}
    assert stored == {"BP-FIELD-1": "", "BP-FIELD-2": "the summary"}  # a denied field is not written
    incident = _ok(_call(app, "POST", "/api/now/table/incident", service, json={"short_description": "x"}), 201)
    assert "number" not in incident["result"]  # its read ACL now refuses the service account
    meta = _ok(_call(app, "POST", "/api/now/table/x_bip_panda_incident_metadata", service,
                     json={"u_incident": incident["result"]["sys_id"]}), 201)["result"]["sys_id"]
    for who, shown in ((service, ""), (ADMIN, "INC")):
        record = _ok(_call(app, "GET", f"/api/now/table/x_bip_panda_incident_metadata/{meta}", who,
                           params={"sysparm_display_value": "true", "sysparm_fields": "u_incident,u_incident.number"}))
        assert record["result"]["u_incident"]["display_value"].startswith(shown)
        assert ("u_incident.number" in record["result"]) == (who == ADMIN)
    r = _call(app, "GET", "/api/now/table/incident", service, params={"sysparm_query": "numberSTARTSWITHINC"})
    assert r.status_code == 403 and r.json()["error"]["message"] == QUERY_DENIED


# --- query ACLs -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("who", "query", "allowed"), [
    (("noc.analyst", "analyst"), "organization=acme", True),  # query_match: a look-up
    (("noc.analyst", "analyst"), "organizationIN acme,demo".replace(" ", ""), True),
    (("noc.analyst", "analyst"), "organizationSTARTSWITHac", False),  # query_range on x_bip_panda_config.*
    (("noc.analyst", "analyst"), "version>1", False),
    (("noc.analyst", "analyst"), "nameLIKEacme", False),
    (("bigpanda.integration", "bigpanda"), "organizationSTARTSWITHac", True),
    (("bigpanda.admin", "bigpanda-admin"), "version>1", True),
])
def test_query_acls_on_the_configuration(app: Any, who: tuple[str, str], query: str, allowed: bool) -> None:
    _new_record(app, "x_bip_panda_config", "acme")
    r = _call(app, "GET", "/api/now/table/x_bip_panda_config", who, params={"sysparm_query": query})
    if allowed:
        assert r.status_code == 200, r.text
    else:
        assert r.status_code == 403 and r.json()["error"]["message"] == QUERY_DENIED


def test_query_range_on_the_share_payload_is_refused_to_a_bigpanda_user_only(app: Any) -> None:
    query = {"sysparm_query": "u_bp_incident_jsonLIKEsecret-host"}
    assert _call(app, "GET", "/api/now/table/x_bip_panda_shareincident", ("noc.analyst", "analyst"),
                 params=query).status_code == 403
    assert _call(app, "GET", "/api/now/table/x_bip_panda_shareincident", ("bigpanda.integration", "bigpanda"),
                 params=query).status_code == 200
    assert _call(app, "GET", "/api/now/table/x_bip_panda_shareincident", ("noc.analyst", "analyst"),
                 params={"sysparm_query": "u_bp_incident_jsonISNOTEMPTY"}).status_code == 200  # query_match


# --- the ACLs as data ----------------------------------------------------------------------------------

def test_the_apps_41_acls_are_records_only_admin_reads(app: Any) -> None:
    rows = _ok(_call(app, "GET", "/api/now/table/sys_security_acl", ADMIN,
                     params={"sysparm_query": "sys_scope=x_bip_panda", "sysparm_limit": "1000"}))["result"]
    assert len(rows) == 41
    tables = {r["name"].split(".")[0] for r in rows}
    assert len(tables) == 8 and all(t.startswith("x_bip_panda_") for t in tables)
    assert sum(1 for r in rows if "." not in r["name"]) == 32  # 8 tables x read/create/write/delete
    for who in (("noc.analyst", "analyst"), ("bigpanda.admin", "bigpanda-admin")):
        assert _call(app, "GET", "/api/now/table/sys_security_acl", who).status_code == 403


def test_deactivating_an_acl_record_takes_effect_at_once(app: Any) -> None:
    analyst = ("noc.analyst", "analyst")
    assert _call(app, "GET", "/api/now/table/x_bip_panda_correlation", analyst).status_code == 200
    [acl] = _ok(_call(app, "GET", "/api/now/table/sys_security_acl", ADMIN, params={
        "sysparm_query": "name=x_bip_panda_correlation^operation=read"}))["result"]
    _ok(_call(app, "PATCH", f"/api/now/table/sys_security_acl/{acl['sys_id']}", ADMIN, json={"active": "false"}))
    # no rule of its own left: the x_bip_panda_* pattern (x_bip_panda_user) decides
    assert _call(app, "GET", "/api/now/table/x_bip_panda_correlation", analyst).status_code == 200
    _acl(app, "x_bip_panda_correlation", "read", "x_bip_panda.admin+x_bip_panda_user")
    assert _call(app, "GET", "/api/now/table/x_bip_panda_correlation", analyst).status_code == 403
    assert _call(app, "GET", "/api/now/table/x_bip_panda_correlation",
                 ("bigpanda.admin", "bigpanda-admin")).status_code == 200



def test_an_acl_change_travels_in_a_snapshot_and_a_reset_brings_back_the_shipped_acls(
        backend: ServiceNowBackend, app: Any, tmp_path: Path) -> None:
    analyst = ("noc.analyst", "analyst")
    _acl(app, "x_bip_panda_external_ticket", "read", "itil_admin")  # one more rule: any one passing is enough
    [shipped] = _ok(_call(app, "GET", "/api/now/table/sys_security_acl", ADMIN, params={
        "sysparm_query": "name=x_bip_panda_external_ticket^operation=read^sys_scope=x_bip_panda"}))["result"]
    _ok(_call(app, "PATCH", f"/api/now/table/sys_security_acl/{shipped['sys_id']}", ADMIN, json={"active": "false"}))
    assert _call(app, "GET", "/api/now/table/x_bip_panda_external_ticket", analyst).status_code == 403
    folder = tmp_path / "snapshots"
    folder.mkdir(mode=0o700)
    save_snapshot(backend, folder / "acl.db", folder)
    backend.reset()
    assert _call(app, "GET", "/api/now/table/x_bip_panda_external_ticket", analyst).status_code == 200
    load_snapshot(backend, folder / "acl.db")
    assert _call(app, "GET", "/api/now/table/x_bip_panda_external_ticket", analyst).status_code == 403


@pytest.mark.parametrize(("body", "detail"), [
    ({"name": "incident", "operation": "peek"}, "operation 'peek' is not one of"),
    ({"name": "no_such_table", "operation": "read"}, "no table 'no_such_table'"),
    ({"name": "incident.no_such_field", "operation": "read"}, "incident has no field 'no_such_field'"),
    ({"name": "incident", "operation": "query_range"}, "a query_range ACL names a field"),
])
def test_an_acl_record_that_cannot_apply_is_refused_and_nothing_changes(app: Any, body: dict[str, str],
                                                                        detail: str) -> None:
    before = _ok(_call(app, "GET", "/api/now/stats/sys_security_acl", ADMIN, params={"sysparm_count": "true"}))
    r = _call(app, "POST", "/api/now/table/sys_security_acl", ADMIN, json=body)
    assert r.status_code == 400 and r.json()["error"]["message"] == "Invalid ACL" and detail in r.json()["error"]["detail"]
    assert _ok(_call(app, "GET", "/api/now/stats/sys_security_acl", ADMIN, params={"sysparm_count": "true"})) == before
