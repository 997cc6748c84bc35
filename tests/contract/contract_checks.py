"""What both simulators' contract tests share: every schemathesis check, and how a test may
steer a generated case without hiding what schemathesis meant to test."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import schemathesis
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.core.parameters import ParameterLocation

load_all_checks()
# Every check schemathesis has (`st run --checks all`): the response checks, positive and negative
# data, auth, the stateful ones (they act only in a state machine run) and object-level
# authorization (it acts only when identities are configured). max_response_time is not a check
# of its own until a limit is configured, and we set none: timing is the load tests' business.
ALL_CHECKS = CHECKS.get_all()
ALL_CHECK_NAMES = CHECKS.get_all_names()


_DEFAULTS = schemathesis.Config().projects.default.checks
# schemathesis' own lists: a valid request may get 2xx, 3xx, 401, 403, 404, 409, 429, 5xx; an
# invalid one 400, 401, 403, 404, 405, 406, 409, 415, 422, 428, 429, 5xx (5xx then fails
# not_a_server_error). Both simulators also refuse an oversized body with 413.
ACCEPTED = list(_DEFAULTS.positive_data_acceptance.expected_statuses)
REJECTED = [*_DEFAULTS.negative_data_rejection.expected_statuses, "413"]


VALID, INVALID = "positive_data_acceptance", "negative_data_rejection"


@dataclass(frozen=True)
class Allowed:
    """One more status the named operations may answer, for one check: by default a schema-valid
    request the real API refuses on its meaning (a grammar, a reference or a state the document
    cannot express). Narrow on purpose: these operations, this status, nothing else changes."""

    operations: tuple[str, ...]  # "METHOD /path" as in the document
    status: int
    why: str
    check: str = VALID


def config(allowed: list[Allowed], coverage: bool) -> Any:
    """A schemathesis config with the allowances as per-operation expected statuses."""
    extra: dict[str, dict[str, set[str]]] = {}
    for allowance in allowed:
        for operation in allowance.operations:
            extra.setdefault(operation, {}).setdefault(allowance.check, set()).add(str(allowance.status))
    base = {VALID: ACCEPTED, INVALID: REJECTED}
    return schemathesis.Config.from_dict({
        "phases": {"coverage": {"enabled": coverage}},
        "checks": {INVALID: {"expected-statuses": REJECTED}},
        "operations": [{"include-name": operation, "checks": {
            check: {"expected-statuses": [*base[check], *sorted(statuses)]} for check, statuses in checks.items()}}
            for operation, checks in extra.items()]})


def undocumented(document: dict[str, Any], allowed: list[Allowed]) -> list[str]:
    """Allowances whose status an operation does not document (or that name no operation)."""
    missing = []
    for allowance in allowed:
        for operation in allowance.operations:
            method, _, path = operation.partition(" ")
            declared = document["paths"].get(path, {}).get(method.lower(), {}).get("responses", {})
            if str(allowance.status) not in declared:
                missing.append(f"{operation}: {allowance.status}")
    return missing


def only(schema: Any, path_regex: str, method: str | None = None) -> Any:
    """`schema.include(path_regex=..., method=...)` that survives per-operation config:
    schemathesis 4.32.5 ORs an include with the `operations` config's own filter (so it selects
    everything), while excludes are ANDed."""
    pattern = re.compile(path_regex)
    return schema.exclude(lambda ctx: not pattern.search(ctx.operation.path)
                          or (method is not None and ctx.operation.method.upper() != method.upper()))


def may_steer(case: Any, location: ParameterLocation) -> bool:
    """Whether a test may aim this part of the case at real data: always in a valid case, and in
    an invalid one only where it is not the invalid part (which must reach the server as drawn)."""
    meta = case.meta
    return meta is None or not meta.generation.mode.is_negative or not meta.is_negative_at(location)


def authorize(case: Any, headers: dict[str, str]) -> dict[str, str]:
    """The credentials to send with this case, also put in the case in place of any drawn header
    of the same name, so schemathesis judges the headers that were really sent. Pass the result
    as `headers=` too: schemathesis then knows the credentials are the caller's, and its
    ignored_auth check probes without them. A case whose invalid part is its headers (a missing
    or malformed Authorization) is sent as drawn, with no credentials: it must be refused."""
    if not may_steer(case, ParameterLocation.HEADER):
        return {}
    names = {name.lower() for name in headers}
    drawn = case.headers if isinstance(case.headers, dict) else {}
    case.headers = {**{k: v for k, v in drawn.items() if k.lower() not in names}, **headers}
    return headers
