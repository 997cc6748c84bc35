"""What an upgrade did and what it needs from the operator: as data, text and JSON.

Credentials appear by field name only: no value, clear or encrypted, ever reaches a report.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Outcome = Literal["moved", "kept", "dropped", "removed", "populated", "unchanged"]


@dataclass(frozen=True)
class Item:
    """One thing a fix script looked at: a property, a field map, a role, a default."""

    kind: str
    name: str
    outcome: Outcome
    detail: str = ""  # where it went, or why it was dropped


@dataclass
class ScriptResult:
    """One fix script's run: `changed` is False when the instance already was as the script leaves it."""

    script: str
    changed: bool = False
    items: list[Item] = field(default_factory=list)

    def add(self, kind: str, name: str, outcome: Outcome, detail: str = "") -> None:
        self.items.append(Item(kind, name, outcome, detail))


@dataclass(frozen=True)
class CheckItem:
    """One line of the seed's pre-upgrade checklist; `ok` None means "cannot be checked from here"."""

    check: str
    ok: bool | None
    detail: str
    fix: str = ""


@dataclass
class UpgradeReport:
    organization: str
    version: int | None = None
    scripts: list[ScriptResult] = field(default_factory=list)
    checklist: list[CheckItem] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(s.changed for s in self.scripts)

    @property
    def ready(self) -> bool:
        """Every checklist item that can be checked holds."""
        return all(c.ok is not False for c in self.checklist)

    def to_dict(self) -> dict[str, Any]:
        return {"organization": self.organization, "configuration_version": self.version,
                "changed": self.changed, "ready": self.ready,
                "scripts": [asdict(s) for s in self.scripts], "checklist": [asdict(c) for c in self.checklist]}

    def to_text(self) -> str:
        lines = [f"Upgrade of organisation {self.organization} from BigPanda 2.9 to v3: "
                 + (f"configuration version {self.version}" if self.version else "no configuration version")
                 + ("" if self.changed else " (nothing changed: already upgraded)")]
        for s in self.scripts:
            lines.append(f"\n{s.script}: {'changed' if s.changed else 'nothing to change'}")
            lines += [f"  {i.outcome:<9} {i.kind} {i.name}" + (f": {i.detail}" if i.detail else "") for i in s.items]
        lines.append("\npre-upgrade checklist:")
        for c in self.checklist:
            mark = {True: "ok  ", False: "FAIL", None: "ask "}[c.ok]
            lines.append(f"  {mark} {c.check}: {c.detail}" + (f" -> {c.fix}" if c.fix else ""))
        return "\n".join(lines)
