"""The transform rules engine: no-code rules, stored in ServiceNow, run on each incoming share
before its ticket is written.

model (rules as data) · validation (refuse what cannot work) · catalog (field and tag names)
· state, conditions, actions, evaluator (pure: rules + share -> outcome and trace)
· commands (the runner's hook) · store (x_bip_panda_transform_rule over the Table API)
· dryrun (read-only runs on BigPanda's incidents) · explain (traces in words) · files · connect
"""

from .commands import command_after_rules, rules_for_command
from .evaluator import RulesOutcome, RuleTrace, evaluate
from .model import Action, Condition, Rule
from .store import RuleStore
from .validation import RuleRefused, RulesError, RulesRefused, parse_rule, parse_rules

__all__ = ["Action", "Condition", "Rule", "RuleRefused", "RuleStore", "RuleTrace", "RulesError", "RulesOutcome",
           "RulesRefused", "command_after_rules", "evaluate", "parse_rule", "parse_rules", "rules_for_command"]
