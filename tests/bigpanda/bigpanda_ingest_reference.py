"""The alert ingestion path as it was at commit 7506536, before issue #19 made it cheaper: the
oracle that tests/bigpanda/test_ingest_equivalence.py compares the simulator with. Only the
functions that changed are here (normalisation, the ingest of an event, new and updated alerts,
worst status, correlation keys, incident creation, correlation, recompute, flapping, sharing, and
the fingerprint that tells a change from a duplicate); the rest is the simulator's own code.
Do not "optimise" this file: its worth is that it is the plain, old version."""

from __future__ import annotations

from typing import Any

from bpsn.simulator.bigpanda.alerts.normalize import (
    MAX_DESCRIPTION,
    PRIMARY_DEFAULTS,
    RESERVED,
    SECONDARY_DEFAULTS,
    _tag_value,
    split_batch,
)
from bpsn.simulator.bigpanda.backend import BigPandaBackend, Principal
from bpsn.simulator.bigpanda.bpql import evaluate, parse
from bpsn.simulator.bigpanda.errors import bad_request
from bpsn.simulator.bigpanda.models import (
    ALERT_STATUSES,
    STATUS_RANK,
    Alert,
    AlertEvent,
    CorrelationPattern,
    Incident,
)
from bpsn.simulator.bigpanda.organization import IngestResult, Organization


def worst(statuses: list[str]) -> str:
    return max(statuses, key=lambda s: STATUS_RANK.get(s, 0), default="ok")


def pattern_key(pattern: CorrelationPattern, tags: dict[str, str]) -> tuple[str, ...] | None:
    if not pattern.active:
        return None
    values = [tags.get(t) for t in pattern.tags]
    if any(not v for v in values):
        return None
    if pattern.filter:
        if not evaluate(parse(pattern.filter), lambda f: [tags[f]] if f in tags else []):
            return None
    return (pattern.id, *[str(v) for v in values])


def normalize(raw: Any, *, now: float, source_system: str, where: str = "alert") -> AlertEvent:
    if not isinstance(raw, dict):
        raise bad_request(f"{where}: an alert must be a JSON object")
    status = raw.get("status")
    if not isinstance(status, str) or not status.isascii() or status.lower() not in ALERT_STATUSES:
        raise bad_request(f"{where}: status must be one of {', '.join(ALERT_STATUSES)} (got {status!r})")
    status = status.lower()
    timestamp = raw.get("timestamp", now)
    if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float)) or timestamp < 0:
        raise bad_request(f"{where}: timestamp must be epoch seconds")
    if timestamp > 1e11:
        raise bad_request(f"{where}: timestamp {timestamp} looks like milliseconds; send epoch seconds")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise bad_request(f"{where}: description must be a string")
    if len(description) > MAX_DESCRIPTION:
        raise bad_request(f"{where}: description is {len(description)} characters; at most {MAX_DESCRIPTION} are allowed")
    tags = {k: _tag_value(k, v, where) for k, v in raw.items() if k not in RESERVED and v is not None}
    primary = _property(raw, tags, "primary_property", PRIMARY_DEFAULTS, where)
    if primary is None:
        raise bad_request(
            f"{where}: no primary property: send one of {', '.join(PRIMARY_DEFAULTS)}, "
            "or name a tag that is present in primary_property")
    secondary = _property(raw, tags, "secondary_property", SECONDARY_DEFAULTS, where)
    identifier = raw.get("incident_identifier")
    if identifier is not None and not isinstance(identifier, str):
        raise bad_request(f"{where}: incident_identifier must be a string")
    key = identifier or "__".join(v for v in (tags[primary], tags.get(secondary or "")) if v)
    return AlertEvent(
        status="unknown" if status == "acknowledged" else status, timestamp=float(timestamp),
        primary_property=primary, primary_value=tags[primary],
        secondary_property=secondary, secondary_value=tags.get(secondary) if secondary else None,
        incident_key=key, description=description, tags=tags, source_system=source_system,
        acknowledged=status == "acknowledged")


def _property(raw: dict[str, Any], tags: dict[str, str], explicit: str,
              defaults: tuple[str, ...], where: str) -> str | None:
    named = raw.get(explicit)
    if named is not None:
        if not isinstance(named, str) or not tags.get(named):
            raise bad_request(f"{where}: {explicit} names tag {named!r}, which the alert does not carry")
        return named
    return next((d for d in defaults if tags.get(d)), None)


class ReferenceOrganization(Organization):
    """An Organization whose ingestion methods are the old ones (set as an instance's class)."""

    def ingest(self, event: AlertEvent, now: float) -> IngestResult:
        alert_id = self.alerts_by_key.get(event.incident_key)
        if alert_id is None:
            return self._new_alert(event, now)
        alert = self.alerts[alert_id]
        if event.timestamp < alert.last_event_at:
            # an older event arriving late changes nothing (batches may come out of order)
            return IngestResult(alert.id, alert.incident_id, created=False, changed=False)
        incident = self.incidents[alert.incident_id]
        if not incident.active and event.status != "ok":
            if now - (incident.end or now) > self.settings.reopen_window_seconds:
                return self._new_alert(event, now)  # too long ago: a new incident
            return self._update_alert(alert, event, now, reopen=True)
        return self._update_alert(alert, event, now, reopen=False)

    def _new_alert(self, event: AlertEvent, now: float) -> IngestResult:
        alert = Alert(
            id=self.rng.object_id(), incident_key=event.incident_key, incident_id="",
            status=event.status, primary_property=event.primary_property,
            secondary_property=event.secondary_property, source_system=event.source_system,
            description=event.description, tags=dict(event.tags), start=event.timestamp,
            changed_at=now, updated_at=now, last_event_at=event.timestamp,
            end=event.timestamp if event.status == "ok" else None, acknowledged=event.acknowledged)
        alert.fingerprint = self._fingerprint(event)
        # maintenance is matched at alert events only, not re-evaluated as plans start or end
        alert.maintenance_plans = self.maintenance.matching_plans(alert.tags, now)
        incident, keys = self._correlate(alert, now)
        self.alerts[alert.id] = alert
        self.alerts_by_key[alert.incident_key] = alert.id
        created = incident is None
        if incident is None:
            incident = self.new_incident([alert], now, start=event.timestamp, keys=keys)
        else:
            alert.incident_id = incident.id
            incident.alert_ids.append(alert.id)
        for key in keys:
            self.correlation_index[key] = incident.id
        self.recompute(incident, now, "incident#new" if created else "incident#alert-added",
                       new_alert=not created)
        return IngestResult(alert.id, incident.id, created=True, changed=True)

    def _update_alert(self, alert: Alert, event: AlertEvent, now: float, *, reopen: bool) -> IngestResult:
        fingerprint = self._fingerprint(event)
        if fingerprint == alert.fingerprint and not reopen:
            return IngestResult(alert.id, alert.incident_id, created=False, changed=False)
        incident = self.incidents[alert.incident_id]
        flipped = (alert.status == "ok") != (event.status == "ok")
        shown = (event.status != alert.status or any(alert.tags.get(k) != v for k, v in event.tags.items())
                 or bool(event.description and event.description != alert.description))
        alert.fingerprint = fingerprint
        alert.last_event_at = event.timestamp
        alert.updated_at = now
        alert.tags.update(event.tags)
        alert.maintenance_plans = self.maintenance.matching_plans(alert.tags, now)  # at alert events only
        alert.description = event.description or alert.description
        alert.acknowledged = event.acknowledged
        if event.status != alert.status:
            alert.status = event.status
            alert.changed_at = now
        alert.end = event.timestamp if event.status == "ok" else None
        if flipped:
            incident.flips.append(now)
        if reopen:
            incident.active, incident.end = True, None
            self._activity(incident, "incident_reopen", now)
            self._cancel_snooze(incident, now, "reopen")
        self.recompute(incident, now, "incident#reopen" if reopen else "incident#alerts-updated",
                       alert_shown_change=shown)
        return IngestResult(alert.id, incident.id, created=False, changed=True)

    def new_incident(self, alerts: list[Alert], now: float, *, start: float | None = None,
                     keys: list[tuple[str, ...]] | None = None) -> Incident:
        statuses = [a.status for a in alerts]
        incident = Incident(id=self.rng.object_id(), organization=self.name, alert_ids=[a.id for a in alerts],
                            status=worst(statuses), severity=worst(statuses),
                            active=any(a.active for a in alerts),
                            start=start if start is not None else min((a.start for a in alerts), default=now),
                            changed_at=now, updated_at=now, correlation_keys=keys or [])
        for a in alerts:
            a.incident_id = incident.id
        self.incidents[incident.id] = incident
        self._activity(incident, "incident_created", now)
        return incident

    @staticmethod
    def _fingerprint(event: AlertEvent) -> tuple[object, ...]:
        return (event.status, event.acknowledged, event.description, tuple(sorted(event.tags.items())))

    def _correlate(self, alert: Alert, now: float) -> tuple[Incident | None, list[tuple[str, ...]]]:
        keys = [k for p in self.patterns if (k := pattern_key(p, alert.tags)) is not None]
        windows = {p.id: p.window for p in self.patterns}
        for key in keys:
            incident_id = self.correlation_index.get(key)
            if incident_id is None:
                continue
            incident = self.incidents[incident_id]
            if incident.active and alert.start - incident.start <= windows[key[0]]:
                return incident, keys
        return None, keys

    def recompute(self, incident: Incident, now: float, trigger: str, new_alert: bool = False,
                  alert_shown_change: bool = False) -> None:
        alerts = [self.alerts[a] for a in incident.alert_ids]
        active = [a.status for a in alerts if a.active]
        before = (incident.status, incident.severity, incident.active, incident.flapping)
        incident.status = worst(active) if active else "ok"
        if STATUS_RANK[incident.status] > STATUS_RANK[incident.severity]:
            incident.severity = incident.status
            self._cancel_snooze(incident, now, "severity increase")
        if new_alert:
            self._cancel_snooze(incident, now, "new alert")
        if not active and incident.active:
            incident.active, incident.end = False, now
            self._activity(incident, "incident_resolved_by_alerts", now)
            trigger = "incident#resolved"
        self._update_flapping(incident, now)
        incident.updated_at = now
        after = (incident.status, incident.severity, incident.active, incident.flapping)
        if after != before or trigger != "incident#alerts-updated" or alert_shown_change:
            incident.changed_at = now
            incident.version += 1
            if incident.flapping and not before[3]:
                trigger = "incident#become-flapping"
            self.share(incident, trigger, now)
        self.on_change()

    def _update_flapping(self, incident: Incident, now: float) -> None:
        window = self.settings.flapping_window_seconds
        incident.flips = [t for t in incident.flips if now - t <= window]
        flapping = len(incident.flips) >= self.settings.flapping_threshold
        if flapping and not incident.flapping:
            self._activity(incident, "incident_become_flapping", now)
        incident.flapping = flapping

    def share(self, incident: Incident, trigger: str, now: float) -> None:
        for env in self.environments.values():
            if not self.in_environment(env, incident):
                continue
            if env.id not in incident.environments:
                incident.environments.append(env.id)
            for target in env.autoshare_targets:
                if self.push.target(env.id, target) is not None:
                    self.push.enqueue(self.rng.object_id(), incident.id, env.id, target, trigger, now)
                    self.on_push()
                else:
                    self.shares.enqueue(self.rng.object_id(), incident.id, env.id, target, trigger, now)
                if not any(a.type == "incident_shared" and a.params.get("share_target") == target
                           for a in incident.activities):
                    self._activity(incident, "incident_shared", now, share_target=target, share_auto=True,
                                   firstTime=True)


class ReferenceBackend(BigPandaBackend):
    """A BigPandaBackend whose organisations ingest the old way."""

    def reset(self, organization: str | None = None) -> None:
        super().reset(organization)
        for org in self.orgs.values():
            org.__class__ = ReferenceOrganization

    def ingest(self, principal: Principal, body: Any, app_key_override: str | None = None) -> list[IngestResult]:
        org = principal.org
        app_key, raws = split_batch(body)
        app_key = app_key or app_key_override
        if not app_key:
            raise bad_request("app_key is required")
        source = org.integrations.get(app_key)
        if source is None:
            if not self.settings.accept_unknown_app_keys:
                raise bad_request(f"app_key {app_key!r} is not an integration of this organization")
            source = "api.unknown"
        now = self.clock.now()
        events = [normalize(raw, now=now, source_system=source, where=f"alerts[{i}]" if len(raws) > 1 else "alert")
                  for i, raw in enumerate(raws)]
        events.sort(key=lambda e: e.timestamp)
        results = [org.ingest(e, now) for e in events]
        self.notifier.notify()
        return results
