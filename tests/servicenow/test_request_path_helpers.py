"""The helpers a Table API request goes through instead of slower equivalents: each gives the
answer of what it replaces (Starlette's request.headers.get, Journal.record, one _header per name)."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from bpsn.simulator.common.journal import Journal
from bpsn.simulator.common.middleware import SERVICENOW, BIGPANDA, RequestLimits, _header
from bpsn.simulator.common.scope_headers import request_header
from bpsn.simulator.servicenow.records.statements import Statements

HEADER_LISTS = [
    [],
    [(b"content-type", b"application/json"), (b"authorization", b"Basic YWRtaW46YWRtaW4=")],
    [(b"Content-Type", b"text/plain"), (b"content-type", b"application/json; charset=utf-8")],
    [(b"authorization", b""), (b"authorization", b"Bearer x"), (b"x-no-response-body", b"true")],
    [(b"content-length", b" 12 "), (b"transfer-encoding", b"chunked"), (b"x-auth-token", b"\xe9t\xe9")],
    [(b"AUTHORIZATION", b"Basic abc"), (b"Content-Length", b"0"), (b"X-Bpsn-Admin-Token", b"t")],
    [(b"content-length", b"abc"), (b"content-length", b"5"), (b"x-auth-token", b"  ")],
]


def _request(headers: list[tuple[bytes, bytes]]) -> Request:
    return Request({"type": "http", "method": "POST", "path": "/api/now/table/incident", "headers": headers,
                    "query_string": b""})


@pytest.mark.parametrize("headers", HEADER_LISTS)
@pytest.mark.parametrize("name", ["content-type", "authorization", "x-no-response-body", "content-length"])
def test_request_header_answers_as_starlette_headers(headers: list[tuple[bytes, bytes]], name: str) -> None:
    assert request_header(_request(headers), name) == _request(headers).headers.get(name)
    assert request_header(_request(headers), name, "") == _request(headers).headers.get(name, "")


@pytest.mark.parametrize("preset", [SERVICENOW, BIGPANDA])
@pytest.mark.parametrize("headers", HEADER_LISTS)
def test_request_limits_read_each_header_as_one_walk_per_name_did(preset: dict, headers: list) -> None:
    limits = RequestLimits(max_body_bytes=10, **preset)
    scope = {"type": "http", "method": "POST", "path": "/api/now/table/incident", "headers": headers,
             "query_string": b""}
    found = limits.headers_of(scope)
    assert found == {name: value for name in limits.read_headers
                     if (value := _header(headers, name)) is not None}
    for answer in (found, None):  # with the walk done by the caller, and without
        assert limits.declared_body(scope, answer) == limits.declared_body(scope)
        assert limits.refuse_early(scope, None, answer) == limits.refuse_early(scope)
        assert limits.counts_values(scope, answer) == limits.counts_values(scope)
        assert limits._credentials(scope, answer) == limits._credentials(scope)


def test_journal_add_keeps_what_record_keeps() -> None:
    by_keywords, in_order = Journal(), Journal()
    for notes in ([], ["batch-item"], ["fault:1", "body_not_read"]):
        args = dict(time=1.5, method="POST", path="/api/now/table/incident", query="a=1&access_token=s",
                    status=201, duration_ms=0.125, user="admin", table="incident", notes=notes)
        kept = by_keywords.record(**args)
        added = in_order.add(*args.values())
        assert added.to_dict() == kept.to_dict()
        assert added.query == "a=1&access_token=[redacted]"
    assert in_order.totals == by_keywords.totals
    assert [e.to_dict() for e in in_order.find()] == [e.to_dict() for e in by_keywords.find()]


def test_statements_by_sys_id_asks_for_the_class_filter_only_to_build() -> None:
    import sqlite3

    asked: list[str] = []

    def class_filter(table: str) -> tuple[str, str, list[object]]:
        asked.append(table)
        return "task", "+sys_class_name IN (?)", ["incident"]

    statements = Statements(sqlite3.connect(":memory:"))
    classes = ["incident"]
    first = statements.by_sys_id("incident", classes, class_filter)
    assert statements.by_sys_id("incident", classes, class_filter) is first
    assert asked == ["incident"]
    assert first.select == 'SELECT * FROM "task" WHERE (+sys_class_name IN (?)) AND (sys_id = ?) LIMIT 1'
    assert first.params == ("incident",)
    assert statements.by_sys_id("incident", ["incident", "x"], class_filter) is not first  # a new class list
    assert asked == ["incident", "incident"]
