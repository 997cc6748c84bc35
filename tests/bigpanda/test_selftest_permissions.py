"""`bpsn selftest` names each BigPanda permission the integration's user lacks, what stops working
without it, and the fix; probing changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bpsn.base.clock import SimClock
from bpsn.integration.config.settings import ConnectionSettings
from bpsn.selftest import PERMISSION_PROBES, main
from bpsn.simulator.bigpanda.backend import BigPandaBackend
from bpsn.simulator.bigpanda.permissions import PERMISSIONS
from bpsn.simulator.bigpanda.settings import BigPandaSettings
from bpsn.simulator.servicenow.app import create_app as create_servicenow_app
from bpsn.simulator.servicenow.backend import ServiceNowBackend
from bpsn.testing import BP_URL, SN_URL


@pytest.fixture(scope="module")
def apps(shared_bigpanda: tuple[BigPandaBackend, Any]) -> Iterator[tuple[BigPandaBackend, Any, Any]]:
    bp, bp_app = shared_bigpanda  # the worker's simulator (conftest.py puts its settings back after the module)
    bp.settings = BigPandaSettings(base_url=BP_URL)
    bp.reset()
    sn = ServiceNowBackend(clock=SimClock.virtual())
    yield bp, bp_app, create_servicenow_app(sn)
    sn.store.close()


def selftest(apps: tuple[BigPandaBackend, Any, Any]) -> tuple[int, list[str]]:
    _, bp_app, sn_app = apps
    lines: list[str] = []
    code = main([], base=ConnectionSettings(bigpanda_url=BP_URL, servicenow_url=SN_URL),
                servicenow_transport=httpx.ASGITransport(app=sn_app),
                bigpanda_transport=httpx.ASGITransport(app=bp_app), echo=lines.append)
    return code, lines


def line_of(lines: list[str], check: str) -> tuple[str, str]:
    for i, line in enumerate(lines):
        if line.partition("  ")[2].startswith(check):
            return line, lines[i + 1] if i + 1 < len(lines) and "fix:" in lines[i + 1] else ""
    raise AssertionError(f"no {check!r} in {lines}")


def test_the_probes_cover_every_permission_the_doc_names() -> None:
    assert tuple(PERMISSION_PROBES) == PERMISSIONS


@pytest.mark.parametrize("missing", PERMISSIONS)
def test_a_missing_permission_is_named_with_its_fix(apps: tuple[BigPandaBackend, Any, Any], missing: str) -> None:
    bp = apps[0]
    bp.reset()
    org = bp.orgs["demo"]
    org.access.replace({"admin": list(PERMISSIONS), "lean": [p for p in PERMISSIONS if p != missing]},
                       {bp.settings.user_email: ["lean"]})
    code, lines = selftest(apps)
    check, fix = line_of(lines, "BigPanda permissions")
    assert code == 1 and check.startswith("FAIL")
    assert f"lacks {missing} ({PERMISSION_PROBES[missing][0]})" in check
    assert f"a role with {missing} (Settings > Roles Management)" in fix
    assert line_of(lines, "BigPanda bearer token")[0].startswith("PASS")
    assert line_of(lines, "BigPanda incidents app key")[0].startswith("SKIP" if missing == "Autoshare" else "PASS")
    assert not org.shares.acknowledged and not org.changes.relations  # the probes changed nothing


def test_all_permissions_pass(apps: tuple[BigPandaBackend, Any, Any]) -> None:
    apps[0].reset()
    code, lines = selftest(apps)
    assert code == 0, lines
    assert line_of(lines, "BigPanda permissions")[0].startswith("PASS")
