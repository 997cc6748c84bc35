"""Steps of incident_settings.feature: the Incidents module settings, and what the ticket shows."""

from __future__ import annotations

import dataclasses
from typing import Any

from pytest_bdd import given, parsers, then, when

from bpsn.harness.base import Harness
from bpsn.integration.config.models import ModuleSettings
from bpsn.integration.engine.mapping import IncidentSettings


def _ticket(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> dict[str, Any]:
    return bpsn_bench.tickets(f"correlation_id={bpsn_context['incident_id']}^ORDERBYDESCsys_created_on")[0]


def _sys_id(bpsn_bench: Harness, table: str, query: str) -> str:
    r = bpsn_bench.run(bpsn_bench.admin.get(f"/api/now/table/{table}", params={"sysparm_query": query}))
    rows = r.json()["result"]
    assert len(rows) == 1, (table, query, rows)
    return str(rows[0]["sys_id"])


@given("the Incidents settings:")
@when("the Incidents settings:")
def incidents_settings(bpsn_bench: Harness, datatable: list[list[str]]) -> None:
    """Validated as a configuration version is (strings as the settings form sends them)."""
    values = {name: value for name, value in datatable[1:]}
    module = ModuleSettings.model_validate(values)
    current = bpsn_bench.incident_settings or IncidentSettings()
    bpsn_bench.reconfigure(
        dataclasses.replace(current, **{k: getattr(module.incident_settings("demo"), k) for k in values})
    )


@then(parsers.re(r'the ticket\'s "(?P<field>\w+)" is the (?P<table>\w+) "(?P<name>[^"]+)"'))
def ticket_references_by_name(
    bpsn_bench: Harness, bpsn_context: dict[str, Any], field: str, table: str, name: str
) -> None:
    assert _ticket(bpsn_bench, bpsn_context)[field] == _sys_id(bpsn_bench, table, f"name={name}")


@then(parsers.parse('the ticket\'s "{field}" is the user with email "{email}"'))
def ticket_references_user(bpsn_bench: Harness, bpsn_context: dict[str, Any], field: str, email: str) -> None:
    assert _ticket(bpsn_bench, bpsn_context)[field] == _sys_id(bpsn_bench, "sys_user", f"email={email}")


@then(parsers.parse('the ticket description contains the line "{line}"'))
def description_has_line(bpsn_bench: Harness, bpsn_context: dict[str, Any], line: str) -> None:
    assert line in _ticket(bpsn_bench, bpsn_context)["description"].splitlines()


@then(parsers.parse('the ticket description does not contain "{text}"'))
def description_lacks(bpsn_bench: Harness, bpsn_context: dict[str, Any], text: str) -> None:
    assert text not in _ticket(bpsn_bench, bpsn_context)["description"]


@then(parsers.parse("ServiceNow has {count:d} incidents from BigPanda"))
def incidents_from_bigpanda(bpsn_bench: Harness, count: int) -> None:
    assert len(bpsn_bench.tickets()) == count


@then(parsers.parse('the core looked up the "{a}" table once and the "{b}" table once in all'))
def looked_up_once(bpsn_bench: Harness, a: str, b: str) -> None:
    for table in (a, b):
        reads = bpsn_bench.core_requests("servicenow", method="GET", table=table)
        assert len(reads) == 1, (table, [e.query for e in reads])
