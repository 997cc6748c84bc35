"""The Table API's OpenAPI document is a contract (schemathesis and users' clients read it): the
hand-parsed fast path of the hot routes (table/fast_route.py) must leave it exactly as it was.

The golden file was taken from the routes before the fast path existed; regenerate it only for a
deliberate change of the documented API, never to make this test pass."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bpsn.simulator.servicenow.app import create_app

GOLDEN = Path(__file__).parent / "golden" / "table_api_openapi.json"
TABLE_PREFIXES = ("/api/now/table/", "/api/now/v1/table/", "/api/now/v2/table/")


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[-1]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def table_api_document(document: dict[str, Any]) -> dict[str, Any]:
    """The Table API paths of a document, and every component schema they reach."""
    paths = {p: item for p, item in document["paths"].items() if p.startswith(TABLE_PREFIXES)}
    schemas = document["components"]["schemas"]
    wanted, todo = set(), _refs(paths)
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo |= _refs(schemas[name])
    return {"paths": paths, "schemas": {name: schemas[name] for name in sorted(wanted)},
            "security": document["security"], "securitySchemes": document["components"]["securitySchemes"]}


def test_table_api_document_is_unchanged() -> None:
    golden = json.loads(GOLDEN.read_text())
    now = json.loads(json.dumps(table_api_document(create_app().openapi())))
    assert sorted(now["paths"]) == sorted(golden["paths"])
    for path, item in golden["paths"].items():
        for method, operation in item.items():
            assert now["paths"][path][method] == operation, f"{method.upper()} {path} changed"
    assert now == golden


def test_documented_parameters_keep_their_order() -> None:
    """Parameter order is part of what a generated client's signature looks like."""
    golden = json.loads(GOLDEN.read_text())
    now = create_app().openapi()["paths"]
    for path, item in golden["paths"].items():
        for method, operation in item.items():
            assert [p["name"] for p in now[path][method].get("parameters", [])] == \
                [p["name"] for p in operation.get("parameters", [])], f"{method.upper()} {path}"
