"""Contract tests: the ServiceNow simulator against its own OpenAPI document, in-process.

No server errors, no response that breaks its declared schema, content type or headers, no
undocumented status; authenticated (basic auth admin/admin) and not.

Bounded for CI: every operation gets its examples and a few fuzzed cases; the Table API also
gets schemathesis' coverage phase (boundaries, unexpected methods, missing and malformed
values). BPSN_CONTRACT_DEEP=1 runs the coverage phase everywhere and fuzzes ten times longer.
"""

from __future__ import annotations

import copy
import os
import re
import zlib
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    ensure_resource_availability,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    ignored_auth,
    missing_required_header,
    unsupported_method,
    use_after_free,
)

from simulator.servicenow.app import create_app
from simulator.servicenow.backend import ServiceNowBackend

DEEP = os.environ.get("BPSN_CONTRACT_DEEP") == "1"
CORE = r"^/api/now/table/"  # the Table API: the coverage phase always runs here

backend = ServiceNowBackend()
app = create_app(backend)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)  # examples, coverage, fuzzing
light = schemathesis.openapi.from_asgi("/openapi.json", app,  # examples, fuzzing
                                       config=schemathesis.Config.from_dict({"phases": {"coverage": {"enabled": DEEP}}}))

ADMIN = {"Authorization": "Basic YWRtaW46YWRtaW4="}  # admin / admin
# Kept out of fuzzing, covered by the plain tests at the end: reset and snapshots wipe the
# instance or touch files; a fault rule makes the simulator misbehave on purpose.
rest = light.exclude(path_regex=CORE).exclude(path_regex=r"^/_sim/(reset|snapshot/.*)$") \
    .exclude(path="/_sim/faults", method="POST")

# The contract: no server errors, no undocumented status, no response that breaks its
# schema, and the declared content types and headers are what is sent. Status conformance skips
# the coverage phase's unexpected methods (TRACE, OPTIONS, ...), so two more checks hold those
# to a 405 whose Allow header lists the path's methods.
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance,
          content_type_conformance, response_headers_conformance, unsupported_method, allow_header_conformance,
          missing_required_header, ignored_auth]  # no required header goes unchecked, no credential unchecked
BOUNDED = settings(max_examples=40 if DEEP else 4, deadline=None, suppress_health_check=list(HealthCheck))

# A fuzzed table name is almost never a real table, so nearly every call would stop at
# "Invalid table". Most cases with a well-formed name are aimed at a real table instead (and
# most of those with a sys_id at one of its records), so queries, renders, inserts, updates
# and deletes run for real. The choice is derived from the generated values: reproducible.
TABLE_NAME = re.compile(r"^[A-Za-z0-9_]{1,80}$")
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


def aim(case: Any) -> None:
    params = case.path_parameters if isinstance(case.path_parameters, dict) else {}
    query = case.query if isinstance(case.query, dict) else {}
    holder = params if "table" in params else query
    sysparm_query = query.get("sysparm_query")
    if isinstance(sysparm_query, str) and len(sysparm_query) <= 32_000:
        query["sysparm_query"] = sysparm_query[:QUERY_CUT]  # still valid: no minimum length
    table = holder.get("table")
    if not isinstance(table, str) or not TABLE_NAME.match(table):
        return  # malformed on purpose: leave it to be rejected
    key = zlib.crc32(f"{table}/{params.get('sys_id')}".encode())
    if key % 5 == 0:
        return  # one in five keeps its fuzzed (unknown) table
    if case.method == "DELETE" and key % 3:
        holder["table"], params["sys_id"] = "incident", new_incident()  # deletes must not starve the rest
        return
    real = LIVE_TABLES[key % len(LIVE_TABLES)]
    holder["table"] = real
    ids = live_ids(real)
    if isinstance(params.get("sys_id"), str) and key % 3 and ids:
        params["sys_id"] = ids[key % len(ids)]


@schema.include(path_regex=CORE).parametrize()
@BOUNDED
def test_table_api_conforms(case):
    aim(case)
    case.call_and_validate(headers=ADMIN, checks=CHECKS)


# GET /api/now/import/x/insertMultiple is served by GET .../{sys_id} (sys_id "insertMultiple"), so
# a 405 there rightly allows GET as well, which one path of the document cannot show: the Allow
# check does not apply to it (it only runs on unexpected methods, i.e. when DEEP).
OVERLAPPING_PATHS = {"/api/now/import/{staging_table}/insertMultiple"}


@rest.parametrize()
@settings(BOUNDED, max_examples=40 if DEEP else 3)
def test_other_operations_conform(case, wait_shortener):
    aim(case)
    wait_shortener(case)
    overlapping = case.operation.path in OVERLAPPING_PATHS
    case.call_and_validate(headers=ADMIN, checks=CHECKS, excluded_checks=[allow_header_conformance] if overlapping else None)


@schema.include(path_regex=CORE).parametrize()
@settings(BOUNDED, max_examples=2, phases=[Phase.generate])
def test_unauthenticated_is_documented(case):
    """No credentials: the Table API answers 401, and documents it."""
    response = case.call()
    case.validate_response(response, checks=[status_code_conformance])
    if case.meta.generation.mode.is_positive:  # negative data may be refused before auth
        assert response.status_code == 401, response.text


def with_record_links(document: dict[str, Any]) -> dict[str, Any]:
    """The app's document plus links from a create to the record it made.

    Schemathesis infers only `table` from the POST (a record's fields are free-form, so the
    `sys_id` in `result` is invisible to it); these links carry `result.sys_id` as well.
    """
    document = copy.deepcopy(document)
    record = "/api/now/table/{table}/{sys_id}"
    ref = "#/paths/" + record.replace("/", "~1")
    document["paths"]["/api/now/table/{table}"]["post"]["responses"]["201"]["links"] = {
        f"{method.title()}Record": {"operationRef": f"{ref}/{method}", "parameters": {
            "table": "$request.path.table", "sys_id": "$response.body#/result/sys_id"}}
        for method in document["paths"][record]}
    return document


workflow_schema = schemathesis.openapi.from_dict(with_record_links(app.openapi()))
workflow_schema.app, workflow_schema.location = app, "/openapi.json"  # as from_asgi sets them


# One path family only: schemathesis cannot tell that /api/now/v1/... and /api/now/v2/... name
# the same record, so a delete through one then a read through the other looked like a lost record.
class TableWorkflow(workflow_schema.include(path_regex=r"^/api/now/table/").as_state_machine()):
    """create -> read / update / delete, following the record links above."""

    def before_call(self, case: Any) -> None:
        params = case.path_parameters if isinstance(case.path_parameters, dict) else {}
        if case.method == "POST" and isinstance(params.get("table"), str) and TABLE_NAME.match(params["table"]):
            params["table"] = "incident"
        if isinstance(case.query, dict) and isinstance(case.query.get("sysparm_query"), str):
            case.query["sysparm_query"] = case.query["sysparm_query"][:QUERY_CUT]

    def get_call_kwargs(self, case: Any) -> dict[str, Any]:
        return {"headers": ADMIN}

    def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
        case.validate_response(response, checks=[*CHECKS, use_after_free, ensure_resource_availability],
                               transport_kwargs=kwargs or None, recorder=self.recorder)


TestTableWorkflow = TableWorkflow.TestCase
TestTableWorkflow.settings = settings(max_examples=15, stateful_step_count=4, deadline=None,
                                      suppress_health_check=list(HealthCheck))


# --- the operations kept out of fuzzing, each called once and checked against the document ------

def conforms(response: Any, method: str, path: str) -> Any:
    """Validate a plain httpx response against the operation it called (status, schema, headers)."""
    schema[path][method].validate_response(response)
    return response


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


def test_snapshot_save_and_load(asgi_request, tmp_path):
    snapshot = tmp_path / "instance.sqlite"
    created = asgi_request(app, "POST", "/api/now/table/incident", headers=ADMIN,
                           json={"short_description": "kept by the snapshot"})
    sys_id = created.json()["result"]["sys_id"]
    saved = asgi_request(app, "POST", "/_sim/snapshot/save", headers=ADMIN, json={"path": str(snapshot)})
    conforms(saved, "POST", "/_sim/snapshot/save")
    assert saved.status_code == 200 and saved.json() == {"status": "ok"} and snapshot.is_file()
    assert asgi_request(app, "DELETE", f"/api/now/table/incident/{sys_id}", headers=ADMIN).status_code == 204
    loaded = asgi_request(app, "POST", "/_sim/snapshot/load", headers=ADMIN, json={"path": str(snapshot)})
    conforms(loaded, "POST", "/_sim/snapshot/load")
    assert loaded.status_code == 200 and loaded.json() == {"status": "ok"}
    back = asgi_request(app, "GET", f"/api/now/table/incident/{sys_id}", headers=ADMIN)
    assert back.status_code == 200 and back.json()["result"]["short_description"] == "kept by the snapshot"
    missing = asgi_request(app, "POST", "/_sim/snapshot/load", headers=ADMIN, json={"path": str(tmp_path / "none.sqlite")})
    conforms(missing, "POST", "/_sim/snapshot/load")
    assert missing.status_code == 400 and missing.json()["status"] == "failure"


def test_fault_rules(asgi_request):
    rule = {"method": "GET", "path": "/api/now/table/sys_user_group", "status": 503, "times": 1}
    added = conforms(asgi_request(app, "POST", "/_sim/faults", headers=ADMIN, json=rule), "POST", "/_sim/faults")
    assert added.status_code == 201
    faulted = asgi_request(app, "GET", "/api/now/table/sys_user_group", headers=ADMIN)
    assert faulted.status_code == 503 and faulted.json()["status"] == "failure"  # injected, on purpose
    assert asgi_request(app, "GET", "/api/now/table/sys_user_group", headers=ADMIN).status_code == 200
    bad = conforms(asgi_request(app, "POST", "/_sim/faults", headers=ADMIN, json={"path": "^("}), "POST", "/_sim/faults")
    assert bad.status_code == 400
    removed = asgi_request(app, "DELETE", f"/_sim/faults/{added.json()['id']}", headers=ADMIN)
    assert conforms(removed, "DELETE", "/_sim/faults/{rule_id}").status_code == 200
    again = asgi_request(app, "DELETE", f"/_sim/faults/{added.json()['id']}", headers=ADMIN)
    assert conforms(again, "DELETE", "/_sim/faults/{rule_id}").status_code == 404


def test_longest_query_is_answered(asgi_request):
    """The longest sysparm_query the document allows (32,000 characters) is parsed and answered."""
    response = asgi_request(app, "GET", "/api/now/table/incident", headers=ADMIN,
                            params={"sysparm_query": "0" * 32_000})
    assert conforms(response, "GET", "/api/now/table/{table}").status_code == 200
