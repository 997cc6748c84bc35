"""What a rule may name: the ServiceNow incident's fields and BigPanda's incident tags.

Fields come from ServiceNow's data dictionary (`sys_dictionary` over the Table API: the
incident table's own columns and those it inherits from task) or from a list the caller
passes; tags from BigPanda's incident tag definitions. Either may be unknown (None): then
names are not checked, only the rule's shape.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bpsn.integration.clients.http import ApiClient
from bpsn.integration.clients.servicenow import ServiceNowClient, ServiceNowError

# incident extends task: its inherited columns are dictionary rows of task
INCIDENT_TABLES = ("incident", "task")
# every table has these; a real instance lists them per table, the simulator does not
SYSTEM_FIELDS = ("sys_id", "sys_class_name", "sys_created_on", "sys_created_by", "sys_updated_on",
                 "sys_updated_by", "sys_mod_count")
# fields the integration itself keeps: a rule that changed them would break the ticket lookup
# or the lifecycle (resolve, reopen, snooze)
PROTECTED_FIELDS = {
    "correlation_id": "it links the ticket to its BigPanda incident",
    "correlation_display": "it marks the ticket as the integration's",
    "number": "ServiceNow numbers the ticket",
    "parent_incident": "the integration links a reopened incident's tickets with it",
    "state": "the integration's lifecycle (resolve, reopen, snooze) sets it",
    "incident_state": "the integration's lifecycle (resolve, reopen, snooze) sets it",
    "resolved_at": "ServiceNow sets it when the ticket is resolved",
    "hold_reason": "the integration's snooze handling sets it",
}


class CatalogError(RuntimeError):
    """The names a rule may use could not be read."""


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str = "string"
    max_length: int | None = None
    label: str = ""


@dataclass(frozen=True)
class Catalog:
    fields: Mapping[str, FieldSpec] | None = None  # incident field name -> spec
    tags: Mapping[str, str] | None = None  # BigPanda incident tag definition id -> name

    @classmethod
    def of_fields(cls, names: Iterable[str], tags: Mapping[str, str] | None = None) -> Catalog:
        return cls({n: FieldSpec(n) for n in names}, tags)

    def with_tags(self, tags: Mapping[str, str] | None) -> Catalog:
        return Catalog(self.fields, tags)

    def tag_id(self, given: str) -> str | None:
        """The definition id for a tag given by id or by name; None when there is no such tag."""
        assert self.tags is not None
        if given in self.tags:
            return given
        return next((tag_id for tag_id, name in self.tags.items() if name == given), None)


def fields_from_dictionary_rows(rows: Iterable[Mapping[str, Any]]) -> dict[str, FieldSpec]:
    """incident's own definition of a column wins over task's (incident.state over task.state)."""
    rank = {table: i for i, table in enumerate(INCIDENT_TABLES)}
    chosen: dict[str, tuple[int, FieldSpec]] = {}
    for row in rows:
        element = str(row.get("element") or "")
        if not element:
            continue
        length = str(row.get("max_length") or "")
        spec = FieldSpec(element, str(row.get("internal_type") or "string"),
                         int(length) if length.isdigit() and int(length) > 0 else None,
                         str(row.get("column_label") or ""))
        level = rank.get(str(row.get("name")), len(rank))
        if element not in chosen or level < chosen[element][0]:
            chosen[element] = (level, spec)
    out = {name: FieldSpec(name, "glide_date_time" if name.endswith("_on") else "string") for name in SYSTEM_FIELDS}
    out.update({name: spec for name, (_, spec) in chosen.items()})
    return out


async def incident_fields(client: ServiceNowClient) -> dict[str, FieldSpec]:
    """The incident table's columns from sys_dictionary; a clear error when the user may not read it."""
    query = f"nameIN{','.join(INCIDENT_TABLES)}^ORDERBYelement"
    try:
        rows = await client.query_all("sys_dictionary", query,
                                      fields=["name", "element", "internal_type", "max_length", "column_label"])
    except ServiceNowError as exc:
        if exc.status_code in (401, 403):
            raise CatalogError(
                "cannot check the rule's incident field names: ServiceNow refused reading sys_dictionary "
                f"({exc.status_code}). Connect as a user who may read the data dictionary (admin), or pass "
                "the field names") from None
        raise
    if not rows:
        raise CatalogError("sys_dictionary lists no incident fields: is this a ServiceNow instance with ITSM?")
    return fields_from_dictionary_rows(rows)


async def tag_definitions(bigpanda: ApiClient) -> dict[str, str]:
    """BigPanda's incident tag definitions (user API key): id -> name."""
    r = await bigpanda.request("GET", "/resources/v2.0/incidents/tags/definitions")
    if r.status_code != 200:
        raise CatalogError(f"BigPanda answered {r.status_code} for the incident tag definitions: {r.text[:200]}")
    return {str(d["id"]): str(d.get("name") or d["id"]) for d in r.json()}
