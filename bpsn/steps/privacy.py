"""Binds features/privacy.feature.

The core cleans payloads with bpsn.integration.privacy: shares on their way to ServiceNow
(`to_servicenow`) and every JSON body on its way to BigPanda (`to_bigpanda`). The policy
steps put the two functions at exactly those two points of the bench's core: the shares it
retrieves, and the bodies its BigPanda client sends.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from pytest_bdd import given, parsers, then, when

from bpsn.harness.base import Harness
from bpsn.integration.clients.http import ApiClient, RetryPolicy
from bpsn.integration.clients.servicenow import ServiceNowClient
from bpsn.integration.privacy import PrivacyPolicy, Pseudonymiser
from bpsn.integration.privacy.subject_service import PrivacyError, SubjectTools
from bpsn.integration.privacy.tables import AUDIT_TABLE, PREFIX

KINDS = {
    "emails": "email",
    "phone numbers": "phone",
    "IP addresses": "ip",
    "email": "email",
    "phone number": "phone",
    "IP address": "ip",
    "name": "name",
}
DIRECTIONS = {"ServiceNow": "to_servicenow", "BigPanda": "to_bigpanda"}
USERS = {"data protection officer": ("bigpanda.admin", "bigpanda-admin"), "NOC analyst": ("noc.analyst", "analyst")}


def _key(bpsn_context: dict[str, Any]) -> Pseudonymiser:
    return bpsn_context["key"]  # type: ignore[no-any-return]


@given(parsers.parse('the privacy key is "{key}"'))
def privacy_key(bpsn_context: dict[str, Any], key: str) -> None:
    bpsn_context["key"] = Pseudonymiser(key.encode())


def _set_policy(
    bpsn_bench: Harness, bpsn_context: dict[str, Any], direction: str, change: dict[str, Any]
) -> None:
    spec = bpsn_context.setdefault("policy_spec", {})
    rules = spec.setdefault(direction, {})
    rules["action"] = change.pop("action")
    for name, value in change.items():
        rules[name] = [*rules.get(name, []), *value]
    bpsn_context["policy"] = PrivacyPolicy.model_validate(spec)
    _wire(bpsn_bench, bpsn_context)


def _wire(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> None:
    bpsn_bench.runner.protect(bpsn_context["policy"], _key(bpsn_context))


def _kinds(text: str) -> list[str]:
    return [KINDS[k.strip()] for k in re.split(r",| and ", text) if k.strip()]


@given(
    parsers.re(
        r"the privacy policy (?P<action>pseudonymises|redacts) (?P<kinds>.+) in free text "
        r"on the way to (?P<system>ServiceNow|BigPanda)"
    )
)
def policy_detects(
    bpsn_bench: Harness, bpsn_context: dict[str, Any], action: str, kinds: str, system: str
) -> None:
    _set_policy(
        bpsn_bench,
        bpsn_context,
        DIRECTIONS[system],
        {"action": "redact" if action == "redacts" else "pseudonymise", "detect": _kinds(kinds)},
    )


@given(
    parsers.re(
        r'the privacy policy (?P<action>pseudonymises|redacts) the alert tag "(?P<tag>[^"]+)" as an? '
        r"(?P<kind>email|name|phone number|IP address) on the way to (?P<system>ServiceNow|BigPanda)"
    )
)
def policy_field(
    bpsn_bench: Harness, bpsn_context: dict[str, Any], action: str, tag: str, kind: str, system: str
) -> None:
    _set_policy(
        bpsn_bench,
        bpsn_context,
        DIRECTIONS[system],
        {"action": "redact" if action == "redacts" else "pseudonymise", "fields": [{"name": tag, "kind": KINDS[kind]}]},
    )


@when(
    parsers.re(
        r'a monitoring tool sends an? (?P<status>\w+) alert for host "(?P<host>[^"]+)" '
        r'check "(?P<check>[^"]+)" described "(?P<description>[^"]+)"'
    )
)
def send_described_alert(
    bpsn_bench: Harness, bpsn_context: dict[str, Any], status: str, host: str, check: str, description: str
) -> None:
    r = bpsn_bench.send_alerts({"status": status, "host": host, "check": check, "description": description})
    assert r.status_code == 201, r.text
    bpsn_context["incident_id"] = r.json()["alerts"][0]["incident_id"]
    bpsn_context.setdefault("incident_ids", []).append(bpsn_context["incident_id"])


# --- what ServiceNow and BigPanda show ------------------------------------------------------------
def _the_ticket(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> dict[str, Any]:
    [ticket] = bpsn_bench.tickets(f"correlation_id={bpsn_context['incident_id']}")
    return ticket


def _mask(bpsn_context: dict[str, Any], kind: str, value: str) -> str:
    return _key(bpsn_context).pseudonym(KINDS[kind], value)


@then(parsers.parse('the ticket does not contain "{text}"'))
def ticket_lacks(bpsn_bench: Harness, bpsn_context: dict[str, Any], text: str) -> None:
    assert text not in json.dumps(_the_ticket(bpsn_bench, bpsn_context))


@then(parsers.parse('the ticket description contains "{text}"'))
def description_contains(bpsn_bench: Harness, bpsn_context: dict[str, Any], text: str) -> None:
    description = _the_ticket(bpsn_bench, bpsn_context)["description"]
    assert text in description, description


@then(
    parsers.re(
        r'the ticket description contains the pseudonym of the (?P<kind>email|phone number|IP address) '
        r'"(?P<value>[^"]+)"'
    )
)
def description_has_pseudonym(bpsn_bench: Harness, bpsn_context: dict[str, Any], kind: str, value: str) -> None:
    description = _the_ticket(bpsn_bench, bpsn_context)["description"]
    assert _mask(bpsn_context, kind, value) in description, description


@then(parsers.parse('both tickets contain the pseudonym of the email "{email}"'))
def both_tickets_pseudonym(bpsn_bench: Harness, bpsn_context: dict[str, Any], email: str) -> None:
    ids = bpsn_context["incident_ids"]
    assert len(set(ids)) == 2, ids
    tickets = bpsn_bench.tickets("correlation_idIN" + ",".join(ids))
    assert len(tickets) == 2
    for ticket in tickets:
        assert _mask(bpsn_context, "email", email) in ticket["description"], ticket["description"]
        assert email.lower() not in ticket["description"].lower()


@then(
    parsers.re(
        r'the ticket short description is "(?P<before>[^"]*)" followed by the pseudonym of the '
        r'(?P<kind>email|phone number|IP address) "(?P<value>[^"]+)" and "(?P<after>[^"]*)"'
    )
)
def short_description_pseudonym(
    bpsn_bench: Harness, bpsn_context: dict[str, Any], before: str, kind: str, value: str, after: str
) -> None:
    expected = before + _mask(bpsn_context, kind, value) + after
    assert _the_ticket(bpsn_bench, bpsn_context)["short_description"] == expected


@then(parsers.parse('BigPanda still shows host "{host}" on the alert'))
def bigpanda_keeps_host(bpsn_bench: Harness, bpsn_context: dict[str, Any], host: str) -> None:
    alerts = bpsn_bench.incident(bpsn_context["incident_id"]).alerts
    assert [a.tags.get("host") for a in alerts] == [host], alerts


def _bigpanda_record(bpsn_bench: Harness, bpsn_context: dict[str, Any]) -> str:
    """Everything BigPanda keeps of what happened to the incident: its activities' parameters."""
    return json.dumps([a.params for a in bpsn_bench.bigpanda_views.activities(bpsn_context["incident_id"])])


@then(parsers.parse("BigPanda's record of the incident contains \"{text}\""))
def bigpanda_record_has(bpsn_bench: Harness, bpsn_context: dict[str, Any], text: str) -> None:
    assert text in _bigpanda_record(bpsn_bench, bpsn_context)


@then(parsers.parse("BigPanda's record of the incident does not contain \"{text}\""))
def bigpanda_record_lacks(bpsn_bench: Harness, bpsn_context: dict[str, Any], text: str) -> None:
    assert text not in _bigpanda_record(bpsn_bench, bpsn_context)


# --- data subjects ------------------------------------------------------------------------------------
def _tools(bpsn_bench: Harness, bpsn_context: dict[str, Any], user: str, password: str) -> SubjectTools:
    async def build() -> ServiceNowClient:
        http = httpx.AsyncClient(
            transport=bpsn_bench.core_transport("servicenow"),
            base_url=bpsn_bench.settings.servicenow_url,
            auth=(user, password),
        )
        return ServiceNowClient(ApiClient(http, policy=RetryPolicy(max_attempts=1)))

    return SubjectTools(bpsn_bench.run(build()), _key(bpsn_context), bpsn_bench.clock)


def _rows(bpsn_bench: Harness, table: str) -> list[dict[str, Any]]:
    r = bpsn_bench.run(
        bpsn_bench.admin.get(f"/api/now/table/{table}", params={"sysparm_exclude_reference_link": "true"})
    )
    r.raise_for_status()
    return list(r.json()["result"])


@given("the x_bip_panda tables hold these records:")
def tables_hold(bpsn_bench: Harness, datatable: list[list[str]]) -> None:
    header, *rows = datatable
    assert header == ["table", "column", "value"], header
    for table, column, value in rows:
        r = bpsn_bench.servicenow_client.post(f"/api/now/table/{table}", json={column: value})
        assert r.status_code == 201, r.text


@when(parsers.parse('the data protection officer exports the data of "{email}"'))
def export_data(bpsn_bench: Harness, bpsn_context: dict[str, Any], email: str) -> None:
    bpsn_context["export"] = bpsn_bench.run(
        _tools(bpsn_bench, bpsn_context, *USERS["data protection officer"]).export(email)
    )


@when(
    parsers.re(
        r"the (?P<who>data protection officer|NOC analyst) (?:tries to )?erases? "
        r'the data of "(?P<email>[^"]+)"'
    )
)
def erase_data(bpsn_bench: Harness, bpsn_context: dict[str, Any], who: str, email: str) -> None:
    user, password = USERS[who]
    tools = _tools(bpsn_bench, bpsn_context, user, password)
    try:
        bpsn_context["erased"] = bpsn_bench.run(tools.erase(email, operator=who, servicenow_user=user))
    except PrivacyError as exc:
        bpsn_context["refused"] = str(exc)


@then(parsers.parse("the export holds {records:d} records in {tables:d} tables"))
def export_holds(bpsn_context: dict[str, Any], records: int, tables: int) -> None:
    found = bpsn_context["export"]["records"]
    assert (sum(len(rows) for rows in found.values()), len(found)) == (records, tables), found


@then(parsers.parse('the export names the ServiceNow account "{user_name}" of "{name}"'))
def export_names_account(bpsn_context: dict[str, Any], user_name: str, name: str) -> None:
    assert [(a["user_name"], a["name"]) for a in bpsn_context["export"]["subject"]["accounts"]] == [(user_name, name)]


@then(parsers.parse('the export does not hold "{text}"'))
def export_lacks(bpsn_context: dict[str, Any], text: str) -> None:
    assert text not in json.dumps(bpsn_context["export"])


@then(parsers.parse("the {table} table holds {count:d} records"))
def table_holds(bpsn_bench: Harness, table: str, count: int) -> None:
    assert len(_rows(bpsn_bench, table)) == count


def _scoped_text(bpsn_bench: Harness) -> str:
    names = {r["name"] for r in _rows(bpsn_bench, "sys_dictionary") if r["name"].startswith(PREFIX)}
    return json.dumps({t: _rows(bpsn_bench, t) for t in sorted(names - {AUDIT_TABLE})})


@then(parsers.parse('no x_bip_panda record holds "{first}" or "{second}"'))
def nothing_holds(bpsn_bench: Harness, first: str, second: str) -> None:
    text = _scoped_text(bpsn_bench).lower()
    assert first.lower() not in text and second.lower() not in text


@then(
    parsers.re(
        r'an? (?P<table>x_bip_panda_\w+) record holds the pseudonym of the (?P<kind>email|name) '
        r'"(?P<value>[^"]+)"'
    )
)
def record_has_pseudonym(
    bpsn_bench: Harness, bpsn_context: dict[str, Any], table: str, kind: str, value: str
) -> None:
    assert _mask(bpsn_context, kind, value) in json.dumps(_rows(bpsn_bench, table))


@then(parsers.re(r'an? (?P<table>x_bip_panda_\w+) record holds "(?P<text>[^"]+)"'))
def record_holds(bpsn_bench: Harness, table: str, text: str) -> None:
    assert text in json.dumps(_rows(bpsn_bench, table))


@then(parsers.parse('the privacy audit holds {count:d} completed erase at "{when}" of the subject "{email}"'))
def audit_holds(bpsn_bench: Harness, bpsn_context: dict[str, Any], count: int, when: str, email: str) -> None:
    audits = _rows(bpsn_bench, AUDIT_TABLE)
    assert len(audits) == count, audits
    for a in audits:
        assert (a["u_action"], a["u_outcome"], a["u_performed_at"]) == ("erase", "completed", when)
        assert a["u_subject_hash"] == _key(bpsn_context).subject_hash(email)


@then(
    parsers.parse('the privacy audit counts {deleted:d} "delete" in {first} and {changed:d} "pseudonymise" in {second}')
)
def audit_counts(bpsn_bench: Harness, deleted: int, first: str, changed: int, second: str) -> None:
    [audit] = _rows(bpsn_bench, AUDIT_TABLE)
    assert json.loads(audit["u_record_counts"]) == {first: {"delete": deleted}, second: {"pseudonymise": changed}}


@then(parsers.parse('the privacy audit does not contain "{text}"'))
def audit_lacks(bpsn_bench: Harness, text: str) -> None:
    assert text.lower() not in json.dumps(_rows(bpsn_bench, AUDIT_TABLE)).lower()


@then(parsers.parse('the erase is refused, naming "{text}"'))
def erase_refused(bpsn_context: dict[str, Any], text: str) -> None:
    assert "erased" not in bpsn_context
    assert text in bpsn_context["refused"] and "nothing was erased" in bpsn_context["refused"]


@then("the privacy audit is empty")
def audit_empty(bpsn_bench: Harness) -> None:
    assert _rows(bpsn_bench, AUDIT_TABLE) == []
