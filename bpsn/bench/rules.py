"""Transform rules: shares per second through the incidents engine and 50 rules, against the
same pipeline with 0 rules, timed in alternating rounds of the same run (in-process, no HTTP).

A share's pipeline is what the runner does between retrieval and the write: the engine's
decision (ShareReceived -> CreateTicket), the rules on its fields, the command rewritten. The
shares are rendered by the BigPanda simulator from alerts with realistic tags; the 50 rules
mix every operator on incident fields, incident tags and alert tags, all and any, and every
action but skip, with no stop: every rule is evaluated on every share (the worst case).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bpsn.integration.engine.incidents import IncidentEngine
from bpsn.integration.engine.messages import CreateTicket, ShareReceived
from bpsn.integration.rules import Rule, command_after_rules, parse_rule, rules_for_command
from bpsn.integration.rules.model import OPERATORS
from bpsn.simulator.bigpanda.backend import BigPandaBackend
from bpsn.simulator.bigpanda.settings import BigPandaSettings

from .common import Sizes, interleaved, median, ratio
from .data import alert
from .serve import disable_rate_limits

RULES = 50
HOSTS = ("db", "web", "api", "cache", "lb")
# (source, name, value for the operator) per operator, so each rule reads a different thing
SUBJECTS = [("alert_tag", "host", "db-"), ("alert_tag", "check", "CPU"), ("alert_tag", "region", "eu-west-1"),
            ("alert_tag", "team", "payments"), ("field", "short_description", "Incident"),
            ("field", "impact", "1"), ("incident_tag", "itd-owner", "noc")]


def shares(n: int) -> list[dict[str, Any]]:
    """n share objects from the BigPanda simulator: one incident per host, 1-3 alerts each."""
    backend = BigPandaBackend(BigPandaSettings(journal_max_entries=1_000))
    disable_rate_limits(backend)
    principal = backend.resolve_token(backend.settings.org_token)
    org = backend.orgs[backend.settings.organization]
    for i in range(n):
        host = f"{HOSTS[i % len(HOSTS)]}-prod-{i:04d}"
        alerts = [alert(host, check=i + k) for k in range(1 + i % 3)]
        backend.ingest(principal, {"app_key": backend.settings.alerts_app_key, "alerts": alerts})
    rendered = [backend.render_share(org, s) for s in org.shares.pending()]
    for k, share in enumerate(rendered):  # a third carry an incident tag, as after enrichment
        if k % 3 == 0:
            share["incident"]["incident_tags"] = [{"tag_id": "itd-owner", "value": "noc" if k % 2 else "dba"}]
    return rendered


def _value(operator: str, value: str) -> Any:
    if operator in ("greater_than", "less_than"):
        return 2 if operator == "greater_than" else 3
    if operator == "in_list":
        return [value, f"{value}-other", "x"]
    if operator == "regex":
        return rf"^{value}\w*"
    return None if operator in ("is_empty", "is_not_empty") else value


def fifty_rules() -> list[Rule]:
    actions = [
        lambda i: {"action": "set_field", "field": "category", "value": ("database", "network", "software")[i % 3]},
        lambda i: {"action": "set_field", "field": "subcategory", "value": f"rule-{i}"},
        lambda i: {"action": "set_tag", "tag": "itd-owner", "value": f"team-{i % 4}"},
        lambda i: {"action": "add_work_note", "text": f"rule {i} matched"},
    ]
    out = []
    for i in range(RULES):
        conditions = []
        for k in range(2):
            op = OPERATORS[(i + k * 5) % len(OPERATORS)]
            source, name, value = SUBJECTS[(i * 3 + k) % len(SUBJECTS)]
            cond: dict[str, Any] = {source: name, "operator": op, "ignore_case": i % 4 == 0}
            if _value(op, value) is not None:
                cond["value"] = _value(op, value)
            conditions.append(cond)
        out.append(parse_rule({"name": f"rule {i:02d}", "order": i * 10, "match": ("all", "any")[i % 2],
                               "conditions": conditions, "actions": [actions[i % 4](i)]}))
    return out


def _pipeline(engine: IncidentEngine, rules: list[Rule], share: dict[str, Any]) -> Any:
    event = ShareReceived(share["share_id"], share["incident"], share["environment_id"], share["trigger"], None,
                          tuple(share["triggers"]))
    command = engine.handle(event, 0.0)[0]
    assert isinstance(command, CreateTicket)
    return command_after_rules(command, rules_for_command(rules, share["incident"], command))


def run(sizes: Sizes, progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    progress("Transform rules: shares per second through 0 and 50 rules")
    n = 40 if sizes.quick else 400
    calls = 400 if sizes.quick else 6_000
    rounds = max(2, sizes.repeats * 2)
    data, rules, engine = shares(n), fifty_rules(), IncidentEngine()
    matched = [len(rules_for_command(rules, s["incident"], _pipeline(engine, [], s)).matched) for s in data]
    timed = interleaved({0: lambda i: _pipeline(engine, [], data[i % n]),
                         RULES: lambda i: _pipeline(engine, rules, data[i % n])}, calls, rounds)
    per_share = {k: median(v) for k, v in timed.items()}
    rates = {k: round(1 / s, 1) for k, s in per_share.items()}
    extra_us = (per_share[RULES] - per_share[0]) * 1e6
    out: dict[str, Any] = {
        "shares": n, "calls": calls, "rounds": rounds, "rules": RULES,
        "shares_per_s": {str(k): v for k, v in rates.items()},
        "us_per_share": {str(k): round(s * 1e6, 1) for k, s in per_share.items()},
        "ratio": ratio(rates[RULES], rates[0]), "rules_us_per_share": round(extra_us, 1),
        "us_per_rule": round(extra_us / RULES, 2), "mean_rules_matched": round(sum(matched) / len(matched), 1),
    }
    return out


def report_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    """(area, measure, baseline, measured, ratio, goal) for report.Row."""
    r = results["rules"]
    rates = r["shares_per_s"]
    cost = (f"{r['ratio']:.2f}× the 0-rule rate; +{r['rules_us_per_share']:.0f} µs/share = {r['us_per_rule']:.1f} "
            f"µs/rule; {r['mean_rules_matched']} rules matched/share")
    return [("Transform rules (in-process)", f"shares/s through the incidents engine + {r['rules']} rules (none stops)",
             f"0 rules: {rates['0']:.0f}/s", f"{r['rules']} rules: {rates[str(r['rules'])]:.0f}/s", cost, "info")]


def method_note(results: dict[str, Any]) -> str:
    r = results["rules"]
    return (f"* Transform rules: the runner's in-process path per share (engine decision, then "
            f"`rules_for_command` + `command_after_rules`) on {r['shares']} shares rendered by the BigPanda "
            f"simulator, with 0 and with {r['rules']} rules (every operator and source, all/any, no stop), "
            f"{r['calls']} calls each in {r['rounds']} alternating rounds; median per call.")
