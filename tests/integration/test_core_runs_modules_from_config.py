"""Issue #17 must-hold 1: every connection setting of a configuration version drives the core.

The modules run or stop with their keys and switches, a new version reaches them at the next
cycle without a restart, the CMDB connection defaults come from the version, the organisation API
key stands in for a missing bearer token, the region picks the base URL, and the Retrieval and
Callback Endpoints are used as whole URLs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from test_core_from_config import KEY, Core, Counting, demo_config, send_alert

from bpsn.integration.bootstrap import BootstrapError, RunnerBuilder
from bpsn.integration.config.models import (
    REGION_URLS,
    IntegrationConfig,
    ModuleSettings,
)
from bpsn.integration.modules_wiring import module_choice
from bpsn.testing import InProcessBench

assert KEY  # the same configuration key as the core tests


@pytest.fixture
def core(bench: InProcessBench) -> Iterator[Core]:
    c = Core(bench)
    c.bigpanda = Counting(bench.bigpanda_app)  # type: ignore[attr-defined]
    c.builder = RunnerBuilder(bench.clock, bigpanda_transport=c.bigpanda,  # type: ignore[attr-defined]
                              servicenow_transport=httpx.ASGITransport(app=bench.servicenow_app), pace=False,
                              sleep=bench._virtual_sleep)
    yield c
    c.close()


def keys(bench: InProcessBench) -> dict[str, str]:
    s = bench.bigpanda.settings
    return {"changes_app_key": s.changes_app_key, "cmdb_v2_app_key": "cmdb-v2-key-31f0", "oim_app_key": s.oim_app_key}


def test_modules_run_and_stop_with_their_keys_and_switches_without_a_restart(bench: InProcessBench,
                                                                              core: Core) -> None:
    core.save("demo", demo_config(bench))
    w = core.start("demo").worker("demo")
    assert w.modules.names == []
    assert w.plan.modules == {"incidents": "", "changes": "no changes_app_key", "cmdb": "no cmdb_v2_app_key",
                              "oim": "no oim_app_key"}

    core.save("demo", demo_config(bench, **keys(bench), cmdb_page_size=25, cmdb_max_pages=4, cmdb_max_retries=1,
                                  cmdb_retry_interval=2.5, cmdb_sync_interval=3600))
    core.cycle()
    assert (w.plan.version, w.modules.names) == (2, ["changes", "cmdb", "oim"])
    modules = w.modules.modules
    assert modules["changes"].worker.api.app_key == bench.bigpanda.settings.changes_app_key
    assert modules["oim"].worker.api.app_key == bench.bigpanda.settings.oim_app_key
    cmdb = modules["cmdb"].worker.settings
    assert (cmdb.page_size, cmdb.max_pages, cmdb.max_retries, cmdb.retry_interval, cmdb.sync_interval) == \
        (25, 4, 1, 2.5, 3600)
    assert bench.run(modules["changes"].worker.poll_once()).failure == ""  # the version's key is accepted

    core.save("demo", demo_config(bench, **keys(bench), cmdb_active=False, oim_active=False))
    core.cycle()
    assert w.modules.names == ["changes"]
    assert w.plan.modules["cmdb"] == "switched off (cmdb_active is false)"


def test_a_new_changes_key_is_the_one_sent_at_the_next_cycle(bench: InProcessBench, core: Core) -> None:
    core.save("demo", demo_config(bench, **keys(bench)))
    w = core.start("demo").worker("demo")
    before = w.modules.modules["changes"].worker
    core.save("demo", demo_config(bench, **{**keys(bench), "changes_app_key": "not-a-changes-key"}))
    core.cycle()
    after = w.modules.modules["changes"].worker
    assert after is not before and after.cursors is before.cursors  # the read position carries over
    bench.servicenow.insert_system("change_request", {"short_description": "Patch the database", "state": "-1"})
    requests_before = len(core.bigpanda.requests)  # type: ignore[attr-defined]
    report = bench.run(after.poll_once())
    sent = [r for r in core.bigpanda.requests[requests_before:]  # type: ignore[attr-defined]
            if "changes" in r.url.path]
    assert sent and all("not-a-changes-key" in r.url.path + r.url.query.decode() + r.content.decode()
                        + r.headers.get("x-bp-app-key", "") for r in sent)
    assert report.changes_sent == 0 and (report.failure or report.rejected)  # BigPanda refuses the wrong key


def test_the_organisation_api_key_is_the_legacy_fallback_credential(bench: InProcessBench, core: Core) -> None:
    core.save("demo", demo_config(bench, bearer_token=""))
    w = core.start("demo").worker("demo")
    org_token = bench.bigpanda.settings.org_token
    assert w.plan.legacy_credential and w.plan.connection.bigpanda_bearer_token.get_secret_value() == org_token
    incident = send_alert(bench, "legacy-01")
    core.cycle()
    assert len(bench.tickets(f"correlation_id={incident}")) == 1
    shares = [r for r in core.bigpanda.requests if r.url.path.endswith("/servicenow/shares")]  # type: ignore[attr-defined]
    assert shares and shares[0].headers["Authorization"] == f"Bearer {org_token}"


def test_no_bearer_token_and_no_api_key_is_refused_naming_both(bench: InProcessBench) -> None:
    from bpsn.integration.bootstrap import connection_for
    with pytest.raises(BootstrapError, match="no bearer_token \\(nor an api_key"):
        connection_for(demo_config(bench, bearer_token="", api_key=""), "demo", bench.settings)


@pytest.mark.parametrize("region", ["US", "EU"])
def test_the_region_picks_the_base_url(bench: InProcessBench, core: Core, region: str) -> None:
    core.save("demo", demo_config(bench, region=region))
    w = core.start("demo").worker("demo")
    assert w.plan.connection.bigpanda_url == REGION_URLS[region]
    send_alert(bench, f"region-{region}")
    core.cycle()
    hosts = {r.url.host for r in core.bigpanda.requests}  # type: ignore[attr-defined]
    assert hosts == {httpx.URL(REGION_URLS[region]).host}


def test_retrieval_and_callback_endpoints_are_whole_urls(bench: InProcessBench, core: Core) -> None:
    retrieval = "https://shares.proxy.example/integrations/v3/servicenow/shares"
    callback = "https://callbacks.proxy.example/integrations/v3/servicenow/callbacks"
    core.save("demo", demo_config(bench, retrieval_endpoint=retrieval, callback_endpoint=callback))
    core.start("demo")
    incident = send_alert(bench, "endpoint-01")
    core.cycle()
    assert len(bench.tickets(f"correlation_id={incident}")) == 1
    urls = {str(r.url).split("?")[0] for r in core.bigpanda.requests}  # type: ignore[attr-defined]
    assert retrieval in urls and callback in urls
    assert bench.incident(incident).tickets  # the callback reached BigPanda through the whole URL


def test_an_endpoint_that_is_not_a_url_is_refused(bench: InProcessBench) -> None:
    with pytest.raises(ValueError, match="retrieval_endpoint"):
        demo_config(bench, retrieval_endpoint="shares.example/path")
    with pytest.raises(ValueError, match="region"):
        demo_config(bench, region="APAC")


def test_the_incidents_module_off_needs_no_incidents_key_and_leaves_shares_waiting(bench: InProcessBench,
                                                                                   core: Core) -> None:
    core.save("demo", demo_config(bench, incidents_app_key="", active=False))
    w = core.start("demo").worker("demo")
    assert w.plan.modules["incidents"] == "switched off (active is false)"
    incident = send_alert(bench, "off-01")
    core.cycle()
    assert bench.tickets(f"correlation_id={incident}") == []


def test_alert_configuration_aia_setting_reaches_the_engine_and_the_incidents_one_does_not() -> None:
    on = ModuleSettings.model_validate({"alert_configuration": {"aia_replaces_alert_summary": "yes"}})
    assert on.incident_settings("acme").aia_replaces_alert_summary
    ignored = ModuleSettings.model_validate({"aia_replaces_alert_summary": True})
    assert not ignored.incident_settings("acme").aia_replaces_alert_summary
    with pytest.raises(ValueError, match="unknown configuration keys: aia_replaces_alert_summary"):
        IntegrationConfig().replace(aia_replaces_alert_summary=True)


def test_module_choice_names_every_module() -> None:
    assert set(module_choice(IntegrationConfig())) == {"incidents", "changes", "cmdb", "oim"}


def test_the_running_core_launches_the_modules_and_stops_them(bench: InProcessBench, core: Core) -> None:
    core.save("demo", demo_config(bench, **keys(bench), cmdb_active=False))
    sup = core.start("demo")
    w = sup.worker("demo")
    stop = asyncio.Event()

    async def one_cycle_then_stop(event: asyncio.Event, seconds: float) -> None:
        await asyncio.sleep(0)  # the module loops take their first turn
        event.set()
    bench.run(sup.run(stop, wait=one_cycle_then_stop))
    assert stop.is_set() and w.modules.names == [] and not w.modules._tasks
    paths = {r.url.path for r in core.bigpanda.requests}  # type: ignore[attr-defined]
    assert "/resources/v2.0/maintenance-plans" in paths  # the changes module ran its first pass
    assert any(p.startswith("/oim/") or "oim" in p for p in paths), paths  # and OIM its first


def test_the_incident_url_base_is_where_the_ticket_links_point(bench: InProcessBench, core: Core) -> None:
    core.save("demo", demo_config(bench, incident_url_base="https://console.acme.example/"))
    core.start("demo")
    incident = send_alert(bench, "links-01")
    core.cycle()
    [ticket] = bench.tickets(f"correlation_id={incident}")
    assert "BigPanda incident: https://console.acme.example/#/app/overview/" in ticket["description"]
    [metadata] = bench.records("x_bip_panda_incident_metadata", f"u_bp_incident_id={incident}")
    assert metadata["u_bp_incident_url"].startswith("https://console.acme.example/#/app/overview/")
    assert metadata["u_bp_incident_url"].endswith(f"/incidents/{incident}")
