"""Tag synchronisation: BigPanda incident tags <-> ServiceNow incident fields. No I/O.

Per mapped tag, a direction: `both`, `to_bigpanda` (ServiceNow -> BigPanda only) or
`to_servicenow` (BigPanda -> ServiceNow only). Only Text incident tags are mapped (the v3
app's rule). The runner names tags (BigPanda shares carry tag ids) and resolves reference
fields: inbound, a tag value (a group's name) becomes the referenced record's sys_id;
outbound, a sys_id becomes the record's display name.

Echo guards (values, not timestamps):
- inbound, a share's tag is written to ServiceNow only if the tag changed on BigPanda since
  the core last saw it (a share rendered before a ServiceNow edit reached BigPanda does not
  undo the edit), only if it differs from the ticket's value, and never while a ServiceNow
  change of that tag waits in the coalesce window;
- outbound, a ticket field is sent only if it differs from the value BigPanda holds as far as
  the core knows (what the last share showed or what the core last sent); the tag update
  BigPanda shares back then equals what the core already knows, so it writes nothing.
Outbound changes wait `coalesce_seconds` (5 s) from the first change of an incident, so rapid
edits leave in one BigPanda call with the latest values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Direction = Literal["both", "to_bigpanda", "to_servicenow"]
DIRECTIONS: tuple[str, ...] = ("both", "to_bigpanda", "to_servicenow")
# Incident fields that reference another table: the table their names are looked up in.
REFERENCE_TABLES = {"assignment_group": "sys_user_group", "assigned_to": "sys_user", "caller_id": "sys_user",
                    "opened_by": "sys_user", "resolved_by": "sys_user", "cmdb_ci": "cmdb_ci",
                    "business_service": "cmdb_ci_service", "location": "cmn_location"}


@dataclass(frozen=True)
class TagMapping:
    tag: str  # the BigPanda incident tag's name (a Text tag)
    field: str  # the ServiceNow incident field
    direction: Direction = "both"
    reference: str = ""  # the table `field` references; defaults from REFERENCE_TABLES

    def __post_init__(self) -> None:
        if not self.tag or not self.field:
            raise ValueError("a tag mapping needs a tag name and a field")
        if self.direction not in DIRECTIONS:
            raise ValueError(f"tag mapping {self.tag!r}: direction must be one of {', '.join(DIRECTIONS)}, "
                             f"not {self.direction!r}")

    @property
    def table(self) -> str:
        return self.reference or REFERENCE_TABLES.get(self.field, "")

    @property
    def inbound(self) -> bool:
        return self.direction in ("both", "to_servicenow")

    @property
    def outbound(self) -> bool:
        return self.direction in ("both", "to_bigpanda")


@dataclass(frozen=True)
class SetIncidentTags:
    """One BigPanda call: set (value) or remove ("") these tags of one incident."""

    incident_id: str
    values: dict[str, str] = field(hash=False)


@dataclass
class _Pending:
    since: float
    values: dict[str, str] = field(default_factory=dict)


class TagSync:
    def __init__(self, mappings: tuple[TagMapping, ...] = (), coalesce_seconds: float = 5.0) -> None:
        self.mappings = mappings
        self.coalesce_seconds = coalesce_seconds
        self._bigpanda: dict[str, dict[str, str]] = {}  # incident -> tag -> value BigPanda holds
        self._pending: dict[str, _Pending] = {}

    @property
    def fields(self) -> list[str]:
        return [m.field for m in self.mappings]

    def references(self) -> list[tuple[str, str]]:
        """(tag, table) of inbound reference mappings: the names the runner must resolve."""
        return [(m.tag, m.table) for m in self.mappings if m.inbound and m.table]

    def outbound_references(self) -> list[tuple[str, str]]:
        """(field, table) of outbound reference mappings: the sys_ids the runner must name."""
        return [(m.field, m.table) for m in self.mappings if m.outbound and m.table]

    # --- BigPanda -> ServiceNow ----------------------------------------------------------------
    def inbound_fields(self, incident_id: str, tags: dict[str, str], ticket: dict[str, str] | None,
                       sys_ids: dict[tuple[str, str], str]) -> dict[str, str]:
        """Fields to write for a share's tags; `sys_ids` maps (table, name) -> sys_id."""
        known = self._bigpanda.get(incident_id)
        pending = self._pending.get(incident_id)
        out: dict[str, str] = {}
        for m in self.mappings:
            value = tags.get(m.tag, "")
            if not m.inbound or (pending and m.tag in pending.values):
                continue
            if known is not None and known.get(m.tag, "") == value:
                continue  # unchanged on BigPanda: a stale share or the echo of our own call
            target = value
            if m.table and value:
                target = sys_ids.get((m.table, value), "")
                if not target:
                    continue  # no such record: leave the field as it is
            if ticket is not None and ticket.get(m.field, "") == target:
                continue
            out[m.field] = target
        self._bigpanda[incident_id] = {m.tag: tags.get(m.tag, "") for m in self.mappings}
        return out

    def forget(self, incident_id: str) -> None:
        """A write failed: judge the next share against the ticket alone."""
        self._bigpanda.pop(incident_id, None)

    # --- ServiceNow -> BigPanda ----------------------------------------------------------------
    def ticket_changed(self, incident_id: str, named: dict[str, str], now: float) -> None:
        """A ticket changed by someone else at `now`; `named` holds its mapped fields, references
        as names."""
        known = self._bigpanda.get(incident_id)
        pending = self._pending.get(incident_id)
        for m in self.mappings:
            if not m.outbound or m.field not in named:
                continue
            value = named[m.field]
            differs = known is None or known.get(m.tag, "") != value
            if differs or (pending and m.tag in pending.values):
                if pending is None:
                    pending = self._pending[incident_id] = _Pending(now)
                pending.values[m.tag] = value

    def due(self, now: float) -> list[SetIncidentTags]:
        """Calls whose coalesce window has passed (each at least `coalesce_seconds` old)."""
        out: list[SetIncidentTags] = []
        for incident_id, pending in list(self._pending.items()):
            if now - pending.since < self.coalesce_seconds:
                continue
            known = self._bigpanda.get(incident_id)
            values = {t: v for t, v in pending.values.items() if known is None or known.get(t, "") != v}
            if values:
                out.append(SetIncidentTags(incident_id, values))
            else:
                del self._pending[incident_id]  # changed and changed back inside the window
        return out

    def next_due(self) -> float | None:
        return min((p.since + self.coalesce_seconds for p in self._pending.values()), default=None)

    def sent(self, command: SetIncidentTags) -> None:
        self._bigpanda.setdefault(command.incident_id, {}).update(command.values)
        pending = self._pending.get(command.incident_id)
        if pending is not None and all(pending.values.get(t) == v for t, v in command.values.items()):
            del self._pending[command.incident_id]


TEXT_TAG_TYPE = "Text"


def closed_list_mappings(mappings: tuple[TagMapping, ...], definitions: list[dict[str, object]]) -> list[str]:
    """Why each mapping of a tag that is not a Text tag is refused ("Only Text type incident tags are
    supported": a closed-list tag takes only its listed values, which a free ServiceNow field cannot keep to)."""
    types = {str(d.get("name", "")): str(d.get("type", TEXT_TAG_TYPE)) for d in definitions}
    return [f"tag mapping {m.tag!r} -> {m.field}: {m.tag!r} is a {types[m.tag]} incident tag in BigPanda; only "
            f"Text type incident tags are supported (a closed list of values cannot follow a free ServiceNow field)"
            for m in mappings if types.get(m.tag, TEXT_TAG_TYPE) != TEXT_TAG_TYPE]
