"""Mapping enrichment: v1 (org token) CSV tables, row operations and jobs; v2.x (user API key)
row operations and jobs; and our CMDB delta-sync endpoints (maps, metadata with a hash digest,
delta upserts and deletes)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Body, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from bpsn.simulator.bigpanda import permissions as perm
from bpsn.simulator.bigpanda.auth import principal
from bpsn.simulator.bigpanda.backend import BigPandaBackend, Principal
from bpsn.simulator.bigpanda.errors import bad_request, doc
from bpsn.simulator.bigpanda.oim.bodies import read_limited
from bpsn.simulator.common.bodies import StrictBody
from bpsn.simulator.common.route_group import RouteGroup

from .store import EnrichmentStore

MAX_OPS = 100
MAX_DELTA_ITEMS = 10_000
MAX_CSV_BYTES = 64 * 1024 * 1024
Cell = str | int | float | bool | None
TABLE_RULES = """

Keys: a map's key fields come from its creation (`key_fields`), else `?key=a,b` on the first
v1 upload, else the CSV's first column; a row's key is its key values joined with `|`. The
schema is the union of the columns written so far (so the first upload defines it). Row
hashes are sha256 of the row's JSON (sorted keys, `(",", ":")` separators) unless a delta
upsert gave one. (Our choices.)
"""


WHITESPACE = "\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"


class RowOp(StrictBody):
    op: Literal["create", "update", "delete", "upsert"]
    value: dict[str, Cell] = Field(min_length=1, examples=[{"host": "web-01", "owner": "sre"}],
                                   description="The row; delete needs only the key fields")


class PatchOut(BaseModel):
    status: Literal["done"] = "done"
    job_id: str
    applied: int
    rows: int = Field(description="Rows in the map afterwards")


class JobOut(BaseModel):
    id: str
    map_id: str
    kind: str
    status: Literal["done", "failed"]
    errors: list[str]
    rows: int
    created_at: int


class JobAccepted(BaseModel):
    status: int = 202
    data: dict[str, str]


class MapCreate(StrictBody):
    name: str = Field(min_length=1, max_length=200, examples=["snow_cmdb_cmdb_ci_server"])
    # Not blank: documented here, enforced (with its own message) by the route. The class is
    # Python's whitespace (str.strip) spelled out, so every regex dialect reads it the same.
    key_fields: list[Annotated[str, Field(json_schema_extra={"pattern": f"[^{WHITESPACE}]"})]] = Field(
        min_length=1, max_length=10, examples=[["sys_id"]], json_schema_extra={"uniqueItems": True})


class MapOut(BaseModel):
    id: str
    name: str
    key_fields: list[str]
    schema_: list[str] = Field(alias="schema", description="The columns, in order")
    row_count: int
    created_at: int
    updated_at: int
    digest: dict[str, str] | None = Field(None, description="Row key -> row hash")


class MapList(BaseModel):
    maps: list[MapOut]


class RowsOut(BaseModel):
    rows: list[dict[str, str]]


class DeltaUpsert(StrictBody):
    key: str = Field(min_length=1, max_length=1000)
    hash: str = Field(min_length=1, max_length=200)
    row: dict[str, Cell]


class DeltaIn(StrictBody):
    upserts: list[DeltaUpsert] = Field([], max_length=MAX_DELTA_ITEMS)
    deletes: list[str] = Field([], max_length=MAX_DELTA_ITEMS)


class DeltaOut(BaseModel):
    upserted: int
    deleted: int
    unchanged: int


def _store(request: Request, who: Principal, kind: Literal["org", "user"],
           api: str) -> tuple[BigPandaBackend, EnrichmentStore]:
    backend: BigPandaBackend = request.app.state.backend
    backend.require(who, kind, api, permission=perm.INCIDENT_ENRICHMENT)
    return backend, who.org.enrichment


def _map_id() -> Any:
    return Path(min_length=1, max_length=200)


def _job_id() -> Any:
    return Path(min_length=1, max_length=300)


def build_enrichment_router() -> RouteGroup:
    r = RouteGroup(tags=["Mapping enrichment"])
    forbidden = doc(403, "Wrong kind of token")
    no_map = doc(404, "No such mapping")
    no_job = doc(404, "No such job")
    v1, v2 = "Mapping enrichment v1", "Mapping enrichment v2"

    # --- v1, org token -------------------------------------------------------------------------
    @r.post("/resources/v1.0/enrichments/{enrichment_id}/map", status_code=202, response_model=JobAccepted,
            summary="Create or replace a mapping table from CSV (v1, org token)",
            description="The body is CSV (`text/csv`). The job is processed at once; poll "
                        "`Location` for `done` or `failed` (with the broken rules). No partial success: "
                        "a failed job changes nothing. A new id creates the map if the upload succeeds "
                        f"(our choice); bodies over 64 MB get 413 (our choice).{TABLE_RULES}",
            openapi_extra={"requestBody": {"required": True, "content": {"text/csv": {
                "schema": {"type": "string", "minLength": 1}, "example": "host,owner\nweb-01,sre\nweb-02,dba\n"}}}},
            responses={202: {"description": "Job accepted", "headers": {"Location": {
                           "required": True, "schema": {"type": "string"},
                           "description": "/resources/v1.0/enrichment-jobs/{job_id}"}}},
                       403: forbidden, 413: doc(413, "The CSV is larger than 64 MB")})
    async def upload_enrichment_csv(request: Request, enrichment_id: str = _map_id(),
                                    key: str | None = Query(None, max_length=500, description=(
                                        "Comma-separated key fields, on the first upload only")),
                                    who: Principal = Depends(principal)) -> Response:
        backend, store = _store(request, who, "org", v1)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type and content_type not in ("text/csv", "text/plain", "application/octet-stream"):
            raise bad_request(f"Content-Type must be text/csv (got {content_type})")
        data = await read_limited(request, MAX_CSV_BYTES)
        if not data:  # the body is required: no job for a request that sent nothing
            raise bad_request("the body is empty: send the CSV (text/csv)")
        keys = [k.strip() for k in key.split(",") if k.strip()] if key else None
        job = store.upload_csv(enrichment_id, data, keys, who.org.rng, backend.clock.now())
        location = f"/resources/v1.0/enrichment-jobs/{job.id}"
        return JSONResponse(JobAccepted(data={"job_id": job.id}).model_dump(), status_code=202,
                            headers={"Location": location})

    @r.patch("/resources/v1.0/enrichments/{enrichment_id}/map", response_model=PatchOut,
             summary="Create, update, delete or upsert rows (v1, org token)",
             description=f"At most {MAX_OPS} operations; `create` fails on an existing row, `update` and "
                         "`delete` on a missing one; `delete` needs only the key fields. All or nothing: "
                         "any failing operation is named in a 400 and nothing changes. Operations run in order; "
                         "`update` and `upsert` merge the given columns into the row; answers 200 with the "
                         f"job it ran as (our choices).{TABLE_RULES}",
             responses={403: forbidden, 404: no_map})
    async def patch_enrichment_rows(request: Request, ops: list[RowOp] = Body(...), enrichment_id: str = _map_id(),
                                    who: Principal = Depends(principal)) -> dict[str, Any]:
        backend, store = _store(request, who, "org", v1)
        if not ops or len(ops) > MAX_OPS:
            raise bad_request(f"send 1 to {MAX_OPS} operations per request (got {len(ops)})")
        job = store.apply_ops(enrichment_id, [(o.op, o.value) for o in ops], who.org.rng, backend.clock.now())
        return PatchOut(job_id=job.id, applied=len(ops), rows=len(store.maps[enrichment_id].rows)).model_dump()

    @r.get("/resources/v1.0/enrichment-jobs/{job_id}", response_model=JobOut,
           summary="Status of an upload job (v1, org token)", responses={403: forbidden, 404: no_job})
    async def get_enrichment_job(request: Request, job_id: str = _job_id(),
                                 who: Principal = Depends(principal)) -> dict[str, Any]:
        _, store = _store(request, who, "org", v1)
        return store.job(job_id).view()

    # --- v2.x, user API key ----------------------------------------------------------------------
    @r.patch("/resources/v2.1/mapping-enrichment/{mapping_id}/map", response_model=PatchOut,
             summary="One row operation (v2.1, user API key)",
             description="One `{op, value}`, with the rules of the v1 row operations; answers 200 with the "
                         f"job it ran as (our choice).{TABLE_RULES}",
             responses={403: forbidden, 404: no_map})
    async def patch_mapping_row(request: Request, op: RowOp, mapping_id: str = _map_id(),
                                who: Principal = Depends(principal)) -> dict[str, Any]:
        backend, store = _store(request, who, "user", v2)
        job = store.apply_ops(mapping_id, [(op.op, op.value)], who.org.rng, backend.clock.now(), kind="rowop")
        return PatchOut(job_id=job.id, applied=1, rows=len(store.maps[mapping_id].rows)).model_dump()

    @r.get("/resources/v2.0/alerts-enrichments-jobs/{job_id}", response_model=JobOut,
           summary="Status of an enrichment job (v2, user API key)", responses={403: forbidden, 404: no_job})
    async def get_alerts_enrichment_job(request: Request, job_id: str = _job_id(),
                                        who: Principal = Depends(principal)) -> dict[str, Any]:
        _, store = _store(request, who, "user", v2)
        return store.job(job_id).view()

    # --- CMDB delta sync: our design ----------------------------------------------------------------
    design = ("Our design (BigPanda publishes no CMDB v2 endpoint); the ServiceNow CMDB sync names its "
              "maps snow_cmdb_<table>.")

    @r.post("/resources/v2.1/mapping-enrichment", status_code=201, response_model=MapOut,
            summary="Create a mapping (user API key)", description=f"{design} 409 if the name is taken.",
            responses={403: forbidden, 409: doc(409, "A mapping with this name exists")})
    async def create_mapping(request: Request, body: MapCreate, who: Principal = Depends(principal)) -> dict[str, Any]:
        backend, store = _store(request, who, "user", v2)
        if any(not k.strip() for k in body.key_fields):
            raise bad_request("key_fields: a key field name must not be blank")
        return store.create_map(body.name, body.key_fields, who.org.rng, backend.clock.now()).metadata(digest=False)

    @r.get("/resources/v2.1/mapping-enrichment", response_model=MapList, summary="List mappings (user API key)",
           description=design, responses={403: forbidden})
    async def list_mappings(request: Request, who: Principal = Depends(principal)) -> dict[str, Any]:
        _, store = _store(request, who, "user", v2)
        return {"maps": [t.metadata(digest=False) for t in store.maps.values()]}

    @r.get("/resources/v2.1/mapping-enrichment/{mapping_id}", response_model=MapOut,
           summary="A mapping's metadata with its {key: hash} digest (user API key)", description=design,
           responses={403: forbidden, 404: no_map})
    async def get_mapping(request: Request, mapping_id: str = _map_id(),
                          who: Principal = Depends(principal)) -> dict[str, Any]:
        _, store = _store(request, who, "user", v2)
        return store.get_map(mapping_id).metadata(digest=True)

    @r.delete("/resources/v2.1/mapping-enrichment/{mapping_id}", status_code=204,
              summary="Delete a mapping (user API key)", description=design,
              responses={204: {"description": "Deleted"}, 403: forbidden, 404: no_map})
    async def delete_mapping(request: Request, mapping_id: str = _map_id(),
                             who: Principal = Depends(principal)) -> Response:
        _, store = _store(request, who, "user", v2)
        store.delete_map(mapping_id)
        return Response(status_code=204)

    @r.get("/resources/v2.1/mapping-enrichment/{mapping_id}/map", response_model=RowsOut,
           summary="A mapping's rows (user API key)", description=design, responses={403: forbidden, 404: no_map})
    async def get_mapping_rows(request: Request, mapping_id: str = _map_id(),
                               who: Principal = Depends(principal)) -> dict[str, Any]:
        _, store = _store(request, who, "user", v2)
        return {"rows": list(store.get_map(mapping_id).rows.values())}

    @r.post("/resources/v2.1/mapping-enrichment/{mapping_id}/delta", response_model=DeltaOut,
            summary="Apply a CMDB delta: upserts by key and hash, and deletes (user API key)",
            description=f"{design} An upsert whose hash equals the stored hash counts as unchanged; "
                        "deleting a missing key counts as nothing. Refused whole (400) when a key repeats, "
                        f"is both upserted and deleted, or disagrees with the row's key fields; at most "
                        f"{MAX_DELTA_ITEMS} upserts and {MAX_DELTA_ITEMS} deletes per call. An unknown or "
                        "deleted map answers 404 `mapping <id> is not found (stale mapping)`: re-create it.",
            responses={403: forbidden, 404: doc(404, "Stale mapping: unknown or deleted")})
    async def apply_mapping_delta(request: Request, body: DeltaIn, mapping_id: str = _map_id(),
                                  who: Principal = Depends(principal)) -> dict[str, Any]:
        backend, store = _store(request, who, "user", v2)
        return store.delta(mapping_id, [(u.key, u.hash, u.row) for u in body.upserts], body.deletes,
                           backend.clock.now())

    return r
