"""OpenAPI links from a create to the resource it made, for the families a client manages
whole: maintenance plans and CMDB mapping tables (create, read, change, delete)."""

from __future__ import annotations

from typing import Any

from bpsn.simulator.common.openapi import link

PLANS = "/resources/v2.0/maintenance-plans"
MAPPINGS = "/resources/v2.1/mapping-enrichment"


def link_created(document: dict[str, Any]) -> None:
    link(document, ("post", PLANS, "201"), {f"{PLANS}/{{plan_id}}": "Plan", f"{PLANS}/{{plan_id}}/stop": "PlanStop"},
         {"plan_id": "$response.body#/id"})
    link(document, ("post", MAPPINGS, "201"),
         {f"{MAPPINGS}/{{mapping_id}}": "Mapping", f"{MAPPINGS}/{{mapping_id}}/map": "MappingRows",
          f"{MAPPINGS}/{{mapping_id}}/delta": "MappingDelta"},
         {"mapping_id": "$response.body#/id"})
