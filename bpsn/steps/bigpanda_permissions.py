"""Binds features/bigpanda_permissions.feature: the five BigPanda permissions the v3 app doc requires
of the integration's user, and what stops working without each. Roles are set through BigPanda's
/_sim admin API; what the core did is read from the simulators' journals and the core's own log,
so the same scenarios run against a remote stack."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pytest_bdd import given, parsers, then, when

from bpsn.harness.base import Harness
from bpsn.integration.clients.bigpanda import BigPandaError
from bpsn.integration.cmdb.enrichment_api import EnrichmentError

ALL_ROLE = "admin"  # the simulator's default role: every permission


def _roles_path(bpsn_bench: Harness) -> str:
    return f"/organizations/{bpsn_bench.organization}/roles"


def _access(bpsn_bench: Harness) -> dict[str, Any]:
    return dict(bpsn_bench.admins["bigpanda"].call("GET", _roles_path(bpsn_bench)))


def _integration_user(bpsn_bench: Harness, access: dict[str, Any]) -> str:
    """The email of the user whose API key the core uses (the roles view names keys by their last 6
    characters, as the journal does)."""
    suffix = bpsn_bench.credentials.bigpanda_user_api_key[-6:]
    found = [email for email, user in access["users"].items() if suffix in user["api_keys"]]
    assert len(found) == 1, f"no single BigPanda user holds the integration's API key: {found}"
    return found[0]


def _core_403s(bpsn_bench: Harness, bpsn_context: dict[str, Any], path_part: str) -> list[Any]:
    since = bpsn_context.get("permission_mark", 0)
    return [r for r in bpsn_bench.core_requests("bigpanda", since) if path_part in r.path and r.status == 403]


@pytest.fixture
def bpsn_core_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """What the core logs (it runs in this process, whichever stack the simulators run on)."""
    caplog.set_level(logging.INFO, logger="bpsn.integration")
    return caplog


@given(parsers.parse('the integration\'s BigPanda user has every permission but "{permission}"'))
def every_permission_but(bpsn_bench: Harness, bpsn_context: dict[str, Any], bpsn_core_log: Any,
                         permission: str) -> None:
    access = _access(bpsn_bench)
    assert permission in access["permissions"], f"{permission!r} is not one of {access['permissions']}"
    lean = f"without {permission}"
    roles = {**access["roles"], lean: [p for p in access["permissions"] if p != permission]}
    user_roles = {**access["user_roles"], _integration_user(bpsn_bench, access): [lean]}
    bpsn_bench.admins["bigpanda"].call("PUT", _roles_path(bpsn_bench), json={"roles": roles, "user_roles": user_roles})
    bpsn_context["permission_mark"] = bpsn_bench.journal_marks()[1]


@when("the integration's BigPanda user is given every permission")
def given_every_permission(bpsn_bench: Harness) -> None:
    user = _integration_user(bpsn_bench, _access(bpsn_bench))
    bpsn_bench.admins["bigpanda"].call("PUT", f"/organizations/{bpsn_bench.organization}/users/{user}/roles",
                                       json={"roles": [ALL_ROLE]})


@when("the core tries to poll BigPanda")
def core_tries_to_poll(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    try:
        bpsn_context["report"] = bpsn_bench.poll()
        bpsn_context["poll_error"] = None
    except BigPandaError as exc:
        bpsn_context["report"], bpsn_context["poll_error"] = None, exc


@then("the integration's BigPanda user has the permissions")
def has_permissions(bpsn_bench: Harness, datatable: list[list[str]]) -> None:
    access = _access(bpsn_bench)
    wanted = [row[0] for row in datatable[1:]]
    assert access["users"][_integration_user(bpsn_bench, access)]["permissions"] == wanted


@then(parsers.parse('the core\'s poll was refused with 403 naming "{permission}"'))
def poll_refused(bpsn_context: dict[str, Any], permission: str) -> None:
    error = bpsn_context["poll_error"]
    assert isinstance(error, BigPandaError) and error.status_code == 403, error
    assert f"'{permission}'" in str(error), str(error)


@then("BigPanda still holds the incident's share")
def share_still_pending(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    assert bpsn_bench.bigpanda_views.pending_share(bpsn_context["incident_id"])["incident_id"] == \
        bpsn_context["incident_id"]


@then(parsers.parse('BigPanda answered the core\'s "{path_part}" requests with 403'))
def answered_403(bpsn_bench: Harness, bpsn_context: dict[str, Any], path_part: str) -> None:
    assert _core_403s(bpsn_bench, bpsn_context, path_part), \
        [r.describe() for r in bpsn_bench.core_requests("bigpanda", bpsn_context.get("permission_mark", 0))]


@then(parsers.parse('the core reported that BigPanda refused it for want of "{permission}"'))
def core_reported(bpsn_core_log: pytest.LogCaptureFixture, permission: str) -> None:
    lines = [r.getMessage() for r in bpsn_core_log.records if r.name.startswith("bpsn.integration")]
    assert any("403" in line and f"'{permission}'" in line for line in lines), lines


@when("the CMDB sync tries to run")
def cmdb_tries(bpsn_bench: Harness, bpsn_cmdb: Any, bpsn_context: dict[str, Any]) -> None:
    assert bpsn_cmdb.sync is not None
    try:
        bpsn_cmdb.report = bpsn_bench.run(bpsn_cmdb.sync.sync_cycle())
        bpsn_context["cmdb_error"] = None
    except EnrichmentError as exc:
        bpsn_context["cmdb_error"] = exc


@then(parsers.parse('the CMDB sync stopped on BigPanda\'s 403 naming "{permission}"'))
def cmdb_stopped(bpsn_context: dict[str, Any], permission: str) -> None:
    error = bpsn_context["cmdb_error"]
    assert isinstance(error, EnrichmentError), error
    assert "BigPanda answered 403" in str(error) and f"'{permission}'" in str(error), str(error)


@then("BigPanda has no enrichment map")
def no_enrichment_map(bpsn_bench: Harness) -> None:
    r = bpsn_bench.operator_client.get("/resources/v2.1/mapping-enrichment")
    assert r.status_code == 200 and r.json()["maps"] == [], r.text
