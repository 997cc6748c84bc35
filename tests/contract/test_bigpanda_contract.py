"""Contract tests: the BigPanda simulator against its own OpenAPI document, in-process.

No server errors, no response that breaks its declared schema, content type or headers, no
undocumented status; with the token each API takes, and without one.

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
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    ignored_auth,
    missing_required_header,
    unsupported_method,
)

from simulator.bigpanda.app import create_app
from simulator.bigpanda.backend import BigPandaBackend
from simulator.bigpanda.settings import BigPandaSettings

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
schema = schemathesis.openapi.from_asgi("/openapi.json", app)  # examples, coverage, fuzzing
light = schemathesis.openapi.from_asgi("/openapi.json", app,  # examples, fuzzing
                                       config=schemathesis.Config.from_dict({"phases": {"coverage": {"enabled": DEEP}}}))

S = backend.settings
ORG_TOKEN_PATHS = ("/data/v2/alerts", "/oim/api/alerts", "/configurations/alerts/oim/", "/resources/v1.0/")
APP_KEYS = {"/data/v2/alerts": S.alerts_app_key, "/oim/api/alerts": S.oim_app_key, "/data/changes": S.changes_app_key}


def credentials(case: Any) -> dict[str, str]:
    """The token each API takes (the org token for ingestion, OIM and the v1.0 APIs, else the
    user API key) and the app key it wants when the request names none."""
    path = case.operation.path
    token = S.org_token if path.startswith(ORG_TOKEN_PATHS) else S.user_api_key
    app_key = next((key for prefix, key in APP_KEYS.items() if path.startswith(prefix)), S.incidents_app_key)
    return {"Authorization": f"Bearer {token}", "x-bp-app-key": app_key}


# The contract: no server errors, no undocumented status, no response that breaks its
# schema, and the declared content types and headers are what is sent. Status conformance skips
# the coverage phase's unexpected methods (TRACE, OPTIONS, ...), so two more checks hold those
# to a 405 whose Allow header lists the path's methods.
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance,
          content_type_conformance, response_headers_conformance, unsupported_method, allow_header_conformance,
          missing_required_header, ignored_auth]  # no required header goes unchecked, no credential unchecked
BOUNDED = settings(max_examples=40 if DEEP else 4, deadline=None, suppress_health_check=list(HealthCheck))

# Kept out of fuzzing, covered by the plain tests at the end: the resets wipe an organization
# or all of them; a fault rule or a rate limit makes the simulator misbehave on purpose.
# Snapshots write files where a fuzzed path says and fixtures replace organizations: both are
# checked against the document in tests/bigpanda/test_snapshots_fixtures.py.
rest = light.exclude(path_regex=CORE).exclude(path_regex=r"^/_sim/(reset|organizations/\{name\}/reset)$") \
    .exclude(path_regex=r"^/_sim/(snapshot/.*|fixtures)$") \
    .exclude(path="/_sim/faults", method="POST").exclude(path="/_sim/organizations/{name}/rate-limits", method="PUT")

# Fuzzed ids never name a real incident, and a fuzzed alert is almost never valid. Most cases
# are aimed at real incidents, and most alert bodies that are objects are laid over a valid
# alert (the fuzzed fields win), so lookups, renders and correlation run for real. The choice
# is derived from the generated values: reproducible.
VALID_ALERT = {"status": "critical", "host": "contract-host", "check": "contract check",
               "description": "seeded by the contract tests"}
for n, status in enumerate(("critical", "warning", "ok")):
    backend.ingest(backend.resolve_token(S.org_token),
                   {**VALID_ALERT, "app_key": S.alerts_app_key, "host": f"contract-host-{n}", "status": status})


def aim(case: Any) -> None:
    org = backend.orgs.get(S.organization)
    incidents = list(org.incidents.values()) if org else []
    params = case.path_parameters if isinstance(case.path_parameters, dict) else {}
    query = case.query if isinstance(case.query, dict) else {}
    key = zlib.crc32(repr(sorted(params.items())).encode() + repr(sorted(query.items(), key=str)).encode())
    if isinstance(params.get("incident_id"), str) and key % 4 and incidents:
        incident = incidents[key % len(incidents)]
        params["incident_id"] = incident.id
        if isinstance(params.get("environment_id"), str) and key % 3 and incident.environments:
            params["environment_id"] = incident.environments[0]
    if case.operation.path == "/_sim/wait" and key % 4 and incidents:
        if isinstance(query.get("incident_id"), str):
            query["incident_id"] = incidents[key % len(incidents)].id
        elif isinstance(query.get("alert_id"), str):
            query["alert_id"] = incidents[key % len(incidents)].alert_ids[0]
    if case.operation.path in ("/data/v2/alerts", "/oim/api/alerts") and isinstance(case.body, dict) and key % 3:
        body = case.body
        if isinstance(body.get("alerts"), list):
            body["alerts"] = [{**VALID_ALERT, **a} if isinstance(a, dict) else a for a in body["alerts"]]
        else:
            case.body = {**VALID_ALERT, **body}


@schema.include(path_regex=CORE).parametrize()
@BOUNDED
def test_integration_apis_conform(case):
    aim(case)
    case.call_and_validate(headers=credentials(case), checks=CHECKS)


@rest.parametrize()
@settings(BOUNDED, max_examples=40 if DEEP else 3)
def test_other_operations_conform(case, wait_shortener):
    aim(case)
    wait_shortener(case)
    case.call_and_validate(headers=credentials(case), checks=CHECKS)


@schema.include(path_regex=CORE).parametrize()
@settings(BOUNDED, max_examples=2, phases=[Phase.generate])
def test_unauthenticated_is_documented(case):
    """No token: the integration's APIs answer 401, and document it."""
    response = case.call()
    case.validate_response(response, checks=[status_code_conformance])
    if case.meta.generation.mode.is_positive:  # negative data may be refused before auth
        assert response.status_code == 401, response.text


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


def test_organization_reset(asgi_request):
    sent = _send_alert(asgi_request, "wiped-by-org-reset")
    url = f"/resources/v2.0/environments/{S.environment}/incidents/{sent['incident_id']}"
    user = {"Authorization": f"Bearer {S.user_api_key}"}
    assert asgi_request(app, "GET", url, headers=user).status_code == 200
    path = "/_sim/organizations/{name}/reset"
    reset = conforms(asgi_request(app, "POST", f"/_sim/organizations/{S.organization}/reset"), "POST", path)
    assert reset.status_code == 200 and reset.json() == {"status": "ok"}
    assert asgi_request(app, "GET", url, headers=user).status_code == 404
    unknown = conforms(asgi_request(app, "POST", "/_sim/organizations/no-such-org/reset"), "POST", path)
    assert unknown.status_code == 404 and unknown.json()["status"] == 404


def test_reset(asgi_request):
    sent = _send_alert(asgi_request, "wiped-by-reset")
    reset = conforms(asgi_request(app, "POST", "/_sim/reset"), "POST", "/_sim/reset")
    assert reset.status_code == 200 and reset.json() == {"status": "ok"}
    gone = asgi_request(app, "GET", f"/resources/v1.0/incidents/{sent['incident_id']}",
                        headers={"Authorization": f"Bearer {S.org_token}"})
    assert gone.status_code == 404
    assert asgi_request(app, "GET", "/_sim/health").json()["ready"] is True


def test_fault_rules(asgi_request):
    rule = {"method": "GET", "path": "/integrations/v3/servicenow/shares", "status": 503, "times": 1}
    added = conforms(asgi_request(app, "POST", "/_sim/faults", json=rule), "POST", "/_sim/faults")
    assert added.status_code == 201
    user = {"Authorization": f"Bearer {S.user_api_key}", "x-bp-app-key": S.incidents_app_key}
    faulted = asgi_request(app, "GET", "/integrations/v3/servicenow/shares", headers=user)
    assert faulted.status_code == 503 and faulted.json()["status"] == 503  # injected, on purpose
    assert asgi_request(app, "GET", "/integrations/v3/servicenow/shares", headers=user).status_code == 200
    bad = conforms(asgi_request(app, "POST", "/_sim/faults", json={"path": "^("}), "POST", "/_sim/faults")
    assert bad.status_code == 400
    removed = asgi_request(app, "DELETE", f"/_sim/faults/{added.json()['id']}")
    assert conforms(removed, "DELETE", "/_sim/faults/{rule_id}").status_code == 200
    again = asgi_request(app, "DELETE", f"/_sim/faults/{added.json()['id']}")
    assert conforms(again, "DELETE", "/_sim/faults/{rule_id}").status_code == 404


def test_rate_limit_answer_conforms(asgi_request):
    """A 429 carries the documented body and Retry-After header."""
    path = "/_sim/organizations/{name}/rate-limits"
    url = f"/_sim/organizations/{S.organization}/rate-limits"
    before = conforms(asgi_request(app, "GET", url), "GET", path).json()
    tight = conforms(asgi_request(app, "PUT", url, json={**before, "enabled": True, "per_second": 1}), "PUT", path)
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
        assert asgi_request(app, "PUT", url, json=before).status_code == 200
