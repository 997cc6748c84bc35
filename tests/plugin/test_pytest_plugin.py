"""The pytest plugin as a user meets it: suites of their own, run by pytester, with no conftest.

Each inner suite gets the plugin from the installed distribution's `pytest11` entry point.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

# Installed plugins these inner suites never use and `make test` leaves out of the outer session:
# each in-process run would import them again (pytester drops the modules a run imported), ~1 s each.
UNUSED_PLUGINS = ("-p", "no:faker", "-p", "no:schemathesis")


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:randomly", *UNUSED_PLUGINS, *args)


def test_each_test_starts_from_the_seeded_state(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_fresh=textwrap.dedent('''
        def test_a_dirty_test(bpsn_bench):
            assert bpsn_bench.send_alerts({"status": "critical", "host": "web-1", "check": "cpu"}).status_code == 201
            assert bpsn_bench.poll().created == 1
            bpsn_bench.clock.advance(3600)
            bpsn_bench.faults.servicenow.add(status=503, path="/api/now/v1/batch")
            bpsn_bench.runner.engine.settings.namespace  # the core is used

        def test_the_next_test_sees_none_of_it(bpsn_bench):
            assert bpsn_bench.journal.requests() == []
            assert bpsn_bench.tickets() == []
            assert bpsn_bench.clock.now() == 1_767_225_600.0
            assert bpsn_bench.faults.servicenow.list() == [] and bpsn_bench.faults.bigpanda.list() == []
            assert bpsn_bench.poll().shares == 0  # the core holds no memory of the last test's incident
    '''))
    run(pytester).assert_outcomes(passed=2)


def test_a_marker_configures_the_core(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", settings=textwrap.dedent('''
        assignment_group: Network Operations
        close_code: Solution provided
    '''))
    pytester.makepyfile(test_marker=textwrap.dedent('''
        import pytest

        @pytest.mark.bpsn("settings.yaml", incidents={"close_code": "Closed/Resolved by Caller"})
        def test_configured(bpsn_bench):
            assert bpsn_bench.incident_settings.assignment_group == "Network Operations"
            assert bpsn_bench.incident_settings.close_code == "Closed/Resolved by Caller"
            bpsn_bench.send_alerts({"status": "critical", "host": "web-1", "check": "cpu"})
            bpsn_bench.poll()
            (ticket,) = bpsn_bench.tickets()
            group = bpsn_bench.servicenow_client.get(f"/api/now/table/sys_user_group/{ticket['assignment_group']}")
            assert group.json()["result"]["name"] == "Network Operations"

        def test_unconfigured(bpsn_bench):
            assert bpsn_bench.incident_settings.assignment_group == ""

        @pytest.mark.bpsn(incidents={"asignment_group": "x"})
        def test_misspelt(bpsn_bench):
            pass
    '''))
    result = run(pytester)
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*unknown settings asignment_group*"])


def test_a_failed_verification_lists_the_near_misses(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_verify=textwrap.dedent('''
        def test_verify(bpsn_bench):
            bpsn_bench.send_alerts({"status": "critical", "host": "web-1", "check": "cpu"})
            bpsn_bench.poll()
            bpsn_bench.journal.assert_requested("POST", "/data/v2/alerts", count=1)
            bpsn_bench.journal.assert_requested("POST", "/api/now/table/*", at_least=1)
            bpsn_bench.journal.assert_requested("POST", "/api/now/import/x_bip_panda_shareincidnt/insertMultiple",
                                                count=1)
    '''))
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*expected exactly 1 POST /api/now/import/x_bip_panda_shareincidnt/insertMultiple on servicenow; found 0.*",
        "*near misses, closest first:*",
        "*servicenow POST /api/now/import/x_bip_panda_shareincident/insertMultiple*-> 201*"])


def test_the_stack_serves_real_http_and_resets_between_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_stack=textwrap.dedent('''
        import httpx

        def test_one(bpsn_stack):
            c = bpsn_stack.credentials
            with httpx.Client(base_url=bpsn_stack.servicenow_url, auth=(c.servicenow_admin, c.servicenow_admin_password)) as sn:
                assert sn.get("/api/now/table/incident").json()["result"] == []
            assert bpsn_stack.send_alerts({"status": "critical", "host": "db-1", "check": "disk"}).status_code == 201
            assert bpsn_stack.poll().created == 1
            bpsn_stack.clock.advance(60)
            # the tickets, as staging rows: one insertMultiple (the share-staging companion makes another)
            bpsn_stack.journal.assert_requested("POST", "/api/now/import/x_bip_panda_shareincident/insertMultiple",
                                                at_least=1)

        def test_two(bpsn_stack):
            assert bpsn_stack.tickets() == []
            assert bpsn_stack.clock.now() == 1_767_225_600.0
            r = bpsn_stack.bigpanda_client.get("/resources/v2.0/environments")
            assert r.status_code == 200
    '''))
    run(pytester).assert_outcomes(passed=2)


def test_sync_and_async_clients_work_in_process(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_clients=textwrap.dedent('''
        import asyncio
        import httpx

        def test_clients(bpsn_bench):
            with httpx.Client(transport=bpsn_bench.transport("servicenow"), base_url=bpsn_bench.servicenow_url,
                              auth=("admin", "admin")) as sync:
                assert sync.get("/api/now/table/sys_user", params={"sysparm_limit": 1}).status_code == 200

            async def go():
                async with httpx.AsyncClient(transport=bpsn_bench.transport("bigpanda"),
                                             base_url=bpsn_bench.bigpanda_url) as client:
                    return await client.get("/_sim/health")
            assert asyncio.run(go()).status_code == 200
    '''))
    run(pytester).assert_outcomes(passed=1)


def test_a_users_feature_runs_on_the_step_library(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", settings="assignment_group: Service Desk\n")
    pytester.makefile(".feature", mine=textwrap.dedent('''
        Feature: My team's tickets
          Scenario: A critical alert opens a ticket for the Service Desk
            Given the core runs with the settings in "settings.yaml"
            When a monitoring tool sends a critical alert for host "web-prod-01" check "CPU load"
            And the core polls BigPanda
            Then ServiceNow has 1 incident for that BigPanda incident
            And the ticket's "assignment_group" is the sys_user_group "Service Desk"
    '''))
    pytester.makepyfile(test_mine='from pytest_bdd import scenarios\n\nscenarios("mine.feature")\n')
    run(pytester).assert_outcomes(passed=1)


def test_outside_pytest_bpsn_running_gives_the_same_object(pytester: pytest.Pytester) -> None:
    script = pytester.makepyfile(script=textwrap.dedent('''
        import bpsn

        with bpsn.running() as stack:
            stack.send_alerts({"status": "critical", "host": "web-9", "check": "cpu"})
            assert stack.poll().created == 1
            print("tickets:", len(stack.tickets()), stack.servicenow_url.startswith("http://127.0.0.1:"))
    '''))
    result = pytester.run(__import__("sys").executable, str(script), timeout=120)
    assert result.ret == 0, result.stderr.str()
    result.stdout.fnmatch_lines(["tickets: 1 True"])


def test_the_readme_example_passes(pytester: pytest.Pytester) -> None:
    """README's "Use bpsn in your own tests" example, exactly as printed there."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("## Use bpsn in your own tests"):]
    example = section[section.index("```python\n") + len("```python\n"):section.index("```\n", section.index("```python"))]
    pytester.makefile(".yaml", settings="close_code: Solution provided\n")
    pytester.makepyfile(test_readme=example)
    run(pytester).assert_outcomes(passed=1)
