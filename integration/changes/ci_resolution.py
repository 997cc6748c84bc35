"""Which configuration item (CI) a ServiceNow record is about: a four-level fallback chain.

A change, change task or outage names the CI it touches in different places, and often in
none of the obvious ones. The chain tries four levels in order and stops at the first that
gives a CI; the level is kept (tag `ci_level` on the change, a custom tag on the maintenance
plan) so an engineer can see how the CI was found.

1. `ci` - the record's own `cmdb_ci` field.
2. `affected_ci` - the record's "Affected CIs" (`task_ci` rows whose `task` is the record),
   every one of them, in the order they were added. An outage is not a task: it has none.
3. `business_service` - the record's `business_service` field (a `cmdb_ci_service`).
4. `named_in_text` - CIs named in the record's `short_description`, then `description`: the
   words that look like CI names (3 or more characters of letters, digits, `.`, `_`, `-`,
   with at least one digit, `.`, `_` or `-`, e.g. `web-prod-01`, `db01.example.com`) that
   are the exact name of a `cmdb_ci` record, in the order they appear (at most 20 words per
   record are looked up). Plain words are not looked up, so "Patch the database" does not
   match a CI named `database`.

Each level looks at the record first and then at the task the record belongs to, when it
has one: a change task's change request (`change_request`), an outage's task (`task_number`,
usually the change that caused it). So a change task without a CI inherits its change's CI
before anything is guessed from text.

No CI at any level is an answer too: the change is still forwarded (without the `ci` tag),
but no maintenance plan is made, since a plan needs a condition.

This module is pure: the runner gathers the lookups (integration/changes/lookups.py) and
`resolve_ci` decides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LEVELS = ("ci", "affected_ci", "business_service", "named_in_text")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9]")
_NOT_PLAIN = re.compile(r"[0-9._-]")
MAX_NAMES_PER_TEXT = 20
MAX_NAME_CHARS = 255  # cmdb_ci.name's length: a longer word names no CI


@dataclass(frozen=True)
class CiRef:
    sys_id: str
    name: str


@dataclass(frozen=True)
class RecordCis:
    """What one record says about CIs, as the runner found it in ServiceNow."""

    label: str  # e.g. "change_request CHG0030001", for the resolution's `source`
    ci: CiRef | None = None
    affected: tuple[CiRef, ...] = ()
    business_service: CiRef | None = None
    named: tuple[CiRef, ...] = ()

    def at(self, level: str) -> tuple[CiRef, ...]:
        if level == "ci":
            return (self.ci,) if self.ci else ()
        if level == "affected_ci":
            return self.affected
        if level == "business_service":
            return (self.business_service,) if self.business_service else ()
        if level == "named_in_text":
            return self.named
        raise ValueError(f"unknown CI level {level!r}; the levels are {', '.join(LEVELS)}")


@dataclass(frozen=True)
class CiLookups:
    record: RecordCis
    parent: RecordCis | None = None  # the task the record belongs to


@dataclass(frozen=True)
class CiResolution:
    cis: tuple[CiRef, ...] = ()
    level: str = ""  # one of LEVELS; "" when no level gave a CI
    source: str = ""  # the label of the record that gave it

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.cis]

    @property
    def found(self) -> bool:
        return bool(self.cis)


def resolve_ci(lookups: CiLookups, levels: tuple[str, ...] = LEVELS) -> CiResolution:
    """The first level, in order, at which the record or then its parent names a CI."""
    records = [r for r in (lookups.record, lookups.parent) if r is not None]
    for level in levels:
        for record in records:
            cis = tuple(c for c in record.at(level) if c.name)
            if cis:
                return CiResolution(tuple(dict.fromkeys(cis)), level, record.label)
    return CiResolution()


def names_in_text(*texts: str) -> list[str]:
    """The words of `texts` that may be CI names (level 4), in order, without repeats."""
    found: list[str] = []
    for text in texts:
        for word in _WORD.findall(text or ""):
            if 3 <= len(word) <= MAX_NAME_CHARS and _NOT_PLAIN.search(word) and word not in found:
                found.append(word)
                if len(found) >= MAX_NAMES_PER_TEXT:
                    return found
    return found
