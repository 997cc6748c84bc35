"""Maintenance plans from change requests and outages, decided without I/O.

One plan per ServiceNow record, found again by its `maintenance_key` (the record's number,
e.g. CHG0030001 or OUT0010001), so a restarted core finds the plans it made.

What a record wants (`plan_for_change`, `plan_for_outage`):

- a change request wants a plan over its planned window (`start_date`..`end_date`) while it
  is in one of the maintenance states (Scheduled or Implement by default: an unapproved
  change silences nothing), and no plan in any other state (Review, Closed, Canceled, or
  sent back to Assess);
- an outage (`cmdb_ci_outage`) of a forwarded type wants a plan from `begin` to `end`; an
  outage still open (no `end`) gets `open_outage_seconds` from its `begin`, and setting its
  `end` later moves the plan's end;
- either needs a CI (the four-level chain): the condition is `{"=": [ci_tag, name]}`, or
  `{"IN": [ci_tag, [names]]}` for several affected CIs.

What is done (`decide`), against the plan BigPanda holds for that key:

    wanted, window still ahead   no plan -> create;  plan differs -> update;  same -> nothing
    wanted, window already over  plan running -> stop;  plan not started -> delete;  else nothing
    not wanted                   plan running -> stop;  plan not started -> delete;  else nothing

Stopping (not deleting) a running plan keeps its history in BigPanda; a plan that never ran
is deleted so it cannot start later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .ci_resolution import CiResolution
from .mapping import ChangeSettings, epoch, label, planned_window

COMPARED = ("name", "condition", "start", "end", "description", "custom_tags")


@dataclass(frozen=True)
class PlanWindow:
    """The plan a record wants."""

    key: str
    name: str
    condition: dict[str, Any]
    start: int
    end: int
    description: str
    custom_tags: tuple[tuple[str, str], ...]

    def fields(self) -> dict[str, Any]:
        return {"name": self.name, "condition": self.condition, "start": self.start, "end": self.end,
                "description": self.description,
                "custom_tags": [{"name": n, "value": v} for n, v in self.custom_tags]}

    def body(self) -> dict[str, Any]:
        return {**self.fields(), "time_zone": "UTC", "maintenance_key": self.key}


@dataclass(frozen=True)
class NoPlan:
    key: str
    reason: str


@dataclass(frozen=True)
class KnownPlan:
    """A plan as BigPanda returned it."""

    id: str
    key: str
    fields: Mapping[str, Any]

    @property
    def start(self) -> int:
        return int(self.fields["start"])

    @property
    def end(self) -> int:
        return int(self.fields["end"])

    @classmethod
    def from_api(cls, plan: Mapping[str, Any]) -> KnownPlan:
        return cls(str(plan["id"]), str(plan.get("maintenance_key", "")),
                   {k: plan.get(k) for k in COMPARED})


@dataclass(frozen=True)
class CreatePlan:
    want: PlanWindow


@dataclass(frozen=True)
class UpdatePlan:
    plan: KnownPlan
    changes: dict[str, Any]


@dataclass(frozen=True)
class StopPlan:
    plan: KnownPlan
    reason: str


@dataclass(frozen=True)
class DeletePlan:
    plan: KnownPlan
    reason: str


@dataclass(frozen=True)
class KeepPlan:
    key: str
    reason: str


PlanCommand = CreatePlan | UpdatePlan | StopPlan | DeletePlan | KeepPlan


def condition_for(tag: str, names: list[str]) -> dict[str, Any]:
    return {"=": [tag, names[0]]} if len(names) == 1 else {"IN": [tag, list(names)]}


def _window(key: str, title: str, start: int, end: int, resolution: CiResolution, settings: ChangeSettings,
            about: str) -> PlanWindow:
    return PlanWindow(
        key=key, name=f"{key}: {title}"[:512], condition=condition_for(settings.ci_tag, resolution.names),
        start=start, end=end,
        description=(f"{about}. CI found at level {resolution.level} ({resolution.source}).")[:4096],
        custom_tags=(("servicenow_record", key), ("ci_level", resolution.level)))


def plan_for_change(row: Mapping[str, Any], resolution: CiResolution,
                    settings: ChangeSettings) -> PlanWindow | NoPlan:
    table = "change_request"
    key = str(row.get("number") or "")
    state = str(row.get("state", ""))
    if state not in settings.maintenance_states:
        return NoPlan(key, f"{label(table, row)} is in state {state}, which opens no maintenance "
                           f"(maintenance states: {', '.join(sorted(settings.maintenance_states))})")
    start, end = planned_window(table, row)
    if start is None or end is None:
        return NoPlan(key, f"{label(table, row)} has no planned window (start_date and end_date)")
    if end <= start:
        return NoPlan(key, f"{label(table, row)}: the planned window ends ({end}) before it starts ({start})")
    if not resolution.found:
        return NoPlan(key, f"{label(table, row)}: no CI at any of the four levels, so no plan condition")
    title = str(row.get("short_description") or "").strip() or "change"
    about = f"Planned window of ServiceNow change {key}: {settings.record_url(table, str(row['sys_id']))}"
    return _window(key, title, start, end, resolution, settings, about)


def plan_for_outage(row: Mapping[str, Any], resolution: CiResolution,
                    settings: ChangeSettings) -> PlanWindow | NoPlan:
    table = "cmdb_ci_outage"
    key = str(row.get("number") or "")
    kind = str(row.get("type") or "")
    if kind not in settings.outage_types:
        return NoPlan(key, f"{label(table, row)} is of type {kind!r}, which is not forwarded "
                           f"(types: {', '.join(sorted(settings.outage_types))})")
    begin = epoch(table, row, "begin")
    if begin is None:
        return NoPlan(key, f"{label(table, row)} has no begin")
    end = epoch(table, row, "end")
    if end is None:
        end = begin + settings.open_outage_seconds
    if end <= begin:
        return NoPlan(key, f"{label(table, row)} ends ({end}) before it begins ({begin})")
    if not resolution.found:
        return NoPlan(key, f"{label(table, row)}: no CI at any of the four levels, so no plan condition")
    title = str(row.get("short_description") or "").strip() or f"{kind} of {', '.join(resolution.names)}"
    about = f"ServiceNow outage {key} ({kind}): {settings.record_url(table, str(row['sys_id']))}"
    return _window(key, title, begin, end, resolution, settings, about)


def _end_it(plan: KnownPlan, now: float, why: str) -> PlanCommand:
    if plan.start <= now < plan.end:
        return StopPlan(plan, why)
    if now < plan.start:
        return DeletePlan(plan, why)
    return KeepPlan(plan.key, f"plan {plan.id} has already ended; {why}")


def decide(want: PlanWindow | NoPlan, known: KnownPlan | None, now: float) -> PlanCommand:
    if isinstance(want, NoPlan):
        return _end_it(known, now, want.reason) if known else KeepPlan(want.key, want.reason)
    if want.end <= now:
        why = f"the window of {want.key} ended at {want.end}"
        return _end_it(known, now, why) if known else KeepPlan(want.key, f"{why}; no plan made")
    if known is None:
        return CreatePlan(want)
    changes = {k: v for k, v in want.fields().items() if known.fields.get(k) != v}
    return UpdatePlan(known, changes) if changes else KeepPlan(want.key, f"plan {known.id} is up to date")
