"""What the Incidents API does to an incident: resolve, comment, snooze, assign, merge,
split, tags. Each validates first (a refused action changes nothing), then records its
activity and, where BigPanda shares the change, enqueues a share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from bpsn.simulator.bigpanda.errors import BpError, bad_request, not_found
from bpsn.simulator.bigpanda.models import Incident
from bpsn.simulator.bigpanda.organization import Organization

MAX_ALERTS_PER_INCIDENT = 300
MAX_SNOOZE_SECONDS = 90 * 86400
TagType = Literal["Text", "MultiValue", "Priority", "ClosedListValuesMulti", "ClosedListValuesSingle"]
TAG_TYPES: tuple[str, ...] = get_args(TagType)


@dataclass
class TagDefinition:
    id: str
    name: str
    type: str
    description: str = ""
    active: bool = True
    values: tuple[str, ...] = ()


def resolve(org: Organization, incident: Incident, comments: str, by: str, now: float, *, via: str) -> None:
    if not incident.active:
        raise BpError(409, f"incident {incident.id} is already resolved")
    for alert_id in incident.alert_ids:
        alert = org.alerts[alert_id]
        if alert.active:
            alert.status, alert.end, alert.changed_at, alert.updated_at = "ok", now, now, now
    incident.status, incident.active, incident.end = "ok", False, now
    incident.changed_at = incident.updated_at = now
    incident.version += 1
    org._activity(incident, "incident_resolved_api", now, comments=comments, via=via, by=by)
    org.share(incident, "incident#resolved", now)


def comment(org: Organization, incident: Incident, text: str, by: str, now: float) -> None:
    org._activity(incident, "incident_commented", now, comment=text, by=by)


def snooze(org: Organization, incident: Incident, end_time: float, text: str, cancel: bool, by: str, now: float) -> None:
    if end_time <= now:
        raise bad_request(f"end_time {int(end_time)} is not in the future (now is {int(now)})")
    if end_time - now >= MAX_SNOOZE_SECONDS:
        raise bad_request("end_time must be less than 90 days from now")
    if not incident.active:
        raise bad_request(f"incident {incident.id} is resolved; only active incidents can be snoozed")
    incident.snooze.snoozed, incident.snooze.end_time = True, end_time
    incident.snooze.cancel_on_incident_updates = cancel
    incident.changed_at = now
    org._activity(incident, "incident_snoozed", now, comment=text, end_time=int(end_time), by=by)
    org.share(incident, "incident#snoozed", now)


def unsnooze(org: Organization, incident: Incident, by: str, now: float, reason: str = "api") -> None:
    if not incident.snooze.snoozed:
        return
    incident.snooze.snoozed, incident.snooze.end_time = False, None
    incident.changed_at = now
    org._activity(incident, "incident_unsnoozed", now, reason=reason, by=by)
    org.share(incident, "incident#unsnoozed", now)


def assign(org: Organization, incident: Incident, assignee: str | None, by: str, now: float) -> None:
    if assignee is None and incident.assignee is None:
        raise bad_request(f"incident {incident.id} is not assigned")
    incident.assignee = assignee
    incident.changed_at = now
    kind = "incident_assigned" if assignee else "incident_unassigned"
    org._activity(incident, kind, now, assignee=assignee, by=by)
    org.share(incident, "incident#assigned" if assignee else "incident#unassigned", now)


def merge(org: Organization, dest: Incident, source_ids: list[str], text: str, by: str, now: float) -> None:
    if not source_ids:
        raise bad_request("source_incidents must name at least one incident")
    if dest.id in source_ids:
        raise bad_request("an incident cannot be merged into itself")
    sources = []
    for sid in dict.fromkeys(source_ids):
        src = org.incidents.get(sid)
        if src is None:
            raise not_found(f"Incident {sid}")
        if src.merged_into:
            raise BpError(409, f"incident {sid} was already merged into {src.merged_into}")
        sources.append(src)
    total = len(dest.alert_ids) + sum(len(s.alert_ids) for s in sources)
    if total > MAX_ALERTS_PER_INCIDENT:
        raise bad_request(f"the merged incident would hold {total} alerts; at most {MAX_ALERTS_PER_INCIDENT} are allowed")
    for src in sources:
        for alert_id in src.alert_ids:
            org.alerts[alert_id].incident_id = dest.id
        dest.alert_ids.extend(src.alert_ids)
        src.alert_ids, src.merged_into = [], dest.id
        src.active, src.status, src.end, src.changed_at = False, "ok", now, now
        org._activity(src, "incident_merged_source", now, destination=dest.id, comment=text, by=by)
        org.share(src, "incident#merged", now)
    org._activity(dest, "incident_merged_destination", now, sources=[s.id for s in sources], comment=text, by=by)
    org.recompute(dest, now, "incident#alerts-merged")


def split(org: Organization, incident: Incident, alert_ids: list[str], text: str, by: str, now: float) -> Incident:
    chosen = list(dict.fromkeys(alert_ids))
    if not chosen:
        raise bad_request("alerts must name at least one alert")
    missing = [a for a in chosen if a not in incident.alert_ids]
    if missing:
        raise bad_request(f"alerts {', '.join(missing)} are not in incident {incident.id}")
    if len(chosen) == len(incident.alert_ids):
        raise bad_request("a split must leave at least one alert in the incident")
    new = org.new_incident([org.alerts[a] for a in chosen], now)
    incident.alert_ids = [a for a in incident.alert_ids if a not in chosen]
    org._activity(incident, "incident_splitted_source", now, destination=new.id, alerts=chosen, comment=text, by=by)
    org._activity(new, "incident_splitted_destination", now, source=incident.id, comment=text, by=by)
    org.recompute(incident, now, "incident#alerts-split")
    org.recompute(new, now, "incident#new")
    return new


def define_tag(org: Organization, name: str, kind: str, description: str, values: list[str],
               existing: TagDefinition | None = None) -> TagDefinition:
    if not 1 <= len(name) <= 20:
        raise bad_request(f"tag name {name!r} must be 1 to 20 characters")
    if kind not in TAG_TYPES:
        raise bad_request(f"tag type {kind!r} must be one of {', '.join(TAG_TYPES)}")
    clash = next((t for t in org.tag_definitions.values() if t.name == name and t is not existing), None)
    if clash is not None:
        raise BpError(409, f"a tag definition named {name!r} already exists ({clash.id})")
    if existing is None:
        existing = TagDefinition(f"itd-{org.rng.object_id()[:10]}", name, kind)
        org.tag_definitions[existing.id] = existing
    existing.name, existing.type, existing.description, existing.values = name, kind, description, tuple(values)
    return existing


def set_tag(org: Organization, incident: Incident, tag_id: str, value: str | list[str], by: str, now: float) -> None:
    definition = org.tag_definitions.get(tag_id)
    if definition is None:
        raise not_found(f"Tag definition {tag_id}")
    values = value if isinstance(value, list) else [value]
    if definition.type in ("ClosedListValuesMulti", "ClosedListValuesSingle"):
        wrong = [v for v in values if v not in definition.values]
        if wrong:
            raise bad_request(f"tag {definition.name} takes only {', '.join(definition.values)}; not {', '.join(wrong)}")
        if definition.type == "ClosedListValuesSingle" and len(values) != 1:
            raise bad_request(f"tag {definition.name} takes exactly one value")
    text = "|".join(str(v) for v in values)
    if incident.incident_tags.get(tag_id) == text:
        return
    incident.incident_tags[tag_id] = text
    incident.tag_meta[tag_id] = (by, now)
    incident.changed_at = now
    org._activity(incident, "incident_tag_updated", now, tag_id=tag_id, value=text, by=by)
    org.share(incident, "incident#tags-updated", now)


def remove_tag(org: Organization, incident: Incident, tag_id: str, by: str, now: float) -> None:
    if tag_id not in incident.incident_tags:
        raise not_found(f"Tag {tag_id} on incident {incident.id}")
    del incident.incident_tags[tag_id]
    incident.tag_meta.pop(tag_id, None)
    incident.changed_at = now
    org._activity(incident, "incident_tag_removed", now, tag_id=tag_id, by=by)
    org.share(incident, "incident#tags-updated", now)
