"""A JOIN or RLQUERY reaches another table only when the caller may read it (the Table API's own
read ACL, as for the table queried): noc.analyst, who may not read incident, cannot use one to
learn about incidents."""

from __future__ import annotations

from typing import Any

import pytest

from bpsn.base.clock import SimClock
from bpsn.simulator.servicenow.app import create_app
from bpsn.simulator.servicenow.backend import ServiceNowBackend
from bpsn.testing import call_asgi

ANALYST = ("noc.analyst", "analyst")
ADMIN = ("admin", "admin")


@pytest.fixture(scope="module")
def app() -> Any:
    return create_app(ServiceNowBackend(clock=SimClock.virtual()))


@pytest.mark.parametrize("query", [
    "JOINx_bip_panda_incident_metadata.u_incident=incident.sys_id!active=true",
    "RLQUERYincident.caller_id,>=1^active=true^ENDRLQUERY",
])
def test_a_subquery_into_a_table_the_caller_cannot_read_is_refused(app: Any, query: str) -> None:
    table = "x_bip_panda_incident_metadata" if query.startswith("JOIN") else "sys_user"
    refused = call_asgi(app, "GET", f"/api/now/table/{table}", base_url="http://sn", auth=ANALYST,
                        params={"sysparm_query": query})
    assert refused.status_code == 403, refused.text
    allowed = call_asgi(app, "GET", f"/api/now/table/{table}", base_url="http://sn", auth=ADMIN,
                        params={"sysparm_query": query})
    assert allowed.status_code == 200, allowed.text
