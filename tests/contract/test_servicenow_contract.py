"""Contract tests: the ServiceNow simulator against its own OpenAPI document, in-process.

Every schemathesis check (contract_checks.ALL_CHECKS): no server errors, no response that breaks
its declared schema, content type or headers, no undocumented status, schema-valid requests
accepted and schema-invalid ones refused; authenticated (basic auth admin/admin) and not; and a
stateful run over the Table API (create, read, update, delete through OpenAPI links).

Bounded for CI: every operation gets its examples and a few fuzzed cases; the Table API also
gets schemathesis' coverage phase (boundaries, unexpected methods, missing and malformed
values). BPSN_CONTRACT_DEEP=1 runs the coverage phase everywhere and fuzzes ten times longer.
"""

from __future__ import annotations

import base64
import os
import zlib
from typing import Any

import pytest
import schemathesis
from contract_checks import ALL_CHECKS, Allowed, authorize, config, may_steer, only, undocumented
from hypothesis import HealthCheck, Phase, settings
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import allow_header_conformance, status_code_conformance

from bpsn.simulator.servicenow.app import create_app
from bpsn.simulator.servicenow.backend import ServiceNowBackend

DEEP = os.environ.get("BPSN_CONTRACT_DEEP") == "1"
CORE = r"^/api/now/table/"  # the Table API: the coverage phase always runs here

backend = ServiceNowBackend()
app = create_app(backend)

TABLE_CREATES = tuple(f"POST /api/now/{v}table/{{table}}" for v in ("", "v1/", "v2/"))
# Narrow exceptions: schema-valid requests ServiceNow refuses on their meaning, each with why; every
# status is documented on its operations (test_allowances_are_documented).
ALLOWED = [
    Allowed(TABLE_CREATES, 400, "a sys_dictionary entry whose `name` is no table is 'Invalid table': one "
                                "table's insert rule, which a record body free-form across tables cannot show"),
    Allowed(("POST /api/now/import/{staging_table}/insertMultiple",), 400,
            "a multi_import_set_id that names no sys_multi_import_set record"),
    Allowed(("GET /api/now/stats/{table}",), 400,
            "a sysparm_having clause off its grammar (aggregate^field^operator^number)"),
    Allowed(("POST /_sim/fixtures",), 400, "fixtures name tables and hold records free-form: an unknown table or "
                                           "a record a table refuses rejects the whole load"),
]
schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config(ALLOWED, coverage=True))
light = schemathesis.openapi.from_asgi("/openapi.json", app, config=config(ALLOWED, coverage=DEEP))  # fuzzing only

ADMIN = {"Authorization": "Basic YWRtaW46YWRtaW4="}  # admin / admin
# Kept out of fuzzing, covered by the plain tests at the end: reset and snapshots wipe the
# instance or touch files. A fault rule makes the simulator misbehave on purpose: fault rules are
# fuzzed on their own below, each removed at once.
FAULTS = "/_sim/faults"
rest = light.exclude(path_regex=CORE).exclude(path_regex=r"^/_sim/(reset|snapshot/.*)$") \
    .exclude(path=FAULTS, method="POST")

CHECKS = ALL_CHECKS
BOUNDED = settings(max_examples=40 if DEEP else 4, deadline=None, suppress_health_check=list(HealthCheck))

# The document lists the instance's tables, so drawn cases already name real tables; a drawn
# sys_id, though, never names a real record. Most valid cases on a few tables are aimed at one
# of its records (deletes at a fresh incident, so they do not starve the rest), so reads,
# renders, updates and deletes run for real; the invalid part of an invalid case is left alone.
# The choice is derived from the generated values: reproducible.
LIVE_TABLES = ("incident", "sys_user_group", "cmdb_ci_linux_server", "cmdb_ci", "x_bip_panda_config")
# The encoded-query parser reads ~50 KB/s (see test_longest_query_is_answered), so valid
# fuzzed queries are cut to this length to keep the run bounded; the limit itself is tested once.
QUERY_CUT = 512


def new_incident(text: str = "contract") -> str:
    return backend.insert_system("incident", {"short_description": text, "impact": "2", "urgency": "2"})["sys_id"]


for i in range(3):
    new_incident(f"contract seed {i}")


def live_ids(table: str) -> list[str]:
    return [row["sys_id"] for row in backend.query(table, "", limit=5, offset=0, count=False)[0]]


def aim(case: Any) -> dict[str, str]:
    """Steer the case as described above; the credentials to send with it."""
    headers = authorize(case, ADMIN)
    query = case.query if isinstance(case.query, dict) else {}
    sysparm_query = query.get("sysparm_query")
    if isinstance(sysparm_query, str) and len(sysparm_query) <= 32_000 and may_steer(case, ParameterLocation.QUERY):
        query["sysparm_query"] = sysparm_query[:QUERY_CUT]  # still valid: no minimum length
    params = case.path_parameters if isinstance(case.path_parameters, dict) else {}
    if isinstance(params.get("sys_id"), str) and may_steer(case, ParameterLocation.PATH):
        key = zlib.crc32(f"{params.get('table')}/{params['sys_id']}".encode())
        if case.method == "DELETE" and "table" in params and key % 3:
            params["table"], params["sys_id"] = "incident", new_incident()
        elif params.get("table") in LIVE_TABLES and key % 3 and (ids := live_ids(params["table"])):
            params["sys_id"] = ids[key % len(ids)]
    return headers


@only(schema, CORE).parametrize()
@BOUNDED
def test_table_api_conforms(case):
    case.call_and_validate(headers=aim(case), checks=CHECKS)


# GET /api/now/import/x/insertMultiple is served by GET .../{sys_id} (sys_id "insertMultiple"), so
# a 405 there rightly allows GET as well, which one path of the document cannot show: the Allow
# check does not apply to it (it only runs on unexpected methods, i.e. when DEEP).
OVERLAPPING_PATHS = {"/api/now/import/{staging_table}/insertMultiple"}


@rest.parametrize()
@settings(BOUNDED, max_examples=40 if DEEP else 3)
def test_other_operations_conform(case, wait_shortener):
    headers = aim(case)
    wait_shortener(case)
    overlapping = case.operation.path in OVERLAPPING_PATHS
    case.call_and_validate(headers=headers, checks=CHECKS,
                           excluded_checks=[allow_header_conformance] if overlapping else None)


@only(schema, CORE).parametrize()
@settings(BOUNDED, max_examples=2, phases=[Phase.generate])
def test_unauthenticated_is_documented(case):
    """No credentials: the Table API answers 401, and documents it."""
    response = case.call()
    case.validate_response(response, checks=[status_code_conformance])
    if case.meta.generation.mode.is_positive:  # negative data may be refused before auth
        assert response.status_code == 401, response.text


@only(light, f"^{FAULTS}$", method="POST").parametrize()
@settings(BOUNDED, max_examples=40 if DEEP else 6)
def test_fault_rules_conform(case):
    """Any drawn fault rule is refused or stored as sent; it is removed before it can act."""
    try:
        case.call_and_validate(headers=aim(case), checks=CHECKS)
    finally:
        backend.faults.clear()


# One path family only: schemathesis cannot tell that /api/now/v1/... and /api/now/v2/... name
# the same record, so a delete through one then a read through the other looked like a lost record.
class TableWorkflow(only(schema, r"^/api/now/table/").as_state_machine()):
    """create -> read / update / delete, following the document's record links (see
    simulator/servicenow/openapi_document.py), with use_after_free and ensure_resource_availability."""

    def before_call(self, case: Any) -> None:
        params = case.path_parameters if isinstance(case.path_parameters, dict) else {}
        query = case.query if isinstance(case.query, dict) else {}
        if case.method == "POST" and may_steer(case, ParameterLocation.PATH) and "table" in params:
            params["table"] = "incident"  # other tables' creates mostly stop at mandatory fields or ACLs
        if case.method == "POST" and isinstance(case.body, dict) and may_steer(case, ParameterLocation.BODY):
            case.body = {k: v for k, v in case.body.items() if k != "sys_id"}  # a drawn one collides on replay
        if case.method == "POST" and may_steer(case, ParameterLocation.QUERY):
            # The links read `result.sys_id` as the default rendering has it: display_value=all
            # makes it a {value, display_value} pair and sysparm_fields may leave it out.
            query.pop("sysparm_fields", None)
            if str(query.get("sysparm_display_value", "")).lower() == "all":
                query["sysparm_display_value"] = "false"
        if isinstance(query.get("sysparm_query"), str) and may_steer(case, ParameterLocation.QUERY):
            query["sysparm_query"] = query["sysparm_query"][:QUERY_CUT]

    def get_call_kwargs(self, case: Any) -> dict[str, Any]:
        return {"headers": authorize(case, ADMIN)}

    def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
        case.validate_response(response, checks=CHECKS, headers=kwargs.get("headers"),
                               transport_kwargs=kwargs or None, recorder=self.recorder)


TestTableWorkflow = TableWorkflow.TestCase
TestTableWorkflow.settings = settings(max_examples=40 if DEEP else 15, stateful_step_count=4, deadline=None,
                                      suppress_health_check=list(HealthCheck))


# --- the operations kept out of fuzzing, each called once and checked against the document ------

def conforms(response: Any, method: str, path: str) -> Any:
    """Validate a plain httpx response against the operation it called (status, schema, headers)."""
    schema[path][method].validate_response(response)
    return response


def test_allowances_are_documented():
    """Every narrow exception above is a status its operations document."""
    assert undocumented(app.openapi(), ALLOWED) == []


def _incident_count(asgi_request: Any) -> int:
    answer = asgi_request(app, "GET", "/api/now/stats/incident", headers=ADMIN, params={"sysparm_count": "true"})
    return int(answer.json()["result"]["stats"]["count"])


NEW_INCIDENT = {"id": "1", "method": "POST", "url": "/api/now/table/incident",
                "body": base64.b64encode(b'{"short_description": "must not be created"}').decode()}


@pytest.mark.parametrize(("path", "body"), [
    ("/api/now/v1/batch", {"rest_requests": [{**NEW_INCIDENT, "exclude_response_headers": 0}]}),
    ("/api/now/v1/batch", {"rest_requests": [{**NEW_INCIDENT, "body": 5}]}),
    ("/api/now/table/incident", {"short_description": "must not be created", "sys_id": 12345}),
    ("/_sim/faults", {"table": ""}),
])
def test_schema_invalid_bodies_are_refused(asgi_request, path, body):
    """A body its schema calls invalid (0 for a boolean, a number for text, a sys_id that is not
    one, an empty name) is a 400 in ServiceNow's error body, and creates nothing."""
    before = _incident_count(asgi_request), asgi_request(app, "GET", "/_sim/faults", headers=ADMIN).json()
    template = "/api/now/table/{table}" if path.startswith("/api/now/table/") else path
    refused = conforms(asgi_request(app, "POST", path, headers=ADMIN, json=body), "POST", template)
    assert refused.status_code == 400 and refused.json()["status"] == "failure", refused.text
    assert (_incident_count(asgi_request), asgi_request(app, "GET", "/_sim/faults", headers=ADMIN).json()) == before


def test_a_parameter_sent_twice_is_refused(asgi_request):
    """A query parameter the document declares once, sent twice, is a 400, not a silent pick."""
    twice = asgi_request(app, "GET", "/api/now/table/incident?sysparm_limit=1&sysparm_limit=2", headers=ADMIN)
    assert conforms(twice, "GET", "/api/now/table/{table}").status_code == 400
    assert "sysparm_limit" in twice.json()["error"]["detail"]


def test_the_document_names_the_tables(asgi_request):
    """Every table of the dictionary is listed on the Table API; an unlisted one is 400 Invalid table."""
    table = next(p for p in app.openapi()["paths"]["/api/now/table/{table}"]["get"]["parameters"]
                 if p["name"] == "table")
    assert set(table["schema"]["enum"]) == set(backend.dictionary.tables)
    unknown = asgi_request(app, "GET", "/api/now/table/no_such_table", headers=ADMIN)
    assert conforms(unknown, "GET", "/api/now/table/{table}").status_code == 400
    assert unknown.json()["error"]["message"] == "Invalid table no_such_table"


def test_reset_restores_the_seed(asgi_request):
    created = asgi_request(app, "POST", "/api/now/table/incident", headers=ADMIN,
                           json={"short_description": "wiped by reset"})
    assert created.status_code == 201
    sys_id = created.json()["result"]["sys_id"]
    reset = conforms(asgi_request(app, "POST", "/_sim/reset", headers=ADMIN), "POST", "/_sim/reset")
    assert reset.status_code == 200 and reset.json() == {"status": "ok"}
    gone = asgi_request(app, "GET", f"/api/now/table/incident/{sys_id}", headers=ADMIN)
    assert gone.status_code == 404
    assert asgi_request(app, "GET", "/api/now/table/sys_user", headers=ADMIN,
                        params={"user_name": "admin"}).json()["result"]


def test_snapshot_save_and_load(asgi_request, tmp_path, monkeypatch):
    monkeypatch.setenv("BPSN_SN_SNAPSHOT_DIR", str(tmp_path))  # the routes take names inside it
    if hasattr(app.state.backend.settings, "snapshot_dir"):  # once ServiceNowSettings has the setting
        monkeypatch.setattr(app.state.backend.settings, "snapshot_dir", tmp_path)
    snapshot = tmp_path / "instance.sqlite"
    created = asgi_request(app, "POST", "/api/now/table/incident", headers=ADMIN,
                           json={"short_description": "kept by the snapshot"})
    sys_id = created.json()["result"]["sys_id"]
    saved = asgi_request(app, "POST", "/_sim/snapshot/save", headers=ADMIN, json={"path": snapshot.name})
    conforms(saved, "POST", "/_sim/snapshot/save")
    assert saved.status_code == 200 and saved.json() == {"status": "ok"} and snapshot.is_file()
    assert asgi_request(app, "DELETE", f"/api/now/table/incident/{sys_id}", headers=ADMIN).status_code == 204
    loaded = asgi_request(app, "POST", "/_sim/snapshot/load", headers=ADMIN, json={"path": snapshot.name})
    conforms(loaded, "POST", "/_sim/snapshot/load")
    assert loaded.status_code == 200 and loaded.json() == {"status": "ok"}
    back = asgi_request(app, "GET", f"/api/now/table/incident/{sys_id}", headers=ADMIN)
    assert back.status_code == 200 and back.json()["result"]["short_description"] == "kept by the snapshot"
    missing = asgi_request(app, "POST", "/_sim/snapshot/load", headers=ADMIN, json={"path": "none.sqlite"})
    conforms(missing, "POST", "/_sim/snapshot/load")
    assert missing.status_code == 400 and missing.json()["status"] == "failure"


def test_fault_rules(asgi_request):
    rule = {"method": "GET", "path": "/api/now/table/sys_user_group", "status": 503, "times": 1}
    added = conforms(asgi_request(app, "POST", "/_sim/faults", headers=ADMIN, json=rule), "POST", "/_sim/faults")
    assert added.status_code == 201
    faulted = asgi_request(app, "GET", "/api/now/table/sys_user_group", headers=ADMIN)
    assert faulted.status_code == 503 and faulted.json()["status"] == "failure"  # injected, on purpose
    assert asgi_request(app, "GET", "/api/now/table/sys_user_group", headers=ADMIN).status_code == 200
    bad = conforms(asgi_request(app, "POST", FAULTS, headers=ADMIN, json={"path": "^("}), "POST", FAULTS)
    assert bad.status_code == 400 and "regular expression" in bad.json()["error"]["detail"]
    removed = asgi_request(app, "DELETE", f"/_sim/faults/{added.json()['id']}", headers=ADMIN)
    assert conforms(removed, "DELETE", "/_sim/faults/{rule_id}").status_code == 200
    again = asgi_request(app, "DELETE", f"/_sim/faults/{added.json()['id']}", headers=ADMIN)
    assert conforms(again, "DELETE", "/_sim/faults/{rule_id}").status_code == 404


def test_longest_query_is_answered(asgi_request):
    """The longest sysparm_query the document allows (32,000 characters) is parsed and answered."""
    response = asgi_request(app, "GET", "/api/now/table/incident", headers=ADMIN,
                            params={"sysparm_query": "0" * 32_000})
    assert conforms(response, "GET", "/api/now/table/{table}").status_code == 200
