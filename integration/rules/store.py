"""Transform rules in ServiceNow's x_bip_panda_transform_rule, over the Table API.

One record per rule per BigPanda organisation; conditions and actions are JSON columns in
the shape an engineer writes them (model.Rule.to_data). Saving checks the rule against the
instance's incident fields (sys_dictionary) and, when given, BigPanda's tag definitions, and
refuses one that cannot work; saving a name that exists replaces that rule. Reading checks
every record again: one changed by hand so that it cannot work is listed with the reason and
left out of the rules that run.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bpsn.integration.clients.servicenow import ServiceNowClient, ServiceNowError
from bpsn.integration.config.models import validate_organization

from .catalog import Catalog, CatalogError, FieldSpec, incident_fields
from .model import Rule
from .validation import RuleRefused, parse_rule, parse_rules

TABLE = "x_bip_panda_transform_rule"
COLUMNS = ["sys_id", "name", "organization", "order", "active", "run_on", "match", "conditions", "actions",
           "stop_processing", "description", "sys_updated_by", "sys_updated_on"]
log = logging.getLogger("bpsn.integration.rules")


@dataclass(frozen=True)
class StoredRule:
    sys_id: str
    name: str
    order: str
    active: bool
    rule: Rule | None  # None when the record cannot work
    problem: str = ""  # why not
    updated_by: str = ""
    updated_on: str = ""


def record_of(rule: Rule, organization: str) -> dict[str, str]:
    data = rule.to_data()
    return {"name": rule.name, "organization": organization, "order": str(rule.order),
            "active": "true" if rule.active else "false", "run_on": rule.run_on, "match": rule.match,
            "conditions": json.dumps(data["conditions"]), "actions": json.dumps(data["actions"]),
            "stop_processing": "true" if rule.stop_processing else "false", "description": rule.description}


def data_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """A record back into what an engineer wrote; RuleRefused when a JSON column is not JSON."""
    data: dict[str, Any] = {k: row.get(k) for k in ("name", "order", "active", "run_on", "match",
                                                    "stop_processing", "description")}
    problems = []
    for column in ("conditions", "actions"):
        try:
            data[column] = json.loads(row.get(column) or "[]")
        except ValueError as exc:
            problems.append(f"{column}: the stored value is not JSON ({exc})")
    if problems:
        raise RuleRefused(str(row.get("name") or "(unnamed)"), problems)
    return data


class RuleStore:
    def __init__(self, client: ServiceNowClient, *, fields: Mapping[str, FieldSpec] | None = None,
                 tags: Mapping[str, str] | None = None, table: str = TABLE) -> None:
        """`fields`: the incident's fields, when the caller knows them (else read from sys_dictionary);
        `tags`: BigPanda's incident tag definitions (id -> name), when known (else not checked)."""
        self.client, self.table = client, table
        self._fields = dict(fields) if fields is not None else None
        self._unreadable = False  # sys_dictionary refused this user once already
        self.tags = dict(tags) if tags is not None else None

    async def catalog(self, *, required: bool = True) -> Catalog:
        """What rules may name. Reading tolerates a user who may not read sys_dictionary; saving does not."""
        if self._fields is None and (required or not self._unreadable):
            try:
                self._fields = await incident_fields(self.client)
            except CatalogError:
                if required:
                    raise
                self._unreadable = True  # the core reloads rules every minute: ask once, not each time
                log.info("incident field names not checked: sys_dictionary is not readable")
        if self._fields is None:
            return Catalog(None, self.tags)
        return Catalog(self._fields, self.tags)

    async def _rows(self, org: str) -> list[dict[str, Any]]:
        query = f"organization={validate_organization(org)}^ORDERBYorder^ORDERBYname"
        rows = await self.client.query_all(self.table, query, fields=COLUMNS)
        return sorted(rows, key=lambda r: (_int(r.get("order")), str(r.get("name"))))

    # --- reading ------------------------------------------------------------------------------
    async def stored(self, org: str) -> list[StoredRule]:
        """Every rule of `org` in run order, each checked again; refused ones carry the reason."""
        validate_organization(org)
        catalog = await self.catalog(required=False)
        out = []
        for row in await self._rows(org):
            rule, problem = None, ""
            try:
                rule = dataclasses.replace(parse_rule(data_of(row), catalog), sys_id=row["sys_id"])
            except RuleRefused as exc:
                problem = str(exc)
            out.append(StoredRule(row["sys_id"], str(row.get("name") or ""), str(row.get("order") or ""),
                                  str(row.get("active")).lower() == "true", rule, problem,
                                  str(row.get("sys_updated_by") or ""), str(row.get("sys_updated_on") or "")))
        return out

    async def rules(self, org: str) -> list[Rule]:
        """The rules that can run (active or not: the evaluator decides), in order. A record that
        cannot work is logged and left out, so one bad edit does not stop the others."""
        out = []
        for stored in await self.stored(org):
            if stored.rule is None:
                log.warning("transform rule %r of %s is not applied: %s", stored.name, org, stored.problem)
            else:
                out.append(stored.rule)
        return out

    # --- writing ------------------------------------------------------------------------------
    async def save(self, org: str, data: Mapping[str, Any]) -> Rule:
        """Check and write one rule; RuleRefused (nothing written) when it cannot work."""
        return (await self.save_all(org, [data]))[0]

    async def save_all(self, org: str, items: Iterable[Mapping[str, Any]]) -> list[Rule]:
        """Check every rule first: when any is refused (RulesRefused), nothing is written."""
        validate_organization(org)
        catalog = await self.catalog(required=True)
        items = list(items)
        if len(items) == 1:  # one rule: its own refusal, not a list of one
            rules = [parse_rule(items[0], catalog)]
        else:
            rules = parse_rules(items, catalog)
        existing = {str(r.get("name")): r["sys_id"] for r in await self._rows(org)}
        saved = []
        for rule in rules:
            body = record_of(rule, org)
            if rule.name in existing:
                row = await self.client.update(self.table, existing[rule.name], body)
            else:
                row = await self.client.create(self.table, body)
            log.info("transform rule %r of %s saved (%s)", rule.name, org,
                     "replaced" if rule.name in existing else "new")
            saved.append(dataclasses.replace(rule, sys_id=row["sys_id"]))
        return saved

    async def delete(self, org: str, name: str) -> bool:
        """Delete the rule named `name`; False when `org` has none by that name."""
        for row in await self._rows(org):
            if row.get("name") == name:
                r = await self.client.api.request("DELETE", f"/api/now/table/{self.table}/{row['sys_id']}")
                if r.status_code not in (200, 204):
                    raise ServiceNowError(r)
                return True
        return False


def _int(value: Any) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0
