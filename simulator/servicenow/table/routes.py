"""Table API routes: /api/now/table/{table}[/{sys_id}] and the /v1, /v2 versioned paths.

Thin on purpose: parse the sysparm_* parameters, call the backend, render, add headers.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from bpsn.simulator.common.fast_route import FastPathRoute
from bpsn.simulator.common.middleware import journal_info
from bpsn.simulator.common.scope_headers import request_header
from bpsn.simulator.servicenow.backend import ServiceNowBackend
from bpsn.simulator.servicenow.errors import ERROR_RESPONSES, ErrorEnvelope, no_records_v1
from bpsn.simulator.servicenow.import_sets.routes import RATE_LIMITED
from bpsn.simulator.servicenow.records.business_rules import Actor
from bpsn.simulator.servicenow.security.auth import caller

JSON_TYPE = "application/json;charset=UTF-8"


def _table() -> Any:
    return Path(pattern=r"^[A-Za-z0-9_]{1,80}$", description="Table name, e.g. incident")


def _sys_id() -> Any:
    # no length bound in the document: an instance answers any other string 404 No Record found, and
    # a bound counted in code points disagrees with what a fuzzer's surrogate pairs decode to
    return Path(description="The record's 32-hex sys_id (anything else: 404 No Record found)")


# ServiceNow reads these flags in any case: clients such as pysnow send "True" / "False".
DisplayValue = Annotated[Literal["true", "false", "all"],
                         BeforeValidator(lambda v: v.lower() if isinstance(v, str) else v)]
# ServiceNow reads sysparm_limit / sysparm_offset as Java ints; larger values are refused
# here (400) instead of overflowing the SQLite LIMIT / OFFSET (a 500).
MAX_INT = 2**31 - 1


class RecordIn(BaseModel):
    """A record's fields by column name. As on an instance, unknown names are ignored and any JSON
    value is taken as text; only a given sys_id must be a real one."""

    model_config = ConfigDict(extra="allow")

    sys_id: str = Field(None, pattern=r"^[0-9a-f]{32}$",  # type: ignore[assignment]  # absent: generated
                        description="The new record's sys_id (32 lowercase hex); generated when absent")


class RecordList(BaseModel):
    result: list[dict[str, Any]]


class RecordOne(BaseModel):
    result: dict[str, Any]


NOT_FOUND = {404: {"model": ErrorEnvelope, "description": "No Record found"}}
FORBIDDEN = {403: {"model": ErrorEnvelope, "description": "ACL or data policy refused the write"}}
LOCATION_HEADER = {"Location": {"required": True, "schema": {"type": "string", "format": "uri"},
                               "description": "The new record's URL"}}
PAGING_HEADERS = {
    "X-Total-Count": {"schema": {"type": "string"}, "description": "Total number of matching records"},
    "Link": {"schema": {"type": "string"}, "description": "first / prev / next / last pages"},
}


def _flag(value: str | None) -> bool:
    return (value or "").lower() == "true"


def _fields(value: str | None) -> tuple[str, ...]:
    return tuple(f.strip() for f in (value or "").split(",") if f.strip())


def _result(record_json: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """What JSONResponse({"result": record}) sends, byte for byte, from the record's JSON text
    (backend.render_json). Not text/*, so Starlette sends the media type as it is."""
    return Response(f'{{"result":{record_json}}}'.encode(), status_code=status, headers=headers, media_type=JSON_TYPE)


def _link_header(request: Request, offset: int, limit: int, total: int) -> str:
    base = str(request.url).split("?")[0]
    params = dict(request.query_params)

    def page(off: int) -> str:
        params.update(sysparm_limit=str(limit), sysparm_offset=str(off))
        return f"<{base}?{urlencode(params)}>"

    last = max(0, ((total - 1) // limit) * limit) if total else 0
    links = [f'{page(0)};rel="first"']
    if offset > 0:
        links.append(f'{page(offset - limit)};rel="prev"')  # may go negative, as the real instance does
    if offset + limit < total:
        links.append(f'{page(offset + limit)};rel="next"')
    links.append(f'{page(last)};rel="last"')
    return ",".join(links)


# 429: a sys_rate_limit_rules rule on the Table API (none until one is added)
TABLE_TAGS: list[str | Enum] = ["Table API"]
TABLE_RESPONSES: dict[int | str, dict[str, Any]] = {**ERROR_RESPONSES, **RATE_LIMITED}


def add_table_routes(router: APIRouter) -> None:
    """The Table API's routes, added to `router` itself. The ServiceNow app adds them to its own
    router: an included router is matched twice per request (once to choose it, once inside it),
    a tenth of a Table API request's time in the app. FastPathRoute: the documented sysparm_*
    parameters cost FastAPI's solver more than the route's own work."""
    previous = router.route_class
    router.route_class = FastPathRoute  # the decorators take no route class of their own
    try:
        for prefix, version in (("/api/now/table", "latest"), ("/api/now/v1/table", "v1"),
                                ("/api/now/v2/table", "v2")):
            _register(router, prefix, version)
    finally:
        router.route_class = previous


def _backend(request: Request) -> ServiceNowBackend:
    return request.app.state.backend


def _given(body: RecordIn) -> dict[str, Any]:
    """body.model_dump(exclude_unset=True), for a backend that only reads it: the sys_id when one was
    sent, then the other fields as sent (pydantic's dump copies every value on the way)."""
    extra = body.__pydantic_extra__ or {}
    return {"sys_id": body.sys_id, **extra} if "sys_id" in body.model_fields_set else extra


def _render_opts(display_value: str, exclude_reference_link: str | None, fields: str | None) -> dict[str, Any]:
    return {"display_value": display_value, "exclude_reference_link": _flag(exclude_reference_link),
            "fields": _fields(fields)}


def _register(r: APIRouter, prefix: str, version: str) -> None:
    suffix = "" if version == "latest" else f"_{version}"

    @r.get(prefix + "/{table}", response_model=RecordList, name=f"table_list{suffix}", tags=TABLE_TAGS,
           responses={**TABLE_RESPONSES, 200: {"headers": PAGING_HEADERS}, **NOT_FOUND, **FORBIDDEN},
           summary="Query records (sysparm_query, paging, fields, display values)")
    async def list_records(request: Request, table: str = _table(), who: Actor = Depends(caller),
                           sysparm_query: str | None = Query(None, max_length=32_000),
                           sysparm_fields: str | None = Query(None, max_length=4_000),
                           sysparm_limit: int | None = Query(None, ge=1, le=MAX_INT),
                           sysparm_offset: int = Query(0, ge=0, le=MAX_INT),
                           sysparm_display_value: DisplayValue = "false",
                           sysparm_exclude_reference_link: str | None = None,
                           sysparm_suppress_pagination_header: str | None = None,
                           sysparm_no_count: str | None = None,
                           sysparm_view: str | None = None,
                           sysparm_query_category: str | None = None,
                           sysparm_query_no_domain: str | None = None) -> Response:
        b = _backend(request)
        journal_info(request)["table"] = table
        limit = sysparm_limit or b.settings.default_limit
        filters = {k: v for k, v in request.query_params.items() if not k.startswith("sysparm_")}
        if filters and sysparm_query:
            filters = {}  # name=value pairs do not combine with sysparm_query
        rows, total = b.query(table, sysparm_query or "", limit=limit, offset=sysparm_offset,
                              actor=who, filters=filters, count=not _flag(sysparm_no_count))
        if not rows and version == "v1":
            raise no_records_v1()
        opts = _render_opts(sysparm_display_value, sysparm_exclude_reference_link, sysparm_fields)
        body = "[" + ",".join(b.render_json(table, row, who, **opts) for row in rows) + "]"
        headers = {}
        if total is not None:
            headers["X-Total-Count"] = str(total)
            if not _flag(sysparm_suppress_pagination_header):
                headers["Link"] = _link_header(request, sysparm_offset, limit, total)
        return _result(body, headers=headers)

    @r.get(prefix + "/{table}/{sys_id}", response_model=RecordOne, name=f"table_get{suffix}", tags=TABLE_TAGS,
           responses={**TABLE_RESPONSES, **NOT_FOUND}, summary="Read one record")
    async def get_record(request: Request, table: str = _table(), sys_id: str = _sys_id(),
                         who: Actor = Depends(caller),
                         sysparm_fields: str | None = Query(None, max_length=4_000),
                         sysparm_display_value: DisplayValue = "false",
                         sysparm_exclude_reference_link: str | None = None,
                         sysparm_view: str | None = None) -> Response:
        b = _backend(request)
        journal_info(request)["table"] = table
        row = b.get(table, sys_id, who)
        opts = _render_opts(sysparm_display_value, sysparm_exclude_reference_link, sysparm_fields)
        return _result(b.render_json(table, row, who, **opts))

    @r.post(prefix + "/{table}", response_model=RecordOne, status_code=201, name=f"table_create{suffix}",
            tags=TABLE_TAGS, responses={**TABLE_RESPONSES, 201: {"headers": LOCATION_HEADER}, **FORBIDDEN, **NOT_FOUND},
            summary="Create a record")
    async def create_record(request: Request, body: RecordIn, table: str = _table(),
                            who: Actor = Depends(caller),
                            sysparm_fields: str | None = Query(None, max_length=4_000),
                            sysparm_display_value: DisplayValue = "false",
                            sysparm_exclude_reference_link: str | None = None,
                            sysparm_input_display_value: str | None = None,
                            sysparm_view: str | None = None) -> Response:
        b = _backend(request)
        journal_info(request)["table"] = table
        row = b.insert(table, _given(body), who, display=_flag(sysparm_input_display_value))
        location = f"{b.settings.instance_url}/api/now/table/{table}/{row['sys_id']}"
        if _flag(request_header(request, "x-no-response-body")):
            return Response(status_code=201, headers={"Location": location})
        opts = _render_opts(sysparm_display_value, sysparm_exclude_reference_link, sysparm_fields)
        return _result(b.render_json(table, row, who, **opts), 201, {"Location": location})

    for method in ("put", "patch"):
        @getattr(r, method)(prefix + "/{table}/{sys_id}", response_model=RecordOne,
                            name=f"table_{method}{suffix}", tags=TABLE_TAGS,
                            responses={**TABLE_RESPONSES, **NOT_FOUND, **FORBIDDEN},
                            summary=f"Update a record ({method.upper()}: only the fields sent change)")
        async def update_record(request: Request, body: dict[str, Any], table: str = _table(),
                                sys_id: str = _sys_id(), who: Actor = Depends(caller),
                                sysparm_fields: str | None = Query(None, max_length=4_000),
                                sysparm_display_value: DisplayValue = "false",
                                sysparm_exclude_reference_link: str | None = None,
                                sysparm_input_display_value: str | None = None,
                                sysparm_view: str | None = None) -> Response:
            b = _backend(request)
            journal_info(request)["table"] = table
            row = b.update(table, sys_id, body, who, display=_flag(sysparm_input_display_value))
            if _flag(request_header(request, "x-no-response-body")):
                return Response(status_code=200)
            opts = _render_opts(sysparm_display_value, sysparm_exclude_reference_link, sysparm_fields)
            return _result(b.render_json(table, row, who, **opts))

    @r.delete(prefix + "/{table}/{sys_id}", status_code=204, name=f"table_delete{suffix}", tags=TABLE_TAGS,
              responses={**TABLE_RESPONSES, **NOT_FOUND, **FORBIDDEN}, summary="Delete a record")
    async def delete_record(request: Request, table: str = _table(), sys_id: str = _sys_id(),
                            who: Actor = Depends(caller)) -> Response:
        b = _backend(request)
        journal_info(request)["table"] = table
        b.delete(table, sys_id, who)
        return Response(status_code=204)

