"""Contract tests: the BigPanda simulator against its own OpenAPI document, in-process.

Every schemathesis check (contract_checks.ALL_CHECKS): no server errors, no response that breaks
its declared schema, content type or headers, no undocumented status, schema-valid requests
accepted and schema-invalid ones refused; with the token each API takes, and without one; and a
stateful run over maintenance plans and CMDB mapping tables (through OpenAPI links).

Bounded for CI: every operation gets its examples and a few fuzzed cases; the APIs the
integration lives on (alerts, incidents V1 / V2, ServiceNow sharing) also get schemathesis'
coverage phase (boundaries, unexpected methods, missing and malformed values).
BPSN_CONTRACT_DEEP=1 runs the coverage phase everywhere and fuzzes ten times longer.
"""

from __future__ import annotations

import os
import zlib
from typing import Any

import httpx
import pytest
import schemathesis
from contract_checks import ALL_CHECKS, INVALID, Allowed, authorize, config, may_steer, only, undocumented
from hypothesis import HealthCheck, Phase, settings
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import status_code_conformance

from bpsn.simulator.bigpanda.app import create_app
from bpsn.simulator.bigpanda.backend import BigPandaBackend
from bpsn.simulator.bigpanda.settings import BigPandaSettings

DEEP = os.environ.get("BPSN_CONTRACT_DEEP") == "1"
CORE = (r"^/(data/v2/alerts|resources/v1\.0/incidents/\{incident_id\}"  # the integration's own calls
        r"|resources/v2\.0/environments/\{environment_id\}/incidents/\{incident_id\}"
        r"|integrations/v3/servicenow/(shares|callbacks))$")

# Rate limits off: at 5 requests a second per token nearly every fuzzed call would be a 429.
# The 429 itself is checked once, in test_rate_limit_answer_conforms.
backend = BigPandaBackend(BigPandaSettings(rate_limit_enabled=False))
# Push mode posts to whatever URL the (fuzzed) /_sim push routes set: answer in-process, never
# on the network.
backend.pusher.client = httpx.AsyncClient(transport=httpx.MockTransport(lambda request: httpx.Response(200, json={})))
app = create_app(backend)

# Narrow exceptions: schema-valid requests BigPanda refuses on their meaning (and one wire quirk), each
# with why; every status is documented on its operations (test_allowances_are_documented).
INCIDENT = "/resources/v2.0/environments/{environment_id}/incidents/{incident_id}"
PLANS = "/resources/v2.0/maintenance-plans"
MAPPINGS = "/resources/v2.1/mapping-enrichment"
ROW_PATCHES = ("PATCH /resources/v1.0/enrichments/{enrichment_id}/map",
               "PATCH /resources/v2.1/mapping-enrichment/{mapping_id}/map")
ALLOWED = [
    Allowed(("POST /data/v2/alerts",), 400, "an alert needs a non-empty primary property (host, service, "
            "application, device, or the tag primary_property names) and an app_key naming one of the "
            "organization's integrations: facts about its tags and the organization"),
    Allowed(("GET /resources/v2.0/environments/{environment_id}/incidents",), 400,
            "a BPQL query off its grammar, or expand=alerts with page_size over 10"),
    Allowed(("POST /resources/v2.0/environments", "PATCH /resources/v2.0/environments/{environment_id}",
             "PUT /_sim/organizations/{name}/correlation-patterns"), 400, "a BPQL filter off its grammar"),
    Allowed((f"PUT {INCIDENT}/snooze",), 400,
            "end_time must lie ahead of the (simulator) clock by less than 90 days, on an active incident"),
    Allowed((f"DELETE {INCIDENT}/assignment",), 400, "the incident is not assigned"),
    Allowed((f"POST {INCIDENT}/merge",), 400, "an incident merged into itself, or a merge over 300 alerts"),
    Allowed((f"POST {INCIDENT}/split",), 400, "alerts that are not in the incident, or a split leaving it none"),
    Allowed((f"POST {INCIDENT}/tags", f"POST {INCIDENT}/tags/{{tag_id}}"), 400,
            "a tag_id that names no tag definition (bulk form), or values a closed-list tag does not take"),
    Allowed(("POST /data/changes",), 400, "end before start"),
    Allowed(("GET /resources/v2.0/changes",), 400, "a cursor from another query, or a time frame that ends "
                                                   "before it starts"),
    Allowed((f"POST {PLANS}", f"PATCH {PLANS}/{{plan_id}}"), 400, "end not after start, a time zone that is not "
            "an IANA name, a condition off the BPQL object grammar, or the plan limit reached"),
    Allowed(ROW_PATCHES, 400, "create of an existing row, update or delete of a missing one"),
    Allowed(("POST /resources/v1.0/enrichments/{enrichment_id}/map",), 202, check=INVALID,
            why="a text/csv body is bytes: a drawn non-string body reaches the server as text, a CSV to "
                "parse, and a CSV that does not parse fails its job (202, then `failed`), as BigPanda's does"),
]
schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config(ALLOWED, coverage=True))
light = schemathesis.openapi.from_asgi("/openapi.json", app, config=config(ALLOWED, coverage=DEEP))  # fuzzing only

S = backend.settings
ORG_TOKEN_PATHS = ("/data/v2/alerts", "/oim/api/alerts", "/configurations/alerts/oim/", "/resources/v1.0/")
APP_KEYS = {"/data/v2/alerts": S.alerts_app_key, "/oim/api/alerts": S.oim_app_key, "/data/changes": S.changes_app_key}


ADMIN = {"Authorization": f"Bearer {S.admin_token.get_secret_value()}"}


def credentials(case: Any) -> dict[str, str]:
    """The token each API takes (the admin token for /_sim, the org token for ingestion, OIM and
    the v1.0 APIs, else the user API key) and the app key it wants when the request names none."""
    path = case.operation.path
    token = S.org_token if path.startswith(ORG_TOKEN_PATHS) else S.user_api_key
    if path.startswith("/_sim/"):
        token = S.admin_token.get_secret_value()
    app_key = next((key for prefix, key in APP_KEYS.items() if path.startswith(prefix)), S.incidents_app_key)
    return {"Authorization": f"Bearer {token}", "x-bp-app-key": app_key}


CHECKS = ALL_CHECKS
BOUNDED = settings(max_examples=40 if DEEP else 4, deadline=None, suppress_health_check=list(HealthCheck))

# Kept out of fuzzing, covered by the plain tests at the end: the resets wipe an organization
# or all of them. Snapshots write files where a fuzzed path says and fixtures replace
# organizations: both are checked against the document in tests/bigpanda/test_snapshots_fixtures.py.
# A fault rule or a rate limit makes the simulator misbehave on purpose: they are fuzzed on their
# own below, each undone at once.
FAULTS, RATE_LIMITS = "/_sim/faults", "/_sim/organizations/{name}/rate-limits"
rest = light.exclude(path_regex=CORE).exclude(path_regex=r"^/_sim/(reset|organizations/\{name\}/reset)$") \
    .exclude(path_regex=r"^/_sim/(snapshot/.*|fixtures)$") \
    .exclude(path=FAULTS, method="POST").exclude(path=RATE_LIMITS, method="PUT")

# Fuzzed ids never name a real incident, and a fuzzed alert is almost never valid. Most cases
# are aimed at real incidents, and most alert bodies that are objects are laid over a valid
# alert (the fuzzed fields win), so lookups, renders and correlation run for real. The choice
# is derived from the generated values: reproducible.
VALID_ALERT = {"status": "critical", "host": "contract-host", "check": "contract check",
               "description": "seeded by the contract tests"}
for n, status in enumerate(("critical", "warning", "ok")):
    backend.ingest(backend.resolve_token(S.org_token),
                   {**VALID_ALERT, "app_key": S.alerts_app_key, "host": f"contract-host-{n}", "status": status})


def aim(case: Any) -> dict[str, str]:
    """Steer the valid parts of the case as described above; the credentials to send with it."""
    org = backend.orgs.get(S.organization)
    incidents = list(org.incidents.values()) if org else []
    params = case.path_parameters if isinstance(case.path_parameters, dict) else {}
    query = case.query if isinstance(case.query, dict) else {}
    key = zlib.crc32(repr(sorted(params.items())).encode() + repr(sorted(query.items(), key=str)).encode())
    if isinstance(params.get("incident_id"), str) and key % 4 and incidents and may_steer(case, ParameterLocation.PATH):
        incident = incidents[key % len(incidents)]
        params["incident_id"] = incident.id
        if isinstance(params.get("environment_id"), str) and key % 3 and incident.environments:
            params["environment_id"] = incident.environments[0]
    if case.operation.path == "/_sim/wait" and key % 4 and incidents and may_steer(case, ParameterLocation.QUERY):
        if isinstance(query.get("incident_id"), str):
            query["incident_id"] = incidents[key % len(incidents)].id
        elif isinstance(query.get("alert_id"), str):
            query["alert_id"] = incidents[key % len(incidents)].alert_ids[0]
    if case.operation.path in ("/data/v2/alerts", "/oim/api/alerts") and isinstance(case.body, dict) and key % 3 \
            and may_steer(case, ParameterLocation.BODY):
        body = case.body
        if isinstance(body.get("alerts"), list):
            body["alerts"] = [{**VALID_ALERT, **a} if isinstance(a, dict) else a for a in body["alerts"]]
        else:
            case.body = {**VALID_ALERT, **body}
    return authorize(case, credentials(case))


@only(schema, CORE).parametrize()
@BOUNDED
def test_integration_apis_conform(case):
    case.call_and_validate(headers=aim(case), checks=CHECKS)


@rest.parametrize()
@settings(BOUNDED, max_examples=40 if DEEP else 3)
def test_other_operations_conform(case, wait_shortener):
    headers = aim(case)
    wait_shortener(case)
    case.call_and_validate(headers=headers, checks=CHECKS)


@only(schema, CORE).parametrize()
@settings(BOUNDED, max_examples=2, phases=[Phase.generate])
def test_unauthenticated_is_documented(case):
    """No token: the integration's APIs answer 401, and document it."""
    response = case.call()
    case.validate_response(response, checks=[status_code_conformance])
    if case.meta.generation.mode.is_positive:  # negative data may be refused before auth
        assert response.status_code == 401, response.text


def test_allowances_are_documented():
    """Every narrow exception above is a status its operations document."""
    assert undocumented(app.openapi(), ALLOWED) == []


@only(light, f"^{FAULTS}$", method="POST").parametrize()
@settings(BOUNDED, max_examples=40 if DEEP else 6)
def test_fault_rules_conform(case):
    """Any drawn fault rule is refused or stored as sent; it is removed before it can act."""
    try:
        case.call_and_validate(headers=aim(case), checks=CHECKS)
    finally:
        backend.faults.clear()


@only(light, f"^{RATE_LIMITS}$", method="PUT").parametrize()
@settings(BOUNDED, max_examples=40 if DEEP else 6)
def test_rate_limit_changes_conform(case):
    """Drawn rate limits, most of them for the real organization; its limits are put back at once."""
    org = backend.orgs[S.organization]
    before = org.rate_limits
    if isinstance(case.path_parameters, dict) and zlib.crc32(repr(case.body).encode()) % 3 \
            and may_steer(case, ParameterLocation.PATH):
        case.path_parameters["name"] = S.organization
    try:
        case.call_and_validate(headers=aim(case), checks=CHECKS)
    finally:
        org.rate_limits = before


# --- stateful: maintenance plans and CMDB mapping tables, created, read, changed, deleted -----------

PLAN_WINDOW = 3600
VALID_CONDITION = {"=": ["host", "contract-host-0"]}


class ManagedResources(only(schema, rf"^({PLANS}|{MAPPINGS})(/|$)").as_state_machine()):
    """Follows the document's links from each create (simulator/bigpanda/openapi_links.py), with
    use_after_free and ensure_resource_availability among the checks."""

    def setup(self) -> None:
        # Each scenario starts from no plans and no mappings, so a replayed scenario meets the
        # same state (a mapping name is unique: a replay would otherwise get 409 the second time).
        org = backend.orgs[S.organization]
        org.maintenance.reset()
        org.enrichment.reset()

    def before_call(self, case: Any) -> None:
        # A drawn plan almost never has a BPQL condition, an IANA time zone and an end after its
        # start all at once; most valid creates get them, so there are plans to follow links to.
        body = case.body
        if case.method == "POST" and case.operation.path == PLANS and isinstance(body, dict) \
                and isinstance(body.get("start"), int) and may_steer(case, ParameterLocation.BODY) \
                and zlib.crc32(repr(body).encode()) % 4:
            case.body = {**body, "condition": VALID_CONDITION, "time_zone": "UTC",
                         "end": max(body.get("end") or 0, body["start"] + PLAN_WINDOW)}

    def get_call_kwargs(self, case: Any) -> dict[str, Any]:
        return {"headers": aim(case)}

    def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
        case.validate_response(response, checks=CHECKS, headers=kwargs.get("headers"),
                               transport_kwargs=kwargs or None, recorder=self.recorder)


TestManagedResources = ManagedResources.TestCase
TestManagedResources.settings = settings(max_examples=40 if DEEP else 15, stateful_step_count=4, deadline=None,
                                         suppress_health_check=list(HealthCheck))


# --- the operations kept out of fuzzing, each called once and checked against the document ------

def conforms(response: Any, method: str, path: str) -> Any:
    """Validate a plain httpx response against the operation it called (status, schema, headers)."""
    schema[path][method].validate_response(response)
    return response


def _send_alert(asgi_request: Any, host: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {S.org_token}"}
    response = asgi_request(app, "POST", "/data/v2/alerts", headers=headers,
                            json={**VALID_ALERT, "app_key": S.alerts_app_key, "host": host})
    assert response.status_code == 201, response.text
    return response.json()["alerts"][0]


def _state(asgi_request: Any, path: str, headers: dict[str, str] | None = None) -> Any:
    response = asgi_request(app, "GET", path, headers=headers or {})
    assert response.status_code == 200, response.text
    return response.json()


USER = {"Authorization": f"Bearer {S.user_api_key}", "x-bp-app-key": S.changes_app_key}
CHANGES = "/resources/v2.0/changes?start_time_frame=0&end_time_frame=99999999999"
PATTERNS = "/_sim/organizations/{name}/correlation-patterns"
CHANGE = {"identifier": "CHG-STRICT", "status": "Planned", "summary": "strict types", "start": 1_767_225_600}


@pytest.mark.parametrize(("method", "path", "body", "read", "headers"), [
    ("POST", "/data/changes", {**CHANGE, "start": False}, CHANGES, USER),
    ("POST", "/data/changes", {**CHANGE, "start": "1767225600"}, CHANGES, USER),
    ("PUT", PATTERNS, [{"id": "p", "tags": ["host"], "window": 60, "active": 0}], PATTERNS, ADMIN),
    ("POST", FAULTS, {"table": ""}, FAULTS, ADMIN),
    ("POST", FAULTS, {"method": "GET", "times": True}, FAULTS, ADMIN),
])
def test_schema_invalid_bodies_are_refused(asgi_request, method, path, body, read, headers):
    """A body its schema calls invalid (a boolean or a string for a number, 0 for a boolean, an
    empty name) is a 400 in BigPanda's error body, and changes nothing."""
    url, read = (x.replace("{name}", S.organization) for x in (path, read))
    before = _state(asgi_request, read, headers)
    refused = conforms(asgi_request(app, method, url, headers=headers, json=body), method, path)
    assert refused.status_code == 400 and refused.json()["status"] == 400, refused.text
    assert _state(asgi_request, read, headers) == before


def test_a_parameter_sent_twice_is_refused(asgi_request):
    """A query parameter the document declares once, sent twice, is a 400, not a silent pick."""
    user = {"Authorization": f"Bearer {S.user_api_key}", "x-bp-app-key": S.incidents_app_key}
    twice = asgi_request(app, "GET", "/integrations/v3/servicenow/shares?limit=1&limit=2", headers=user)
    assert conforms(twice, "GET", "/integrations/v3/servicenow/shares").status_code == 400
    assert twice.json()["errors"] == ["query.limit: given more than once; send it once"]


def test_organization_reset(asgi_request):
    sent = _send_alert(asgi_request, "wiped-by-org-reset")
    url = f"/resources/v2.0/environments/{S.environment}/incidents/{sent['incident_id']}"
    user = {"Authorization": f"Bearer {S.user_api_key}"}
    assert asgi_request(app, "GET", url, headers=user).status_code == 200
    path = "/_sim/organizations/{name}/reset"
    reset = conforms(asgi_request(app, "POST", f"/_sim/organizations/{S.organization}/reset", headers=ADMIN), "POST", path)
    assert reset.status_code == 200 and reset.json() == {"status": "ok"}
    assert asgi_request(app, "GET", url, headers=user).status_code == 404
    unknown = conforms(asgi_request(app, "POST", "/_sim/organizations/no-such-org/reset", headers=ADMIN), "POST", path)
    assert unknown.status_code == 404 and unknown.json()["status"] == 404


def test_reset(asgi_request):
    sent = _send_alert(asgi_request, "wiped-by-reset")
    reset = conforms(asgi_request(app, "POST", "/_sim/reset", headers=ADMIN), "POST", "/_sim/reset")
    assert reset.status_code == 200 and reset.json() == {"status": "ok"}
    gone = asgi_request(app, "GET", f"/resources/v1.0/incidents/{sent['incident_id']}",
                        headers={"Authorization": f"Bearer {S.org_token}"})
    assert gone.status_code == 404
    assert asgi_request(app, "GET", "/_sim/health").json()["ready"] is True


def test_fault_rules(asgi_request):
    rule = {"method": "GET", "path": "/integrations/v3/servicenow/shares", "status": 503, "times": 1}
    added = conforms(asgi_request(app, "POST", "/_sim/faults", json=rule, headers=ADMIN), "POST", "/_sim/faults")
    assert added.status_code == 201
    user = {"Authorization": f"Bearer {S.user_api_key}", "x-bp-app-key": S.incidents_app_key}
    faulted = asgi_request(app, "GET", "/integrations/v3/servicenow/shares", headers=user)
    assert faulted.status_code == 503 and faulted.json()["status"] == 503  # injected, on purpose
    assert asgi_request(app, "GET", "/integrations/v3/servicenow/shares", headers=user).status_code == 200
    bad = conforms(asgi_request(app, "POST", "/_sim/faults", json={"path": "^("}, headers=ADMIN), "POST", "/_sim/faults")
    assert bad.status_code == 400 and "regular expression" in bad.json()["errors"][0]
    removed = asgi_request(app, "DELETE", f"/_sim/faults/{added.json()['id']}", headers=ADMIN)
    assert conforms(removed, "DELETE", "/_sim/faults/{rule_id}").status_code == 200
    again = asgi_request(app, "DELETE", f"/_sim/faults/{added.json()['id']}", headers=ADMIN)
    assert conforms(again, "DELETE", "/_sim/faults/{rule_id}").status_code == 404


def test_rate_limit_answer_conforms(asgi_request):
    """A 429 carries the documented body and Retry-After header."""
    path = "/_sim/organizations/{name}/rate-limits"
    url = f"/_sim/organizations/{S.organization}/rate-limits"
    before = conforms(asgi_request(app, "GET", url, headers=ADMIN), "GET", path).json()
    tight = conforms(asgi_request(app, "PUT", url, json={**before, "enabled": True, "per_second": 1}, headers=ADMIN), "PUT", path)
    assert tight.status_code == 200
    try:
        user = {"Authorization": f"Bearer {S.user_api_key}"}
        incident = f"/resources/v2.0/environments/{S.environment}/incidents/no-such-incident"
        answers = [asgi_request(app, "GET", incident, headers=user) for _ in range(3)]
        limited = [r for r in answers if r.status_code == 429]
        assert limited, [r.status_code for r in answers]
        conforms(limited[0], "GET", "/resources/v2.0/environments/{environment_id}/incidents/{incident_id}")
        assert int(limited[0].headers["Retry-After"]) >= 1
    finally:
        assert asgi_request(app, "PUT", url, json=before, headers=ADMIN).status_code == 200
