"""Issue #17 must-hold 2: settings that used to do nothing now take effect.

"Only Text type incident tags are supported": a mapping of another type is refused when saved,
and a version mapping one is refused at start and when applied live, saying why (the core keeps
running the version it has). BigPanda shares an alert-level change the ticket shows.
"""

from __future__ import annotations

import logging

import pytest
from test_core_from_config import Core, core, demo_config, serve  # noqa: F401 - the same fixtures

from bpsn.integration.bootstrap import BootstrapError, check_tag_types
from bpsn.integration.engine.tags import TagMapping, closed_list_mappings
from bpsn.testing import InProcessBench


def mapping(tag: str) -> list[dict[str, str]]:
    return [{"tag": tag, "field": "u_bp_team", "direction": "both"}]


def test_closed_list_mappings_name_the_tag_its_type_and_why() -> None:
    definitions = [{"name": "team", "type": "Text"}, {"name": "tier", "type": "ClosedListValuesSingle"}]
    assert closed_list_mappings((TagMapping("team", "u_team"),), definitions) == []
    [problem] = closed_list_mappings((TagMapping("team", "u_team"), TagMapping("tier", "u_tier")), definitions)
    assert "'tier' is a ClosedListValuesSingle incident tag" in problem
    assert "only Text type incident tags are supported" in problem


def test_a_version_mapping_a_closed_list_tag_is_refused_at_start(bench: InProcessBench, core: Core) -> None:
    bench.bigpanda_views.define_tag("tier", "ClosedListValuesSingle", values=["gold", "silver"])
    core.save("demo", demo_config(bench, tag_mappings=mapping("tier")))
    sup = core.start("demo")
    w = sup.worker("demo")
    with pytest.raises(BootstrapError, match="'tier' is a ClosedListValuesSingle incident tag") as err:
        bench.run(check_tag_types(w.plan, w.runner))
    assert "map only Text incident tags" in err.value.fix


def test_a_new_version_mapping_a_closed_list_tag_is_not_applied(bench: InProcessBench, core: Core,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    bench.bigpanda_views.define_tag("team", "Text")
    bench.bigpanda_views.define_tag("tier", "Priority")
    core.save("demo", demo_config(bench, tag_mappings=mapping("team")))
    w = core.start("demo").worker("demo")
    core.save("demo", demo_config(bench, tag_mappings=mapping("tier")))
    with caplog.at_level(logging.ERROR, logger="bpsn.integration.supervisor"):
        core.cycle()
    assert w.plan.version == 1 and w.refused_version == 2
    assert "version 2 not applied, still running version 1" in caplog.text and "only Text type" in caplog.text
    core.save("demo", demo_config(bench, tag_mappings=mapping("team"), retrieval_count=9))
    core.cycle()
    assert w.plan.version == 3  # a good version after it is applied


def test_saving_a_closed_list_tag_mapping_is_refused_with_the_reason(bench: InProcessBench) -> None:
    import httpx

    from bpsn.integration.config.tag_types import (
        TagTypeRefused,
        TagTypesUnknown,
        refuse_closed_list_tags,
    )

    bench.bigpanda_views.define_tag("team", "Text")
    bench.bigpanda_views.define_tag("tier", "ClosedListValuesMulti", values=["gold", "silver"])
    transport = httpx.ASGITransport(app=bench.bigpanda_app)
    bench.run(refuse_closed_list_tags(demo_config(bench, tag_mappings=mapping("team")), "demo", transport=transport))
    with pytest.raises(TagTypeRefused, match="'tier' is a ClosedListValuesMulti incident tag in BigPanda; only Text"):
        bench.run(refuse_closed_list_tags(demo_config(bench, tag_mappings=mapping("tier")), "demo",
                                          transport=transport))
    with pytest.raises(TagTypesUnknown, match="cannot check the mapped tags' types"):
        bench.run(refuse_closed_list_tags(demo_config(bench, bearer_token="BPUwrong", tag_mappings=mapping("team")),
                                          "demo", transport=transport))


def test_bpsn_core_refuses_to_start_on_a_closed_list_tag_mapping(bench: InProcessBench, core: Core) -> None:
    bench.bigpanda_views.define_tag("tier", "MultiValue")
    core.save("demo", demo_config(bench, tag_mappings=mapping("tier")))
    with pytest.raises(BootstrapError, match="'tier' is a MultiValue incident tag"):
        serve(bench, ["demo"])


def test_bigpanda_shares_an_alert_change_that_leaves_the_incident_state_alone(bench: InProcessBench) -> None:
    r = bench.send_alerts({"status": "critical", "host": "upd-02", "check": "disk"},
                          {"status": "warning", "host": "upd-02", "check": "cpu"})
    incident = r.json()["alerts"][0]["incident_id"]
    bench.poll()
    bench.send_alerts({"status": "warning", "host": "upd-02", "check": "cpu"})  # the same event again
    assert bench.poll().shares == 0  # nothing the ticket shows changed: no share
    bench.send_alerts({"status": "ok", "host": "upd-02", "check": "cpu"})  # incident still critical
    assert bench.poll().shares == 1
    [ticket] = bench.tickets(f"correlation_id={incident}")
    assert "1 Critical, 0 Warning, 0 Unknown, 1 Resolved" in ticket["description"]
