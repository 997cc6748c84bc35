"""Shared pieces of the schemathesis contract tests (both simulators, in-process)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from bpsn.testing import call_asgi

# /_sim/wait long-polls until its timeout when nothing matches: a fuzzed timeout of up to
# 120 s would stall the run, so valid timeouts are cut to this (invalid ones are left alone,
# they must still be rejected with 400).
WAIT_TIMEOUT = 0.01


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything in this folder carries the `contract` marker (pytest -m contract / -m "not contract")."""
    for item in items:
        if "tests/contract/" in item.nodeid:
            item.add_marker(pytest.mark.contract)


def shorten_wait(case: Any) -> None:
    """Cap the `timeout` of a /_sim/wait case (see WAIT_TIMEOUT); add one if the case has none."""
    if case.operation.path != "/_sim/wait":
        return
    if case.query is None:
        case.query = {}
    if not isinstance(case.query, dict):
        return
    value = case.query.get("timeout", WAIT_TIMEOUT)  # absent means the 10 s default
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return
    try:
        seconds = float(value)  # the coverage phase sends query values as strings
    except ValueError:
        return
    if 0 <= seconds <= 120:  # the documented range; anything else must still be rejected
        case.query["timeout"] = min(seconds, WAIT_TIMEOUT)


@pytest.fixture(scope="session")
def wait_shortener() -> Callable[[Any], None]:
    return shorten_wait


@pytest.fixture(scope="session")
def asgi_request() -> Callable[..., httpx.Response]:
    """A plain request against an ASGI app, outside schemathesis (httpx.ASGITransport)."""

    return call_asgi
