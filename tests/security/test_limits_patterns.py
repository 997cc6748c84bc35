"""Attacks with user-supplied patterns: every one runs in linear time (RE2) or is refused when it is
saved with a 400 that names it, and nothing is stored. Fault rules, maintenance-plan regex and
wildcard conditions, transform-rule regex, and BPQL / OIM-filter nesting."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pooled_simulators import bigpanda_pool, servicenow_pool

from bpsn.base.clock import SimClock
from bpsn.base.user_regex import UserPatternError, compile_glob, compile_pattern
from bpsn.integration.rules import RuleRefused, evaluate, parse_rule
from bpsn.simulator.bigpanda.app import create_app as bigpanda_app
from bpsn.simulator.bigpanda.backend import BigPandaBackend
from bpsn.testing import call_asgi

CATASTROPHIC = "^/(a+)+$"  # exponential in Python's re: 1.7 s for one request before RE2
EVIL_PATH = "/" + "a" * 5000 + "b"
USER = {"Authorization": "Bearer BPUdemo-user-key"}
ORG = {"Authorization": "Bearer demo-org-token"}
ADMIN = {"Authorization": "Basic " + base64.b64encode(b"admin:admin").decode()}
BP_ADMIN = {"X-Bpsn-Admin-Token": "bpsn-admin-token"}  # BigPanda's /_sim routes (the default demo token)
T0 = 1_767_225_600


def fast(seconds: float = 0.1) -> Any:
    """A context manager asserting its block took under `seconds` of this process's CPU time: a
    backtracking match burns seconds of CPU, while other processes on a busy machine cost none."""
    class Timer:
        def __enter__(self) -> None:
            self.t = time.process_time()

        def __exit__(self, *exc: object) -> None:
            took = time.process_time() - self.t
            assert took < seconds, f"took {took:.3f} s of CPU"
    return Timer()


@pytest.fixture
def bp() -> BigPandaBackend:
    """The process's pooled BigPanda simulator as new, rate limits off; its app is `bp_app`."""
    return bigpanda_pool().as_new(rate_limits=False)


@pytest.fixture
def bp_app(bp: BigPandaBackend) -> Any:
    return bigpanda_pool().app


# --- the shared helper ------------------------------------------------------------------------------

def test_catastrophic_patterns_run_in_linear_time() -> None:
    for pattern in (CATASTROPHIC, "(a|aa)+$", "(.*a){20}", "^(a|a?)+$"):
        compiled = compile_pattern(pattern)
        with fast():
            assert compiled.search("a" * 50_000 + "b") is None or pattern == "(.*a){20}"


@pytest.mark.parametrize("pattern", [r"(a)\1", "(?=a)b", "(?<!a)b", "(?P<x>a)(?P=x)", "(", "x" * 1001])
def test_refused_patterns_name_themselves(pattern: str) -> None:
    with pytest.raises(UserPatternError) as caught:
        compile_pattern(pattern)
    assert repr(pattern[:20]).strip("'") in str(caught.value)


def test_globs_are_linear_and_literal() -> None:
    glob = compile_glob("*x" * 15 + "y")  # `.*x.*x...y` backtracked for 9.5 s on 30 characters
    with fast():
        assert glob.fullmatch("x" * 50_000) is None
    assert compile_glob("web-*.(prod)").fullmatch("web-01.(prod)")
    assert not compile_glob("web-*.(prod)").fullmatch("web-01.prod")
    assert compile_glob("A*", ignore_case=True).fullmatch("a\nb")


# --- fault rules ------------------------------------------------------------------------------------

def test_servicenow_fault_rule_with_a_catastrophic_path_does_not_stall(tmp_path: Any) -> None:
    pool = servicenow_pool()
    pool.as_new()
    app = pool.app
    r = call_asgi(app, "POST", "/_sim/faults", json={"path": CATASTROPHIC, "status": 503}, headers=ADMIN)
    assert r.status_code == 201, r.text
    with fast(0.5):  # a whole request in-process, of which the match is microseconds
        r = call_asgi(app, "GET", EVIL_PATH, headers=ADMIN)
    assert r.status_code != 503


@pytest.mark.parametrize("pattern", [r"^/(a)\1", "^/(?=api)", "^/("])
def test_refused_fault_rule_is_a_400_that_names_it(bp_app: Any, pattern: str) -> None:
    app = bp_app
    r = call_asgi(app, "POST", "/_sim/faults", json={"path": pattern, "status": 503}, headers=BP_ADMIN)
    assert r.status_code == 400, r.text
    assert r.json()["status"] == 400 and pattern in " ".join(r.json()["errors"]).replace("\\\\", "\\")
    assert call_asgi(app, "GET", "/_sim/faults", headers=BP_ADMIN).json() == []
    r = call_asgi(app, "POST", "/_sim/faults", json={"path": "^/ok", "status": 503}, headers=BP_ADMIN)
    assert r.json()["id"] == 1  # the refused rule used up no id


@pytest.fixture
def bigpanda_server(serve_in_thread: Callable[[Any], str]) -> str:
    # an instance of its own: uvicorn serves it on another thread and event loop, timed against itself
    backend = BigPandaBackend(clock=SimClock.virtual())
    for org in backend.orgs.values():
        org.rate_limits.enabled = False
    return serve_in_thread(bigpanda_app(backend))


def test_health_answers_within_100ms_while_a_catastrophic_rule_matches(bigpanda_server: str) -> None:
    """Health probes while an attacker sends paths a catastrophic fault rule must match, against
    the same attack on a harmless rule (the control: the same request stream on this machine,
    now). The 90th percentile may grow by under 100 ms; a backtracking match would stall every
    probe for seconds."""
    base = bigpanda_server

    def probes_under_attack(rule_path: str) -> list[float]:
        with httpx.Client(base_url=base, timeout=10) as c:
            assert c.delete("/_sim/faults", headers=BP_ADMIN).status_code == 200
            assert c.post("/_sim/faults", json={"path": rule_path, "status": 503},
                          headers=BP_ADMIN).status_code == 201
            c.get("/_sim/health")  # warm up the connection path
        stop = threading.Event()

        def attack() -> None:
            with httpx.Client(base_url=base, timeout=30) as c:
                while not stop.is_set():
                    c.get(EVIL_PATH, headers=ORG)

        attacker = threading.Thread(target=attack)
        attacker.start()
        try:
            took = []
            with httpx.Client(base_url=base, timeout=10) as c:
                for _ in range(20):
                    started = time.perf_counter()
                    assert c.get("/_sim/health").status_code == 200
                    took.append(time.perf_counter() - started)
            return sorted(took)
        finally:
            stop.set()
            attacker.join(30)

    control = probes_under_attack("^/(b)+$")
    attacked = probes_under_attack(CATASTROPHIC)
    p90_control, p90_attacked = control[17], attacked[17]
    assert p90_attacked - p90_control < 0.1 and attacked[-1] < 1.0, (
        f"health p90 {p90_attacked:.3f} s (worst {attacked[-1]:.3f} s) while the pattern was matched, "
        f"{p90_control:.3f} s under the same attack on a harmless rule")


# --- maintenance plans ------------------------------------------------------------------------------

def _plan(app: Any, condition: Any) -> httpx.Response:
    return call_asgi(app, "POST", "/resources/v2.0/maintenance-plans", headers=USER,
                     json={"name": "p", "condition": condition, "start": T0 - 10, "end": T0 + 3600})


@pytest.mark.parametrize("value", [{"type": "formal-regex", "value": "(a+)+$"},
                                   {"type": "regex", "value": "(a|aa)+"}, "*a" * 20 + "b"])
def test_maintenance_patterns_match_long_tags_quickly(bp_app: Any, value: Any) -> None:
    app = bp_app
    assert _plan(app, {"=": ["host", value]}).status_code == 201
    body = {"app_key": "demo-alerts-app-key", "status": "critical", "host": "a" * 3000 + "!", "check": "c"}
    with fast(0.5):
        r = call_asgi(app, "POST", "/data/v2/alerts", headers=ORG, json=body)
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("pattern", [r"(a)\1", "(?=web)web-1", "(?<=x)y"])
def test_maintenance_pattern_needing_backtracking_is_refused(bp: BigPandaBackend, bp_app: Any, pattern: str) -> None:
    app = bp_app
    r = _plan(app, {"=": ["host", {"type": "formal-regex", "value": pattern}]})
    assert r.status_code == 400 and r.json()["status"] == 400
    assert "formal-regex" in r.json()["errors"][0] and pattern in r.json()["errors"][0].replace("\\\\", "\\")
    assert bp.orgs["demo"].maintenance.plans == {}


# --- transform rules (integration core) -------------------------------------------------------------

def _rule(value: str) -> Any:
    return parse_rule({"name": "r", "conditions": [{"alert_tag": "host", "operator": "regex", "value": value}],
                       "actions": [{"action": "set_field", "field": "category", "value": "hit"}]})


def test_transform_rule_regex_is_linear() -> None:
    rule = _rule("^(a+)+$")
    share = {"id": "i", "status": "critical", "severity": "critical", "active": True, "incident_tags": [],
             "alerts": [{"id": "a", "status": "critical", "primary_property": "host",
                         "tags": [{"name": "host", "value": "a" * 50_000 + "b"}]}]}
    with fast():
        assert evaluate([rule], share, {}).trace[0].matched is False


@pytest.mark.parametrize("pattern", [r"(a)\1", "(?!x)y"])
def test_transform_rule_regex_needing_backtracking_is_refused(pattern: str) -> None:
    with pytest.raises(RuleRefused) as caught:
        _rule(pattern)
    assert "bad regular expression" in str(caught.value) and repr(pattern) in str(caught.value)


# --- BPQL and OIM filters: nesting ------------------------------------------------------------------

DEEP = "(" * 400 + 'status = "critical"' + ")" * 400


def test_deep_bpql_search_is_a_400(bp_app: Any) -> None:
    app = bp_app
    for query in (DEEP, "NOT " * 300 + "status = critical"):
        r = call_asgi(app, "GET", "/resources/v2.0/environments/production/incidents", headers=USER,
                      params={"query": query})
        assert r.status_code == 400, r.text
        assert "nest more than 32" in r.json()["errors"][0]
    ok = "(" * 32 + 'status = "critical"' + ")" * 32
    r = call_asgi(app, "GET", "/resources/v2.0/environments/production/incidents", headers=USER,
                  params={"query": ok})
    assert r.status_code == 200, r.text


def test_deep_environment_filter_is_a_400_and_creates_nothing(bp: BigPandaBackend, bp_app: Any) -> None:
    app = bp_app
    before = set(bp.orgs["demo"].environments)
    r = call_asgi(app, "POST", "/resources/v2.0/environments", headers=USER, json={"name": "deep", "filter": DEEP})
    assert r.status_code == 400 and "filter" in r.json()["errors"][0]
    assert set(bp.orgs["demo"].environments) == before


def test_deep_oim_event_filter_is_a_400(bp: BigPandaBackend) -> None:
    from bpsn.simulator.bigpanda.oim.filter import FilterError, parse_filter
    with pytest.raises(FilterError, match="nest more than"):
        parse_filter("(" * 900 + "a = b" + ")" * 900)
    assert parse_filter("(" * 32 + "a = b" + ")" * 32) == ("cmp", "a", "=", "b")
