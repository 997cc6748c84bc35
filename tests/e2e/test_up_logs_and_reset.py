"""`bpsn up` logs a line per ticket created and updated, retry, fault fired and 429, never a secret;
one POST /_sim/reset on either simulator resets both simulators and the core."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from bpsn_up_process import UpProcess, bpsn, bpsn_up, eventually

from bpsn.load.processes import child_env

pytestmark = pytest.mark.e2e
LINE = r"^\S+Z INFO  {logger}: {message}"


def logged(up: UpProcess, logger: str, message: str) -> list[str]:
    return re.findall(LINE.format(logger=re.escape(logger), message=message) + ".*$", up.text(), re.MULTILINE)


def test_a_line_per_ticket_retry_fault_and_429_and_never_a_secret(tmp_path: Path) -> None:
    secrets = {"BPSN_BP_USER_API_KEY": "BPUuser-key-from-the-vault",
               "BPSN_SN_INTEGRATION_PASSWORD": "sn-password-from-the-vault"}
    with bpsn_up(tmp_path, "--poll-interval", "0.2", env=secrets) as up:
        fault = up.sn_admin("POST", "/faults", json={"method": "POST", "path": "/api/now", "status": 503, "times": 1})
        assert fault.status_code == 201, fault.text
        assert up.send_alert("web-logs-01").is_success
        ticket = eventually(up.tickets, "the ticket, after one 503 and a retry")[0]
        assert up.send_alert("web-logs-01", status="ok").is_success  # resolves the incident: the ticket is updated
        eventually(lambda: logged(up, "bpsn.integration", "ticket updated: "), "a ticket updated line")

        limits = up.bp_admin("PUT", "/organizations/demo/rate-limits", json={"alerts_per_second": 1})
        assert limits.status_code == 200, limits.text
        answers = [up.send_alert(f"web-burst-{i}").status_code for i in range(3)]
        assert 429 in answers, answers
    created = logged(up, "bpsn.integration", r"ticket created: incident=\S+ ticket=\S+ sys_id=\S+")
    # the burst's alert that got in opens an incident of its own: its ticket may be created before the stop
    mine = [line for line in created if f" ticket={ticket['number']} " in line]
    assert len(mine) == 1 and f"sys_id={ticket['sys_id']}" in mine[0], created
    assert len(created) == len({re.search(r" ticket=(\S+) ", line).group(1) for line in created}), created  # type: ignore[union-attr]
    assert len(logged(up, "bpsn.integration", f"ticket updated: incident=\\S+ ticket={ticket['number']} ")) >= 1
    assert logged(up, "bpsn.simulator.faults",
                  r"fault fired: rule=1 method=POST path=/api/now\S* status=503 fired=1/1$"), up.text()
    assert logged(up, "bpsn.integration.retry", r"retry: POST /api/now\S* reason=503 attempt=2/\d+ wait="), up.text()
    assert len(logged(up, "bpsn.simulator.bigpanda.rate_limit",
                      r"429 answered: simulator=bigpanda limit=alerts path=/data/v2/alerts retry_after=\d+s early_retry=(?:True|False)$")) == answers.count(429)
    out = up.text()
    for value in secrets.values():
        assert value not in out


def polls(up: UpProcess) -> int:
    return int(up.bp_admin("GET", "/journal", params={"path": "/integrations/v3/servicenow/shares"}).json()["total"])


RULES = """
- name: Database hosts
  conditions: [{alert_tag: host, operator: starts_with, value: "db-"}]
  actions: [{action: set_field, field: category, value: database}]
"""


def test_one_reset_on_either_simulator_resets_both_and_the_core(tmp_path: Path) -> None:
    with bpsn_up(tmp_path, "--poll-interval", "0.2") as up:
        (tmp_path / "rules.yaml").write_text(RULES)
        saved = subprocess.run(bpsn("rules", "save", "rules.yaml"), cwd=tmp_path, capture_output=True, text=True, check=False,
                               timeout=60, env=child_env(BPSN_SERVICENOW_URL=up.servicenow_url,
                                                         BPSN_BIGPANDA_URL=up.bigpanda_url))
        assert saved.returncode == 0, saved.stdout + saved.stderr
        assert up.send_alert("db-reset-01").is_success
        before = eventually(up.tickets, "the first ticket")
        assert len(before) == 1 and before[0]["category"] == "database"  # the core has read the rule (and keeps it)
        for admin in (up.bp_admin, up.sn_admin):
            assert admin("POST", "/faults", json={"path": "/no-such-path", "status": 500}).status_code == 201
            assert admin("POST", "/clock/advance", json={"seconds": 86400}).status_code == 200

        refused = httpx.post(f"{up.servicenow_url}/_sim/reset", timeout=10)  # no credentials: nothing happens
        assert refused.status_code == 401
        assert len(up.tickets()) == 1

        started = time.time()
        assert up.sn_admin("POST", "/reset").status_code == 200
        for admin in (up.bp_admin, up.sn_admin):
            assert admin("GET", "/faults").json() == []
            assert abs(admin("GET", "/clock").json()["now"] - started) < 60  # the day's advance is gone
        assert up.tickets() == []
        sent = up.bp_admin("GET", "/journal", params={"path": "/data/v2/alerts"}).json()
        assert sent["total"] == 0  # the journal is fresh: the first alert is not in it

        # The same alert again. The rule is gone with ServiceNow's state; a core that remembered the rules
        # it read (it keeps them a minute) would still file the ticket under "database".
        assert up.send_alert("db-reset-01").is_success
        after = eventually(up.tickets, "the ticket in the fresh state")
        polled = polls(up)
        eventually(lambda: polls(up) >= polled + 5, "five more polls: a second ticket would have had its chance")
        assert [t["sys_id"] for t in up.tickets()] == [after[0]["sys_id"]]
        assert after[0]["category"] != "database"

        # from BigPanda's URL, the clock untouched since the last reset: ServiceNow is reset all the same
        assert up.bp_admin("POST", "/reset").status_code == 200
        assert up.tickets() == []
        assert up.bp_admin("GET", "/journal", params={"path": "/data/v2/alerts"}).json()["total"] == 0
    assert len(re.findall(r"ticket created: ", up.text())) == 2
