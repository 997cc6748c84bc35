"""Mapping enrichment through HTTP: v1 CSV tables and jobs, row operations, v2.x row operations
and jobs, and the CMDB delta sync (hash-based unchanged rows, stale-mapping 404)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from bpsn.simulator.bigpanda.backend import BigPandaBackend
from bpsn.simulator.bigpanda.enrichment.store import row_hash
from bpsn.testing import call_asgi

ORG = {"Authorization": "Bearer demo-org-token"}
USER = {"Authorization": "Bearer BPUdemo-user-key"}
CSV = {**ORG, "Content-Type": "text/csv"}
V1 = "/resources/v1.0/enrichments"
V2 = "/resources/v2.1/mapping-enrichment"
TABLE = b"host,owner,tier\nweb-01,sre,1\nweb-02,sre,2\ndb-01,dba,1\n"


class Api:
    def __init__(self, backend: BigPandaBackend, app: FastAPI) -> None:
        self.backend, self.app = backend, app
        backend.reset()  # one app per worker (building it takes a second), fresh state per test
        self.org = backend.orgs["demo"]
        self.org.rate_limits.enabled = False  # these tests send bursts on a frozen clock

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return call_asgi(self.app, method, url, base_url="http://bp.test", **kwargs)

    def upload(self, map_id: str, data: bytes, **kwargs: Any) -> dict[str, Any]:
        """Upload, follow Location, return the job."""
        r = self.request("POST", f"{V1}/{map_id}/map", headers=kwargs.pop("headers", CSV), content=data, **kwargs)
        assert r.status_code == 202, r.text
        location = r.headers["location"]
        assert r.json() == {"status": 202, "data": {"job_id": location.rsplit("/", 1)[1]}}
        job = self.request("GET", location, headers=ORG)
        assert job.status_code == 200, job.text
        return job.json()

    def rows(self, map_id: str) -> dict[str, dict[str, str]]:
        r = self.request("GET", f"{V2}/{map_id}/map", headers=USER)
        assert r.status_code == 200, r.text
        return {row["host"] if "host" in row else row.get("sys_id", ""): row for row in r.json()["rows"]}

    def meta(self, map_id: str) -> dict[str, Any]:
        r = self.request("GET", f"{V2}/{map_id}", headers=USER)
        assert r.status_code == 200, r.text
        return r.json()

    def patch(self, map_id: str, ops: Any) -> httpx.Response:
        return self.request("PATCH", f"{V1}/{map_id}/map", headers=ORG, json=ops)

    def create_map(self, name: str = "snow_cmdb_cmdb_ci_server", key_fields: list[str] | None = None) -> str:
        r = self.request("POST", V2, headers=USER, json={"name": name, "key_fields": key_fields or ["sys_id"]})
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def delta(self, map_id: str, upserts: list[dict[str, Any]] | None = None,
              deletes: list[str] | None = None) -> httpx.Response:
        return self.request("POST", f"{V2}/{map_id}/delta", headers=USER,
                            json={"upserts": upserts or [], "deletes": deletes or []})


@pytest.fixture
def api(shared_bigpanda: tuple[BigPandaBackend, FastAPI]) -> Api:
    return Api(*shared_bigpanda)  # the worker's simulator, as a new one for this module (conftest.py)


def errors(r: httpx.Response, status: int = 400) -> str:
    assert r.status_code == status, r.text
    assert r.json()["status"] == status
    return " | ".join(r.json()["errors"])


# --- v1 CSV upload and jobs --------------------------------------------------------------------

def test_upload_creates_the_table_and_the_job_reports_done(api: Api) -> None:
    job = api.upload("servers", TABLE)
    assert job["status"] == "done" and job["errors"] == [] and job["rows"] == 3 and job["map_id"] == "servers"
    prefix, epoch, suffix = job["id"].rsplit("_", 2)
    assert len(prefix) == 36 and epoch == "1767225600" and suffix == "indexcsv"
    meta = api.meta("servers")
    assert meta["schema"] == ["host", "owner", "tier"] and meta["key_fields"] == ["host"]  # first column
    assert meta["row_count"] == 3
    assert meta["digest"]["web-01"] == row_hash({"host": "web-01", "owner": "sre", "tier": "1"})
    # the same job through the v2 endpoint, with the user key
    v2 = api.request("GET", f"/resources/v2.0/alerts-enrichments-jobs/{job['id']}", headers=USER)
    assert v2.status_code == 200 and v2.json() == job


def test_upload_replaces_the_whole_table(api: Api) -> None:
    api.upload("servers", TABLE)
    job = api.upload("servers", b"host,owner,tier\nweb-09,sre,3\nweb-10,ops,3\n")
    assert job["status"] == "done"
    assert set(api.rows("servers")) == {"web-09", "web-10"}


def test_key_query_on_first_upload(api: Api) -> None:
    assert api.upload("pairs", b"a,b,c\n1,x,p\n1,y,q\n", params={"key": "a,b"})["status"] == "done"
    assert api.meta("pairs")["key_fields"] == ["a", "b"]
    assert set(api.meta("pairs")["digest"]) == {"1|x", "1|y"}
    job = api.upload("pairs", b"a,b,c\n1,x,p\n2,y,q\n", params={"key": "c"})
    assert job["status"] == "failed" and "differs from the map's key fields (a, b)" in job["errors"][0]
    job = api.upload("other", b"a,b\n1,2\n3,4\n", params={"key": "zz"})
    assert job["errors"] == ["the header lacks the key field(s) zz"]


@pytest.mark.parametrize(("csv", "message"), [
    (b"host,owner,tier\nweb-01,sre,1\nweb-02,sre,2", "the CSV must end with a newline"),
    (b"host,owner\nweb-01,sre\nweb-02,sre\n",
     "the header (host, owner) does not equal the map's schema (host, owner, tier)"),
    (b"host,tier,owner\nweb-01,1,sre\nweb-02,2,sre\n", "does not equal the map's schema"),
    (b"host,owner,tier\nweb-01,sre,1\n", "the CSV has 1 data row(s); at least 2 are required"),
    (b"host,owner,tier\n", "the CSV has 0 data row(s); at least 2 are required"),
    (b"host,owner,tier\nweb-01,sre,1\nweb-02,sre,2\nweb-01,sre,1\n", "row 3 duplicates row 1; rows must be unique"),
    (b"host,owner,tier\nweb-01,sre,1\nweb-01,dba,2\n", "rows 1 and 2 have the same key (web-01)"),
    (b"host,owner,tier\nweb-01,sre,1\n,sre,2\n", "row 2: key field(s) host must not be empty"),
    (b"host,owner,tier\nweb-01,sre\nweb-02,sre,2\n", "row 1 has 2 fields; the header has 3"),
    (b"host,owner,tier\nweb-01," + b"x" * 32769 + b",1\nweb-02,sre,2\n",
     "row 1, column 'owner': 32769 characters; at most 32768 are allowed"),
    (b"host,owner,tier\nweb-01,\xff\xfe,1\nweb-02,sre,2\n", "the CSV is not UTF-8 text"),
    (b"host,host,tier\nweb-01,sre,1\nweb-02,sre,2\n", "the header repeats a column: host"),
])
def test_each_csv_rule_fails_the_job_and_changes_nothing(api: Api, csv: bytes, message: str) -> None:
    api.upload("servers", TABLE)
    before = api.meta("servers")
    job = api.upload("servers", csv)
    assert job["status"] == "failed" and job["rows"] == 0
    assert any(message in e for e in job["errors"]), job["errors"]
    assert api.meta("servers") == before


def test_32k_fields_pass_and_a_failed_first_upload_creates_no_map(api: Api) -> None:
    big = b"x" * 32768
    assert api.upload("big", b"k,v\n1," + big + b"\n2,y\n")["status"] == "done"
    assert api.upload("never", b"k,v\n1,2\n")["status"] == "failed"
    assert errors(api.request("GET", f"{V2}/never", headers=USER), 404) == "mapping never is not found"


def test_quoted_fields_and_blank_lines(api: Api) -> None:
    job = api.upload("q", b'host,note\n"web-01","a, b"\n\n"web-02","multi\nline"\n')
    assert job["status"] == "done" and job["rows"] == 2
    assert api.rows("q")["web-02"]["note"] == "multi\nline"


def test_upload_request_errors(api: Api) -> None:
    r = api.request("POST", f"{V1}/servers/map", headers={**ORG, "Content-Type": "application/json"}, content=TABLE)
    assert "Content-Type must be text/csv" in errors(r)
    assert "needs an org token" in errors(api.request("POST", f"{V1}/servers/map", headers={
        **USER, "Content-Type": "text/csv"}, content=TABLE), 403)
    assert errors(api.request("POST", f"{V1}/servers/map", content=TABLE), 401)
    missing = api.request("GET", "/resources/v1.0/enrichment-jobs/nope", headers=ORG)
    assert "job nope is not found" in errors(missing, 404)
    assert errors(api.request("GET", "/resources/v2.0/alerts-enrichments-jobs/nope", headers=USER), 404)
    assert "needs a user API key" in errors(
        api.request("GET", "/resources/v2.0/alerts-enrichments-jobs/nope", headers=ORG), 403)


# --- row operations ----------------------------------------------------------------------------

def test_v1_row_operations(api: Api) -> None:
    api.upload("servers", TABLE)
    r = api.patch("servers", [
        {"op": "create", "value": {"host": "web-03", "owner": "sre", "tier": 3}},
        {"op": "update", "value": {"host": "web-01", "owner": "ops"}},
        {"op": "delete", "value": {"host": "db-01"}},  # only the key field
        {"op": "upsert", "value": {"host": "web-02", "tier": "9"}},
        {"op": "upsert", "value": {"host": "cache-01", "owner": "sre", "tier": "1"}},
    ])
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["status"] == "done" and out["applied"] == 5 and out["rows"] == 4 and out["job_id"].endswith("_patch")
    rows = api.rows("servers")
    assert rows["web-01"] == {"host": "web-01", "owner": "ops", "tier": "1"}  # merged
    assert rows["web-02"]["tier"] == "9" and rows["web-03"]["tier"] == "3" and "db-01" not in rows
    assert api.meta("servers")["digest"]["web-01"] == row_hash(rows["web-01"])
    job = api.request("GET", f"/resources/v1.0/enrichment-jobs/{out['job_id']}", headers=ORG).json()
    assert job["status"] == "done" and job["kind"] == "patch"


@pytest.mark.parametrize(("op", "message"), [
    ({"op": "create", "value": {"host": "web-01", "owner": "x"}},
     "operations[1] (create): a row with key 'web-01' already exists"),
    ({"op": "update", "value": {"host": "nope", "owner": "x"}}, "operations[1] (update): no row with key 'nope'"),
    ({"op": "delete", "value": {"host": "nope"}}, "operations[1] (delete): no row with key 'nope'"),
    ({"op": "upsert", "value": {"owner": "x"}}, "operations[1] (upsert): the value lacks the key field(s) host"),
])
def test_row_operations_are_all_or_nothing(api: Api, op: dict[str, Any], message: str) -> None:
    api.upload("servers", TABLE)
    before = api.meta("servers")
    r = api.patch("servers", [{"op": "create", "value": {"host": "new-01", "owner": "sre", "tier": "1"}}, op])
    assert message in errors(r)
    assert api.meta("servers") == before  # the valid first operation was not kept either


def test_at_most_100_operations(api: Api) -> None:
    api.upload("servers", TABLE)
    ops = [{"op": "upsert", "value": {"host": f"h-{i}", "owner": "x", "tier": "1"}} for i in range(101)]
    assert "send 1 to 100 operations per request (got 101)" in errors(api.patch("servers", ops))
    assert "got 0" in errors(api.patch("servers", []))
    assert api.meta("servers")["row_count"] == 3
    r = api.patch("servers", ops[:100])
    assert r.status_code == 200 and r.json()["rows"] == 103


def test_row_operation_request_errors(api: Api) -> None:
    assert "mapping nope is not found" in errors(
        api.patch("nope", [{"op": "delete", "value": {"host": "x"}}]), 404)
    api.upload("servers", TABLE)
    assert "op" in errors(api.patch("servers", [{"op": "replace", "value": {"host": "x"}}]))
    assert "value" in errors(api.patch("servers", [{"op": "create", "value": {"host": {"nested": 1}}}]))


def test_v2_single_row_operation_and_its_job(api: Api) -> None:
    api.upload("servers", TABLE)
    r = api.request("PATCH", f"{V2}/servers/map", headers=USER,
                    json={"op": "update", "value": {"host": "web-02", "owner": "dba"}})
    assert r.status_code == 200, r.text
    assert api.rows("servers")["web-02"]["owner"] == "dba" and r.json()["applied"] == 1
    job = api.request("GET", f"/resources/v2.0/alerts-enrichments-jobs/{r.json()['job_id']}", headers=USER)
    assert job.status_code == 200 and job.json()["status"] == "done" and job.json()["kind"] == "rowop"
    assert "a row with key 'web-02' already exists" in errors(api.request(
        "PATCH", f"{V2}/servers/map", headers=USER, json={"op": "create", "value": {"host": "web-02"}}))
    assert "needs a user API key" in errors(api.request(
        "PATCH", f"{V2}/servers/map", headers=ORG, json={"op": "delete", "value": {"host": "web-02"}}), 403)


# --- CMDB delta sync -----------------------------------------------------------------------------

def server(sys_id: str, name: str) -> dict[str, Any]:
    row = {"sys_id": sys_id, "name": name}
    return {"key": sys_id, "hash": row_hash(row), "row": row}


def test_delta_upserts_deletes_and_unchanged_by_hash(api: Api) -> None:
    map_id = api.create_map()
    meta = api.meta(map_id)
    assert meta["name"] == "snow_cmdb_cmdb_ci_server" and meta["row_count"] == 0 and meta["digest"] == {}
    r = api.delta(map_id, [server("a", "alpha"), server("b", "beta"), server("c", "gamma")])
    assert r.status_code == 200 and r.json() == {"upserted": 3, "deleted": 0, "unchanged": 0}
    r = api.delta(map_id, [server("a", "alpha"), server("b", "BETA")], deletes=["c", "never-there"])
    assert r.json() == {"upserted": 1, "deleted": 1, "unchanged": 1}
    meta = api.meta(map_id)
    assert meta["row_count"] == 2 and meta["schema"] == ["sys_id", "name"]
    assert meta["digest"] == {"a": server("a", "alpha")["hash"], "b": server("b", "BETA")["hash"]}
    # the client's hash is stored as given: a new hash with the same row still counts as a change
    r = api.delta(map_id, [{"key": "a", "hash": "v2", "row": {"sys_id": "a", "name": "alpha"}}])
    assert r.json() == {"upserted": 1, "deleted": 0, "unchanged": 0} and api.meta(map_id)["digest"]["a"] == "v2"
    listed = api.request("GET", V2, headers=USER).json()["maps"]
    assert [m["id"] for m in listed] == [map_id] and listed[0]["row_count"] == 2


def test_delta_is_refused_whole(api: Api) -> None:
    map_id = api.create_map()
    api.delta(map_id, [server("a", "alpha")])
    before = api.meta(map_id)
    message = errors(api.delta(map_id, [server("b", "beta"), server("b", "beta2"), server("a", "x")],
                               deletes=["a"]))
    assert "upserts: key 'b' appears more than once" in message
    assert "key 'a' is both upserted and deleted" in message
    bad = {"key": "x", "hash": "h", "row": {"sys_id": "y"}}
    assert "upserts[0]: key 'x' does not match the row's key fields ('y')" in errors(api.delta(map_id, [bad]))
    assert errors(api.delta(map_id, [{"key": "", "hash": "h", "row": {}}]))
    assert api.meta(map_id) == before


def test_stale_mapping_answers_404_and_can_be_recreated(api: Api) -> None:
    map_id = api.create_map()
    api.delta(map_id, [server("a", "alpha")])
    assert api.request("DELETE", f"{V2}/{map_id}", headers=USER).status_code == 204  # deleted on BigPanda's side
    r = api.delta(map_id, [server("a", "alpha")])
    assert errors(r, 404) == f"mapping {map_id} is not found (stale mapping)"
    assert errors(api.delta("never-existed"), 404) == "mapping never-existed is not found (stale mapping)"
    assert errors(api.request("DELETE", f"{V2}/{map_id}", headers=USER), 404)
    assert errors(api.request("GET", f"{V2}/{map_id}", headers=USER), 404)
    new_id = api.create_map()  # the name is free again
    assert new_id != map_id
    assert api.delta(new_id, [server("a", "alpha")]).json() == {"upserted": 1, "deleted": 0, "unchanged": 0}


def test_map_creation_rules(api: Api) -> None:
    api.create_map("snow_cmdb_a")
    r = api.request("POST", V2, headers=USER, json={"name": "snow_cmdb_a", "key_fields": ["sys_id"]})
    assert "a mapping named 'snow_cmdb_a' already exists" in errors(r, 409)
    assert errors(api.request("POST", V2, headers=USER, json={"name": "x", "key_fields": []}))
    for keys, message in ((["a", "a"], "must not repeat"), ([" "], "must not be blank")):
        assert message in errors(api.request("POST", V2, headers=USER, json={"name": "x", "key_fields": keys}))
    assert api.create_map("any name works", ["a", "b"])
    r = api.request("POST", V2, headers=ORG, json={"name": "y", "key_fields": ["k"]})
    assert "needs a user API key" in errors(r, 403)


def test_delta_then_csv_must_match_the_schema(api: Api) -> None:
    map_id = api.create_map("snow_cmdb_x", ["host"])
    api.delta(map_id, [{"key": "h1", "hash": "1", "row": {"host": "h1", "owner": "sre"}}])
    job = api.upload(map_id, b"host,tier\nh1,1\nh2,2\n")
    assert job["status"] == "failed" and "does not equal the map's schema (host, owner)" in job["errors"][0]
    assert api.upload(map_id, b"host,owner\nh1,a\nh2,b\n")["status"] == "done"
