"""pysnow, used through its documented API, against the ServiceNow simulator over real HTTP.

The simulator runs with uvicorn in a background thread on a free 127.0.0.1 port; pysnow
talks to it exactly as it would to `https://<instance>.service-now.com`, only with
`host="127.0.0.1:<port>", use_ssl=False`.

What pysnow 0.7.17 does on the wire (read from its source, relied on below):
* every request carries the resource's sysparms, with Python booleans as `requests`
  encodes them: `sysparm_display_value=False`, `sysparm_exclude_reference_link=False`,
  `sysparm_suppress_pagination_header=False` (capitalised), `sysparm_view=`, and on
  GET `sysparm_query`, `sysparm_limit` (10000 unless told), `sysparm_offset`, `sysparm_fields`;
* `get()` is one GET; pysnow never follows the `Link` header, the caller pages with
  `limit`/`offset`. `stream=True` only parses that one response incrementally (ijson);
* `update()` / `delete()` first `get(query).one()`, then PUT / DELETE `<table>/<sys_id>`;
* any 4xx/5xx surfaces as `requests.HTTPError` (pysnow calls `raise_for_status()` before it
  looks at the body); `ResponseError` is only for an `error` object in a 2xx body;
* an empty result is `[]` for `all()`, and `NoResults` for `one()` / `first()`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pysnow
import pytest
import requests
from pysnow.exceptions import MultipleResults, NoResults
from requests.utils import parse_header_links

from bpsn.bench.serve import threaded
from bpsn.load.processes import free_port
from bpsn.simulator.servicenow.app import create_app
from bpsn.simulator.servicenow.backend import ServiceNowBackend
from bpsn.simulator.servicenow.settings import ServiceNowSettings

ADMIN = ("admin", "admin")  # ServiceNowSettings.admin_password
HEX32 = "0123456789abcdef"

# pysnow sends `sysparm_display_value=False` on *every* request, and `True` when a user sets
# `parameters.display_value = True` (the form its docs show): the simulator, like a real
# instance, reads these flags case-insensitively.


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    """The ServiceNow simulator on a free port, in a background thread; always stopped."""
    port = free_port()
    backend = ServiceNowBackend(ServiceNowSettings(instance_url=f"http://127.0.0.1:{port}"))
    with threaded(create_app(backend), port=port) as url:
        yield url


def _client(base_url: str, user: str = ADMIN[0], password: str = ADMIN[1]) -> pysnow.Client:
    return pysnow.Client(host=urlsplit(base_url).netloc, user=user, password=password, use_ssl=False)


@pytest.fixture
def client(base_url: str) -> Iterator[pysnow.Client]:
    with _client(base_url) as c:
        yield c


@pytest.fixture
def incidents(client: pysnow.Client) -> pysnow.Resource:
    return client.resource(api_path="/table/incident")


@pytest.fixture
def tag() -> str:
    """A correlation_id unique to one test, so its queries see only its own records."""
    return f"pysnow-{uuid.uuid4().hex[:12]}"


def _new(resource: pysnow.Resource, tag: str, **fields: str) -> dict:
    return resource.create(payload={"correlation_id": tag, "short_description": f"{tag} incident",
                                    "impact": "2", "urgency": "2", **fields}).one()


def test_client_builds_the_instance_url(base_url: str, client: pysnow.Client,
                                        incidents: pysnow.Resource) -> None:
    assert client.base_url == base_url
    assert incidents.path == "/api/now/table/incident"
    assert incidents.get_record_link("x") == f"{base_url}/api/now/table/incident/x"


def test_create_incident(base_url: str, incidents: pysnow.Resource, tag: str) -> None:
    response = incidents.create(payload={"short_description": "Disk full on web-prod-01",
                                         "impact": "1", "urgency": "1", "correlation_id": tag})
    record = response.one()
    assert record["number"].startswith("INC") and record["number"][3:].isdigit()
    assert len(record["number"]) >= 10
    assert len(record["sys_id"]) == 32 and set(record["sys_id"]) <= set(HEX32)
    assert record["short_description"] == "Disk full on web-prod-01"
    assert record["correlation_id"] == tag
    assert (record["priority"], record["state"], record["active"]) == ("1", "1", "true")
    assert record["sys_created_by"] == "admin" and record["sys_mod_count"] == "0"
    assert response.headers["Location"] == f"{base_url}/api/now/table/incident/{record['sys_id']}"
    again = incidents.get(query={"sys_id": record["sys_id"]}).one()
    assert again["number"] == record["number"]


def test_query_with_a_dict(incidents: pysnow.Resource, tag: str) -> None:
    high = _new(incidents, tag, impact="1", urgency="1")
    _new(incidents, tag, impact="3", urgency="3")
    found = incidents.get(query={"correlation_id": tag, "priority": "1"}).all()
    assert [r["sys_id"] for r in found] == [high["sys_id"]]
    assert len(incidents.get(query={"correlation_id": tag}).all()) == 2


def test_query_with_querybuilder(incidents: pysnow.Resource, tag: str) -> None:
    p1 = [_new(incidents, tag, impact="1", urgency="1") for _ in range(3)]
    _new(incidents, tag, impact="1", urgency="1", state="8")  # canceled: active=false
    _new(incidents, tag, impact="2", urgency="1")  # priority 2
    query = (pysnow.QueryBuilder()
             .field("correlation_id").equals(tag)
             .AND().field("priority").equals("1")
             .AND().field("active").equals("true")
             .AND().field("number").order_descending())
    assert str(query) == f"correlation_id={tag}^priority=1^active=true^ORDERBYDESCnumber"
    found = incidents.get(query=query).all()
    assert [r["number"] for r in found] == sorted((r["number"] for r in p1), reverse=True)
    assert {r["active"] for r in found} == {"true"}

    in_list = (pysnow.QueryBuilder().field("correlation_id").equals(tag)
               .AND().field("priority").equals(["1", "2"])
               .AND().field("number").order_ascending())
    assert len(incidents.get(query=in_list).all()) == 5
    not_p1 = (pysnow.QueryBuilder().field("correlation_id").equals(tag)
              .AND().field("priority").not_equals("1"))
    assert [r["priority"] for r in incidents.get(query=not_p1).all()] == ["2"]


def test_query_with_an_encoded_string(incidents: pysnow.Resource, tag: str) -> None:
    a = _new(incidents, tag, short_description=f"{tag} database down", category="database")
    b = _new(incidents, tag, short_description=f"{tag} network flapping", category="network")
    _new(incidents, tag, short_description=f"{tag} printer jam", category="hardware")
    query = f"correlation_id={tag}^short_descriptionLIKEdown^ORshort_descriptionLIKEflapping^ORDERBYnumber"
    assert [r["sys_id"] for r in incidents.get(query=query).all()] == [a["sys_id"], b["sys_id"]]
    query = f"correlation_id={tag}^categoryINdatabase,network^ORDERBYDESCnumber"
    assert [r["sys_id"] for r in incidents.get(query=query).all()] == [b["sys_id"], a["sys_id"]]


def test_paging_with_limit_and_offset_returns_every_record_once(incidents: pysnow.Resource, tag: str) -> None:
    created = [_new(incidents, tag)["sys_id"] for _ in range(25)]
    query = f"correlation_id={tag}^ORDERBYnumber"
    seen: list[dict] = []
    sizes: list[int] = []
    offset = 0
    while True:  # pysnow does not page: the caller follows rel="next" through `offset`
        response = incidents.get(query=query, limit=7, offset=offset, stream=True)
        page = list(response.all())
        seen += page
        sizes.append(len(page))
        assert response.headers["X-Total-Count"] == "25"
        links = {link["rel"]: link["url"] for link in parse_header_links(response.headers["Link"])}
        if "next" not in links:
            break
        offset = int(parse_qs(urlsplit(links["next"]).query)["sysparm_offset"][0])
    assert sizes == [7, 7, 7, 4]
    ids = [r["sys_id"] for r in seen]
    assert len(ids) == len(set(ids)) == 25
    assert set(ids) == set(created)
    numbers = [r["number"] for r in seen]
    assert numbers == sorted(numbers)

    # the buffered interface, last partial page
    tail = incidents.get(query=query, limit=10, offset=20).all()
    assert [r["sys_id"] for r in tail] == ids[20:]
    assert incidents.get(query=query, limit=10, offset=25).all() == []

    # suppress_pagination_header (kept on the resource by pysnow, so asked for last)
    quiet = incidents.get(query=query, limit=5, suppress_pagination_header=True)
    assert len(quiet.all()) == 5
    assert "Link" not in quiet.headers and quiet.headers["X-Total-Count"] == "25"


def test_one_first_and_one_or_none(incidents: pysnow.Resource, tag: str) -> None:
    first = _new(incidents, tag)
    second = _new(incidents, tag)
    only = incidents.get(query={"number": first["number"]}).one()
    assert only["sys_id"] == first["sys_id"]
    assert incidents.get(query={"number": second["number"]}).one_or_none()["sys_id"] == second["sys_id"]
    with pytest.raises(MultipleResults):
        incidents.get(query={"correlation_id": tag}).one()
    with pytest.raises(MultipleResults):
        incidents.get(query={"correlation_id": tag}).one_or_none()
    ordered = f"correlation_id={tag}^ORDERBYDESCnumber"
    assert incidents.get(query=ordered, stream=True).first()["sys_id"] == second["sys_id"]
    assert incidents.get(query=ordered, stream=True).first_or_none()["number"] == second["number"]
    assert incidents.get(query={"number": first["number"]})["short_description"] == f"{tag} incident"


def test_update(incidents: pysnow.Resource, tag: str) -> None:
    record = _new(incidents, tag, impact="1", urgency="1")
    updated = incidents.update(query={"number": record["number"]},
                               payload={"short_description": "now less urgent", "urgency": "3"}).one()
    assert updated["sys_id"] == record["sys_id"]
    assert updated["short_description"] == "now less urgent"
    assert (updated["urgency"], updated["priority"], updated["sys_mod_count"]) == ("3", "3", "1")

    # Response.update(): the convenience form on a fetched record
    again = incidents.get(query={"sys_id": record["sys_id"]}).update({"state": "2"}).one()
    assert (again["state"], again["incident_state"], again["sys_mod_count"]) == ("2", "2", "2")
    stored = incidents.get(query={"sys_id": record["sys_id"]}).one()
    assert (stored["short_description"], stored["priority"], stored["state"]) == ("now less urgent", "3", "2")
    with pytest.raises(NoResults):  # pysnow looks the record up first
        incidents.update(query={"number": "INC9999999"}, payload={"urgency": "1"})


def test_delete(incidents: pysnow.Resource, tag: str) -> None:
    keep = _new(incidents, tag)
    gone = _new(incidents, tag)
    assert incidents.delete(query={"sys_id": gone["sys_id"]}) == {"status": "record deleted"}
    assert incidents.get(query={"sys_id": gone["sys_id"]}).one_or_none() is None
    assert [r["sys_id"] for r in incidents.get(query={"correlation_id": tag}).all()] == [keep["sys_id"]]
    # Response.delete() on a fetched record
    assert incidents.get(query={"sys_id": keep["sys_id"]}).delete() == {"status": "record deleted"}
    assert incidents.get(query={"correlation_id": tag}).all() == []
    with pytest.raises(NoResults):
        incidents.delete(query={"sys_id": gone["sys_id"]})


def test_a_query_with_no_match(incidents: pysnow.Resource, tag: str) -> None:
    response = incidents.get(query={"correlation_id": tag})
    assert response.all() == []
    assert response.headers["X-Total-Count"] == "0"
    assert incidents.get(query={"correlation_id": tag}).one_or_none() is None
    with pytest.raises(NoResults):
        incidents.get(query={"correlation_id": tag}).one()
    assert list(incidents.get(query={"correlation_id": tag}, stream=True).all()) == []
    assert incidents.get(query={"correlation_id": tag}, stream=True).first_or_none() is None
    with pytest.raises(NoResults):
        incidents.get(query={"correlation_id": tag}, stream=True).first()


def test_v1_answers_no_match_with_404(client: pysnow.Client, tag: str) -> None:
    v1 = client.resource(api_path="/v1/table/incident")
    with pytest.raises(requests.HTTPError) as err:
        v1.get(query={"correlation_id": tag}).all()
    assert err.value.response.status_code == 404
    assert err.value.response.json() == {
        "error": {"message": "No Record found",
                  "detail": "Records matching query not found. Check query parameter or offset parameter"},
        "status": "failure"}


def test_missing_sys_id_is_a_404(incidents: pysnow.Resource, tag: str) -> None:
    record = _new(incidents, tag)
    got = incidents.request("GET", path_append=f"/{record['sys_id']}").one()
    assert got["number"] == record["number"]
    with pytest.raises(requests.HTTPError) as err:
        incidents.request("GET", path_append="/" + "0" * 32).one()
    assert err.value.response.status_code == 404
    assert err.value.response.json()["error"]["message"] == "No Record found"
    assert err.value.response.json()["status"] == "failure"


def _user(client: pysnow.Client, email: str) -> dict:
    return client.resource(api_path="/table/sys_user").get(query={"email": email}).one()


def test_display_values_reference_links_and_fields(base_url: str, client: pysnow.Client,
                                                   incidents: pysnow.Resource, tag: str) -> None:
    alice = _user(client, "alice.ops@example.com")
    record = _new(incidents, tag, impact="1", urgency="1", caller_id=alice["sys_id"])
    link = f"{base_url}/api/now/table/sys_user/{alice['sys_id']}"
    raw = incidents.get(query={"sys_id": record["sys_id"]}).one()
    assert raw["caller_id"] == {"link": link, "value": alice["sys_id"]}
    assert (raw["priority"], raw["state"]) == ("1", "1")

    shown = client.resource(api_path="/table/incident")
    shown.parameters.display_value = True
    rec = shown.get(query={"sys_id": record["sys_id"]}).one()
    assert rec["caller_id"] == {"display_value": "Alice Ops", "link": link}
    assert (rec["priority"], rec["state"], rec["impact"]) == ("1 - Critical", "New", "1 - High")
    assert rec["number"] == record["number"]

    shown.parameters.exclude_reference_link = True
    rec = shown.get(query={"sys_id": record["sys_id"]}).one()
    assert rec["caller_id"] == "Alice Ops"

    plain = client.resource(api_path="/table/incident")
    rec = plain.get(query={"sys_id": record["sys_id"]}, exclude_reference_link=True).one()
    assert rec["caller_id"] == alice["sys_id"]

    both = client.resource(api_path="/table/incident")
    both.parameters.display_value = "all"
    rec = both.get(query={"sys_id": record["sys_id"]}).one()
    assert rec["state"] == {"display_value": "New", "value": "1"}
    assert rec["caller_id"] == {"display_value": "Alice Ops", "value": alice["sys_id"], "link": link}

    # a fresh resource: pysnow keeps get()'s exclude_reference_link on the resource it was given to
    rec = client.resource(api_path="/table/incident").get(
        query={"sys_id": record["sys_id"]}, fields=["number", "caller_id", "caller_id.email", "no_such_field"]).one()
    assert rec == {"number": record["number"], "caller_id": {"link": link, "value": alice["sys_id"]},
                   "caller_id.email": "alice.ops@example.com"}


def test_bad_password_is_a_401(base_url: str) -> None:
    with _client(base_url, "admin", "wrong-password") as bad:
        incidents = bad.resource(api_path="/table/incident")
        with pytest.raises(requests.HTTPError) as err:
            incidents.get(query={"active": "true"}).all()
        assert err.value.response.status_code == 401
        assert err.value.response.json() == {
            "error": {"message": "User Not Authenticated", "detail": "Required to provide Auth information"},
            "status": "failure"}
        with pytest.raises(requests.HTTPError) as err:
            incidents.create(payload={"short_description": "never stored"}).one()
        assert err.value.response.status_code == 401
    with _client(base_url, "nobody.at.all", "x") as unknown:
        with pytest.raises(requests.HTTPError) as err:
            unknown.resource(api_path="/table/sys_user").get(query={}).all()
        assert err.value.response.status_code == 401


def test_sys_user_by_email(client: pysnow.Client, tag: str) -> None:
    users = client.resource(api_path="/table/sys_user")
    admin = users.get(query={"email": "admin@example.com"}).one()
    assert (admin["user_name"], admin["name"], admin["active"]) == ("admin", "System Administrator", "true")
    assert len(admin["sys_id"]) == 32

    email = f"{tag}@example.com"
    created = users.create(payload={"user_name": tag, "first_name": "Pat", "last_name": "Snow",
                                    "name": "Pat Snow", "email": email}).one()
    found = users.get(query={"email": email}, fields=["sys_id", "user_name", "email"]).one()
    assert found == {"sys_id": created["sys_id"], "user_name": tag, "email": email}
    assert users.get(query={"email": f"nobody-{tag}@example.com"}).one_or_none() is None
