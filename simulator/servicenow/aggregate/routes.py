"""Aggregate API route: GET /api/now/stats/{table}. Thin: parameters in, Aggregator out."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from bpsn.simulator.common.middleware import journal_info
from bpsn.simulator.common.route_group import RouteGroup
from bpsn.simulator.servicenow.errors import ERROR_RESPONSES, ErrorEnvelope
from bpsn.simulator.servicenow.import_sets.routes import JSON_TYPE, RATE_LIMITED
from bpsn.simulator.servicenow.records.business_rules import Actor
from bpsn.simulator.servicenow.security.auth import caller

from .stats import AGGREGATES, Aggregator, StatsRequest, split_list


class Stats(BaseModel):
    count: str | None = Field(None, examples=["42"], description="Number of records, as a string")
    avg: dict[str, str] | None = Field(None, description="field -> average, 4 decimals")
    min: dict[str, str] | None = None
    max: dict[str, str] | None = None
    sum: dict[str, str] | None = None


class StatsBlock(BaseModel):
    stats: Stats


class StatsOne(BaseModel):
    result: StatsBlock


class GroupByField(BaseModel):
    value: str = Field(description="The group's value (its display value with sysparm_display_value=true)")
    field: str
    display_value: str | None = Field(None, description="Only with sysparm_display_value=all")


class StatsGroup(BaseModel):
    stats: Stats
    groupby_fields: list[GroupByField]


class StatsGrouped(BaseModel):
    result: list[StatsGroup]


DESCRIPTION = """
Aggregates over the table's records: `sysparm_count=true`, `sysparm_{avg,min,max,sum}_fields`
(comma lists), grouped by `sysparm_group_by` (comma list) into a list of
`{stats, groupby_fields}`; without grouping, one `{"result": {"stats": {...}}}`. Counts and numbers
are strings; averages have 4 decimals. Records are filtered by `sysparm_query` or plain
name=value pairs (not both: name=value pairs are dropped when `sysparm_query` is given).

`sysparm_having`: `aggregate^field^operator^number`, several joined with `,`
(e.g. `count^priority^>^3,avg^reassignment_count^>=^1`); the aggregate it names is also reported.
`sysparm_order_by`: `COUNT`, `AVG^field` (any aggregate), or a group-by field, each optionally
`^DESC`; groups otherwise come in ascending order of their values.

Our choices: unknown, dot-walked, journal and password fields are ignored wherever a field is
named, but a query (`sysparm_query` or name=value) on a password field is 403, as in the Table
API; a malformed having clause is 400; AVG and SUM read values as numbers (non-numeric text
counts as 0, empty values are left out); MIN and MAX of non-numeric fields compare text (dates
order correctly); `sysparm_display_value=all` adds `display_value` next to each group's `value`.
A having clause that removes the only (ungrouped) result answers `{"stats": {}}`.
Needs read access to the table: otherwise 403, as a Table API query.
"""


def build_stats_router() -> RouteGroup:
    r = RouteGroup(prefix="/api/now/stats", tags=["Aggregate API"], responses=ERROR_RESPONSES)

    @r.get("/{table}", response_model=StatsOne | StatsGrouped, name="stats_aggregate",
           responses={403: {"model": ErrorEnvelope, "description": "Insufficient rights to query records"},
                      **RATE_LIMITED},
           summary="Count, average, min, max and sum, optionally grouped", description=DESCRIPTION)
    async def aggregate(request: Request,
                        table: str = Path(pattern=r"^[A-Za-z0-9_]{1,80}$", description="Table name, e.g. incident"),
                        who: Actor = Depends(caller),
                        sysparm_count: str | None = Query(None, max_length=10, description="true to count"),
                        sysparm_avg_fields: str | None = Query(None, max_length=4_000),
                        sysparm_min_fields: str | None = Query(None, max_length=4_000),
                        sysparm_max_fields: str | None = Query(None, max_length=4_000),
                        sysparm_sum_fields: str | None = Query(None, max_length=4_000),
                        sysparm_group_by: str | None = Query(None, max_length=4_000),
                        sysparm_having: str | None = Query(None, max_length=4_000),
                        sysparm_order_by: str | None = Query(None, max_length=4_000),
                        sysparm_query: str | None = Query(None, max_length=32_000),
                        sysparm_display_value: Literal["true", "false", "all"] = "false") -> JSONResponse:
        journal_info(request)["table"] = table
        given = {"avg": sysparm_avg_fields, "min": sysparm_min_fields, "max": sysparm_max_fields,
                 "sum": sysparm_sum_fields}
        req = StatsRequest(count=(sysparm_count or "").lower() == "true",
                           fields={agg: split_list(given[agg]) for agg in AGGREGATES},
                           group_by=split_list(sysparm_group_by), having=sysparm_having or "",
                           order_by=sysparm_order_by or "", display_value=sysparm_display_value)
        filters = {} if sysparm_query else {k: v for k, v in request.query_params.items()
                                            if not k.startswith("sysparm_")}
        body: Any = Aggregator(request.app.state.backend).stats(table, req, who, sysparm_query or "", filters)
        resp = JSONResponse(body)
        resp.headers["content-type"] = JSON_TYPE
        return resp

    return r
