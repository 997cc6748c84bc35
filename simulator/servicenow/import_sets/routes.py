"""Import Set API routes: /api/now/import/{staging_table}[/insertMultiple | /{sys_id}].

Thin: parse, call ImportSets (import_sets.py), answer. State lives in the backend's store.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Body, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from bpsn.simulator.common.middleware import journal_info
from bpsn.simulator.common.route_group import RouteGroup
from bpsn.simulator.servicenow.errors import ERROR_RESPONSES, ErrorEnvelope
from bpsn.simulator.servicenow.records.business_rules import Actor
from bpsn.simulator.servicenow.security.auth import caller

from .staging import ImportSets

JSON_TYPE = "application/json;charset=UTF-8"
MAX_RECORDS = 10_000  # per insertMultiple call: our choice (the SOAP docs advise 200 at a time)

FORBIDDEN = {403: {"model": ErrorEnvelope, "description": "ACL Exception: no create (or read) right on the staging table"}}
NOT_FOUND = {404: {"model": ErrorEnvelope, "description": "No Record found (also when an ACL hides it)"}}
RATE_LIMITED = {429: {"model": ErrorEnvelope, "description": "Rate limit exceeded (a sys_rate_limit_rules rule)",
                      "headers": {"Retry-After": {"schema": {"type": "string"}, "description": "Seconds to wait"}}}}


class TransformResult(BaseModel):
    transform_map: str = Field(description="Name of the transform map")
    table: str = Field(description="Target table")
    display_name: str | None = Field(None, description="The target table's display field, e.g. name")
    display_value: str | None = Field(None, description="The target record's display value")
    record_link: str | None = Field(None, description="Table API URL of the target record; absent when none")
    status: Literal["inserted", "updated", "ignored", "skipped", "error"]
    sys_id: str = Field(description="The target record's sys_id, or the import-set row's when nothing was "
                                    "transformed (skipped, ignored without a match, error)")
    status_message: str | None = None
    error_message: str | None = None


class ImportResponse(BaseModel):
    import_set: str = Field(examples=["ISET0010001"], description="Number of the import set")
    staging_table: str
    result: list[TransformResult] = Field(description="One entry per transform map of the staging table")


class InsertMultipleBody(BaseModel):
    records: list[dict[str, Any]] = Field(max_length=MAX_RECORDS, description="Staging rows: column name "
                                          "(or column label) to value")


class InsertMultipleResponse(BaseModel):
    import_set_id: str = Field(description="sys_id of the sys_import_set record")
    multi_import_set_id: str = Field(description="sys_id of the sys_multi_import_set record")


def _staging() -> Any:
    return Path(pattern=r"^[A-Za-z0-9_]{1,80}$", description="Staging table, e.g. imp_user")


def _json(body: Any, status: int = 200) -> JSONResponse:
    resp = JSONResponse(body, status_code=status)
    resp.headers["content-type"] = JSON_TYPE
    return resp


def _imports(request: Request, table: str) -> ImportSets:
    journal_info(request)["table"] = table
    return ImportSets(request.app.state.backend)


POST_DESCRIPTION = """
Inserts one row into the staging table (as the caller: ACL create on the staging table) and runs
every active transform map of that table synchronously, in `order`, as the records of
`sys_transform_map` and `sys_transform_entry` say. Transforms write their target records as the
caller: `sys_created_by`/`sys_updated_by` name the importing user, business rules, the data policy
and audit run as for the Table API, and the caller's ACLs decide each write (GlideRecordSecure;
a refused write is that map's `error`). One result per map:
`inserted`, `updated` (coalesce matched), `ignored` (a script set ignore, a reference/choice with
`choice_action: reject`, or nothing changed), `skipped` (an empty coalesce value, or a script set
skip) or `error` (with `error_message`, e.g. a data policy refusing the write; the other maps still run).

Our choices: values must be strings; any other JSON value is stored the way the instance's Java side
prints it (`{"a": "b"}` becomes `{a=b}`, lists `[x, y]`, numbers and booleans as text), the
documented ':' becomes '=' mangling. Body keys are column names or column labels; unknown keys and
the read-only `sys_import_*` bookkeeping are ignored. A staging table with no active transform map
keeps the row (state `pending`) and answers `result: []`. Single-row imports share one open
synchronous import set per staging table and UTC day. A table that exists but does not extend
`sys_import_set_row` is refused with 400 like an unknown table.
"""

MULTIPLE_DESCRIPTION = f"""
Inserts every record into the staging table and transforms them, all in one new import set.

Our choice: processing is synchronous (the instance's default is asynchronous), so when the 201
arrives every row is transformed; read each row's results with
`GET /api/now/import/{{staging_table}}/{{sys_id}}` (the rows are the staging records whose
`sys_import_set` is `import_set_id`). `multi_import_set_id` adds the set to an existing
sys_multi_import_set (400 if there is none); `run_after` is accepted and ignored (it orders
asynchronous runs only). At most {MAX_RECORDS} records per call (our choice); all are checked before
any is written.
"""


def build_import_router() -> RouteGroup:
    r = RouteGroup(prefix="/api/now/import", tags=["Import Set API"], responses=ERROR_RESPONSES)

    @r.post("/{staging_table}", response_model=ImportResponse, status_code=201, name="import_insert",
            responses={**FORBIDDEN, **RATE_LIMITED}, summary="Insert one staging row and transform it",
            description=POST_DESCRIPTION)
    async def insert(request: Request, body: dict[str, Any] = Body(...), staging_table: str = _staging(),
                     who: Actor = Depends(caller)) -> JSONResponse:
        return _json(_imports(request, staging_table).insert(staging_table, body, who), 201)

    @r.post("/{staging_table}/insertMultiple", response_model=InsertMultipleResponse, status_code=201,
            name="import_insert_multiple", responses={**FORBIDDEN, **RATE_LIMITED},
            summary="Insert many staging rows and transform them", description=MULTIPLE_DESCRIPTION)
    async def insert_multiple(request: Request, body: InsertMultipleBody, staging_table: str = _staging(),
                              who: Actor = Depends(caller),
                              multi_import_set_id: str | None = Query(None, max_length=64),
                              run_after: str | None = Query(None, max_length=64)) -> JSONResponse:
        result = _imports(request, staging_table).insert_multiple(staging_table, body.records, who,
                                                                  multi_import_set_id)
        return _json(result, 201)

    @r.get("/{staging_table}/{sys_id}", response_model=ImportResponse, name="import_get",
           responses={**NOT_FOUND, **RATE_LIMITED}, summary="A staging row's transform results",
           description="The same shape as the POST answered, read back for one staging row. "
                       "404 when the row does not exist or the caller may not read the staging table. "
                       "A row that never went through the Import Set API answers `result: []`.")
    async def get_row(request: Request, staging_table: str = _staging(),
                      sys_id: str = Path(max_length=64, description="The staging row's sys_id"),
                      who: Actor = Depends(caller)) -> JSONResponse:
        return _json(_imports(request, staging_table).row_result(staging_table, sys_id, who))

    return r
