"""What the OpenAPI document says that FastAPI cannot infer: this instance's tables, and links from
a create to the record it made.

A table name outside the dictionary is answered 400 `Invalid table <name>`, as on an instance;
listing the tables (an `enum` on every table parameter) makes the document say so, so a client
or a fuzzer reads from the document which names are valid. A table added at run time
(`Dictionary.add_table`, a staging table for instance) is listed from the next request for the
document, and one a reset took away is no longer: the app builds the document again whenever the
instance's tables differ from those it was built for.
"""

from __future__ import annotations

from typing import Any

from bpsn.simulator.common.openapi import link
from bpsn.simulator.servicenow.import_sets.transform_maps import is_staging
from bpsn.simulator.servicenow.records.dictionary import Dictionary

ANY_TABLE = "any"
STAGING_TABLE = "staging"
# (where the parameter is, its name) -> which tables it accepts
TABLE_PARAMETERS: dict[tuple[str, str], str] = {
    ("path", "table"): ANY_TABLE,  # Table API (all versions) and Aggregate API
    ("path", "staging_table"): STAGING_TABLE,  # Import Set API: tables extending sys_import_set_row
}
# Admin routes whose `table` query parameter must name a table (others, e.g. the journal's, filter).
TABLE_QUERY_PATHS = ("/_sim/wait",)
TABLE_API_PREFIXES = ("/api/now/table", "/api/now/v1/table", "/api/now/v2/table")


def complete(document: dict[str, Any], dictionary: Dictionary) -> None:
    name_tables(document, dictionary)
    link_records(document)


def table_names(dictionary: Dictionary, kind: str) -> list[str]:
    names = dictionary.tables if kind == ANY_TABLE else [t for t in dictionary.tables if is_staging(dictionary, t)]
    return sorted(names)


def name_tables(document: dict[str, Any], dictionary: Dictionary) -> None:
    """Put the instance's table names, as an `enum`, on every parameter that must name one."""
    for path, item in document.get("paths", {}).items():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                where, name = parameter.get("in"), parameter.get("name")
                kind = TABLE_PARAMETERS.get((where, name))
                if kind is None and where == "query" and name == "table" and path in TABLE_QUERY_PATHS:
                    kind = ANY_TABLE
                if kind is not None:
                    parameter["schema"]["enum"] = table_names(dictionary, kind)
                    said = parameter.get("description") or parameter["schema"].get("description") or "Table name"
                    parameter["description"] = f"{said}; a name not listed is answered 400 Invalid table"


def link_records(document: dict[str, Any]) -> None:
    """Links from each Table API create to reading, updating and deleting the record it made.

    A record's fields are free-form, so the `sys_id` in `result` is invisible to a client that
    infers links from schemas; these say where it is. With `sysparm_display_value=all` the
    answer's `sys_id` is a `{value, display_value}` pair, and `sysparm_fields` may leave it out:
    the links hold for the default rendering.
    """
    for prefix in TABLE_API_PREFIXES:
        link(document, ("post", f"{prefix}/{{table}}", "201"), {f"{prefix}/{{table}}/{{sys_id}}": "Record"},
             {"table": "$request.path.table", "sys_id": "$response.body#/result/sys_id"})
