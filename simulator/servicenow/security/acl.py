"""Table ACLs as data (acls.yaml): may this caller read, create, write or delete here?"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from importlib import resources
from typing import Literal

from bpsn.simulator.common.yaml_text import load_yaml
from bpsn.simulator.servicenow.records.dictionary import Dictionary

Operation = Literal["read", "create", "write", "delete"]
OPERATIONS: tuple[Operation, ...] = ("read", "create", "write", "delete")


@dataclass(frozen=True)
class AclRule:
    table: str
    operation: Operation
    roles: frozenset[str]

    def allows(self, roles: frozenset[str]) -> bool:
        return not self.roles or bool(self.roles & roles)


class Acls:
    def __init__(self, dictionary: Dictionary, rules: list[AclRule]) -> None:
        self.dictionary = dictionary
        self.rules = rules
        self._cache: dict[tuple[str, str], list[AclRule]] = {}

    @classmethod
    def from_yaml_text(cls, dictionary: Dictionary, text: str) -> Acls:
        data = load_yaml(text) or {}
        rules = []
        for spec in data.get("rules", []):
            for op in spec["operations"]:
                if op not in OPERATIONS:
                    raise ValueError(f"ACL on {spec['table']}: unknown operation {op!r}")
                rules.append(AclRule(str(spec["table"]), op, frozenset(spec.get("roles") or [])))
        return cls(dictionary, rules)

    @classmethod
    def default(cls, dictionary: Dictionary) -> Acls:
        text = resources.files(__package__).joinpath("acls.yaml").read_text()
        return cls.from_yaml_text(dictionary, text)

    def add(self, rule: AclRule) -> None:
        self.rules.append(rule)
        self._cache.clear()

    def _applicable(self, table: str, operation: str) -> list[AclRule]:
        key = (table, operation)
        if key not in self._cache:
            ops = [r for r in self.rules if r.operation == operation]
            chosen: list[AclRule] = []
            for name in self.dictionary.ancestry(table):  # the table, then its ancestors
                chosen = [r for r in ops if r.table == name]
                if chosen:
                    break
            if not chosen:
                patterns = [r for r in ops if "*" in r.table and fnmatch.fnmatchcase(table, r.table)]
                if patterns:
                    longest = max(len(r.table) for r in patterns)
                    chosen = [r for r in patterns if len(r.table) == longest]
            self._cache[key] = chosen
        return self._cache[key]

    def allowed(self, table: str, operation: Operation, roles: frozenset[str]) -> bool:
        if "admin" in roles:
            return True
        return any(r.allows(roles) for r in self._applicable(table, operation))
