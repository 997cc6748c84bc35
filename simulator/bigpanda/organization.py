"""One BigPanda organisation: its alerts, incidents, environments and share queue.

Alert events come in; correlation puts each new alert into an incident; the incident's
lifecycle (status, severity, resolve, reopen, flapping) follows its alerts; every change
that BigPanda shares enqueues a share for each environment that autoshares the incident.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bpsn.base.rng import SeededRandom
from bpsn.simulator.bigpanda.changes.store import ChangeStore
from bpsn.simulator.bigpanda.enrichment.store import EnrichmentStore
from bpsn.simulator.bigpanda.incidents.lookup import incident_lookup
from bpsn.simulator.bigpanda.maintenance.plans import MaintenanceStore
from bpsn.simulator.bigpanda.oim.store import OimStore
from bpsn.simulator.bigpanda.sharing.push import PushStore
from bpsn.simulator.bigpanda.sharing.queue import ShareQueue

from .bpql import evaluate, parse
from .models import (
    STATUS_RANK,
    Alert,
    AlertEvent,
    CorrelationPattern,
    Environment,
    Incident,
    Snooze,
    make_activity,
    make_alert,
    make_incident,
    positional_constructor,
    worst,
)
from .permissions import AccessControl
from .rate_limit import RateLimitSettings
from .settings import BigPandaSettings

SYSTEM = "system"


@dataclass
class IngestResult:
    alert_id: str
    incident_id: str
    created: bool
    changed: bool


_make_result = positional_constructor(IngestResult)  # IngestResult(...) in the ingest path, positional


@dataclass
class Organization:
    name: str
    org_token: str
    user_api_keys: dict[str, str]  # key -> user email; a key acts with its user's roles (access)
    app_keys: dict[str, str]  # kind (alerts, incidents, changes, oim) -> key
    integrations: dict[str, str]  # alert app key -> source system
    settings: BigPandaSettings
    rng: SeededRandom
    environments: dict[str, Environment] = field(default_factory=dict)
    patterns: list[CorrelationPattern] = field(default_factory=list)
    alerts: dict[str, Alert] = field(default_factory=dict)
    alerts_by_key: dict[str, str] = field(default_factory=dict)
    incidents: dict[str, Incident] = field(default_factory=dict)
    correlation_index: dict[tuple[str, ...], str] = field(default_factory=dict)
    shares: ShareQueue = field(init=False)
    changes: ChangeStore = field(default_factory=ChangeStore)
    maintenance: MaintenanceStore = field(default_factory=MaintenanceStore)
    enrichment: EnrichmentStore = field(default_factory=EnrichmentStore)
    oim: OimStore = field(default_factory=OimStore)
    rate_limits: RateLimitSettings = field(default_factory=RateLimitSettings)
    tag_definitions: dict[str, Any] = field(default_factory=dict)  # id -> incident_actions.TagDefinition
    push: PushStore = field(default_factory=PushStore)  # push-mode targets, outbox, dead letters
    access: AccessControl = field(default_factory=AccessControl)  # RBAC: roles and the users' roles
    on_change: Callable[[], None] = lambda: None
    on_push: Callable[[], None] = lambda: None  # a push was enqueued: the backend's pusher delivers it

    def __post_init__(self) -> None:
        self.shares = ShareQueue(self.settings.share_lease_seconds, self.settings.share_max_deliveries)

    # --- ingest ------------------------------------------------------------------------------
    def ingest_all(self, events: list[AlertEvent], now: float) -> list[IngestResult]:
        """ingest() of each event in turn; an alert never seen before goes straight to _new_alert."""
        known = self.alerts_by_key
        new_alert, ingest = self._new_alert, self.ingest
        return [new_alert(e, now) if e.incident_key not in known else ingest(e, now) for e in events]

    def ingest(self, event: AlertEvent, now: float) -> IngestResult:
        alert_id = self.alerts_by_key.get(event.incident_key)
        if alert_id is None:
            return self._new_alert(event, now)
        alert = self.alerts[alert_id]
        if event.timestamp < alert.last_event_at:
            # an older event arriving late changes nothing (batches may come out of order)
            return IngestResult(alert.id, alert.incident_id, False, False)  # created, changed
        incident = self.incidents[alert.incident_id]
        if not incident.active and event.status != "ok":
            if now - (incident.end or now) > self.settings.reopen_window_seconds:
                return self._new_alert(event, now)  # too long ago: a new incident
            return self._update_alert(alert, event, now, reopen=True)
        return self._update_alert(alert, event, now, reopen=False)

    def _new_alert(self, event: AlertEvent, now: float) -> IngestResult:
        tags, status, timestamp = event.tags, event.status, event.timestamp
        # maintenance is matched at alert events only, not re-evaluated as plans start or end
        plans = self.maintenance.matching_plans(tags, now) if self.maintenance.plans else []
        # every field positional, in Alert's field order (make_alert: see models.positional_constructor)
        alert = make_alert(
            self.rng.object_id(), event.incident_key, "", status, event.primary_property,
            event.secondary_property, event.source_system, event.description, dict(tags),
            timestamp, now, now, timestamp,  # start, changed_at, updated_at, last_event_at
            timestamp if status == "ok" else None, event.acknowledged, plans,  # end, acknowledged, plans
            (status, event.acknowledged, event.description, tags))  # the fingerprint: _fingerprint(event)
        incident, keys = self._correlate(alert, now)
        self.alerts[alert.id] = alert
        self.alerts_by_key[alert.incident_key] = alert.id
        index = self.correlation_index
        if incident is None:
            incident = self._open_incident(alert, now, keys)
            incident_id = incident.id
            for key in keys:
                index[key] = incident_id
            if self.settings.flapping_threshold > 0:
                # what recompute(incident, now, "incident#new") does to an incident made just now
                # from this one alert: its status, severity and activity are already right
                incident.version += 1
                self.share(incident, "incident#new", now)
                self.on_change()
            else:
                self.recompute(incident, now, "incident#new")
        else:
            incident_id = alert.incident_id = incident.id
            incident.alert_ids.append(alert.id)
            for key in keys:
                index[key] = incident_id
            self.recompute(incident, now, "incident#alert-added", True)  # new_alert
        return _make_result(alert.id, incident_id, True, True)  # created, changed

    def _open_incident(self, alert: Alert, now: float, keys: list[tuple[str, ...]]) -> Incident:
        """new_incident([alert], now, start=alert.start, keys=keys) for a new alert, without its
        loops over one alert."""
        status, object_id = alert.status, self.rng.object_id
        incident_id = object_id()
        # every field positional, no default factory run; the incident's first activity made in
        # place: what _activity(incident, "incident_created", now) appends (ids drawn in that order)
        incident = make_incident(incident_id, self.name, [alert.id], status, status, status != "ok",
                                 alert.start, now, now, None, False, [], Snooze(), [], {}, keys, [],
                                 [make_activity(object_id(), "incident_created", now, SYSTEM, {})], 1, None, {}, None)
        alert.incident_id = incident_id
        self.incidents[incident_id] = incident
        return incident

    def new_incident(self, alerts: list[Alert], now: float, *, start: float | None = None,
                     keys: list[tuple[str, ...]] | None = None) -> Incident:
        """An incident holding `alerts` (moved from wherever they were); the caller recomputes it."""
        status = worst([a.status for a in alerts])
        if start is None:
            start = min((a.start for a in alerts), default=now)
        # positional up to updated_at, in Incident's field order (see _new_alert)
        incident = Incident(self.rng.object_id(), self.name, [a.id for a in alerts], status, status,
                            any([a.active for a in alerts]), start, now, now, correlation_keys=keys or [])
        for a in alerts:
            a.incident_id = incident.id
        self.incidents[incident.id] = incident
        self._activity(incident, "incident_created", now)
        return incident

    def _correlate(self, alert: Alert, now: float) -> tuple[Incident | None, list[tuple[str, ...]]]:
        """The alert's key under every pattern, and the incident of the first key whose incident is
        active and started within that pattern's window (pattern ids are unique: fixtures.py)."""
        keys: list[tuple[str, ...]] = []
        found: Incident | None = None
        tags = alert.tags
        for pattern in self.patterns:
            names = pattern.tags
            if names:
                value = tags.get(names[0])
                if not value:  # the usual miss (an alert carries one of host, service, ...): no key under
                    continue   # any kind of pattern without a value for its first tag (CorrelationPattern.key)
                if len(names) == 1 and pattern.active and not pattern.filter:  # CorrelationPattern.key, inlined
                    key: tuple[str, ...] | None = (pattern.id, value if type(value) is str else str(value))
                else:
                    key = pattern.key(tags)
            else:
                key = pattern.key(tags)
            if key is None:
                continue
            keys.append(key)
            if found is None and (incident_id := self.correlation_index.get(key)) is not None:
                incident = self.incidents[incident_id]
                if incident.active and alert.start - incident.start <= pattern.window:
                    found = incident
        return found, keys

    def _update_alert(self, alert: Alert, event: AlertEvent, now: float, *, reopen: bool) -> IngestResult:
        fingerprint = self._fingerprint(event)
        if fingerprint == alert.fingerprint and not reopen:
            return IngestResult(alert.id, alert.incident_id, False, False)  # created, changed
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
        return IngestResult(alert.id, incident.id, False, True)  # created, changed

    @staticmethod
    def _fingerprint(event: AlertEvent) -> tuple[object, ...]:
        """What makes an event a change. The tags as a dict (compared by content, in any order) and
        not sorted pairs: one object instead of a tuple per tag, for every alert (snapshot files
        with pairs are read back as dicts: admin/snapshot_doc.py). The event's own dict, not a
        copy: nothing changes an event's tags once normalize made them (the alert gets a copy)."""
        return (event.status, event.acknowledged, event.description, event.tags)

    # --- lifecycle -------------------------------------------------------------------------------
    def recompute(self, incident: Incident, now: float, trigger: str, new_alert: bool = False,
                  alert_shown_change: bool = False) -> None:
        """`alert_shown_change`: an alert changed what the v3 app shows on the ticket (its status,
        tags or description): shared as an update even when the incident's own state did not change."""
        alerts, rank = self.alerts, STATUS_RANK
        worst_status, worst_rank = "ok", -1  # worst() of the active alerts' statuses, in the same loop
        for alert_id in incident.alert_ids:
            if (status := alerts[alert_id].status) != "ok" and (r := rank.get(status, 0)) > worst_rank:  # Alert.active
                worst_status, worst_rank = status, r
        active = worst_rank >= 0
        # any trigger but a plain update is shared whatever changed: then the state before is not needed
        shared_anyway = trigger != "incident#alerts-updated" or alert_shown_change
        before = None if shared_anyway else (incident.status, incident.severity, incident.active, incident.flapping)
        was_flapping = incident.flapping
        incident.status = worst_status
        if rank[worst_status] > rank[incident.severity]:
            incident.severity = incident.status
            self._cancel_snooze(incident, now, "severity increase")
        if new_alert and incident.snooze.snoozed:
            self._cancel_snooze(incident, now, "new alert")
        if not active and incident.active:
            incident.active, incident.end = False, now
            self._activity(incident, "incident_resolved_by_alerts", now)
            trigger = "incident#resolved"
        if incident.flips or incident.flapping or self.settings.flapping_threshold <= 0:
            self._update_flapping(incident, now)  # (it changes nothing for the others)
        incident.updated_at = now
        if shared_anyway or (incident.status, incident.severity, incident.active, incident.flapping) != before:
            incident.changed_at = now
            incident.version += 1
            if incident.flapping and not was_flapping:
                trigger = "incident#become-flapping"
            self.share(incident, trigger, now)
        self.on_change()

    def _update_flapping(self, incident: Incident, now: float) -> None:
        window = self.settings.flapping_window_seconds
        if incident.flips:  # most incidents never flip: no new list for them
            incident.flips = [t for t in incident.flips if now - t <= window]
        flapping = len(incident.flips) >= self.settings.flapping_threshold
        if flapping and not incident.flapping:
            self._activity(incident, "incident_become_flapping", now)
        incident.flapping = flapping

    def _cancel_snooze(self, incident: Incident, now: float, reason: str) -> None:
        if incident.snooze.snoozed and incident.snooze.cancel_on_incident_updates:
            self.end_snooze(incident, now, reason)

    def end_snooze(self, incident: Incident, now: float, reason: str) -> None:
        """Cancelled by an update, woken at end_time, or unsnoozed through the API."""
        incident.snooze.snoozed = False
        incident.snooze.end_time = None
        incident.changed_at = now
        self._activity(incident, "incident_unsnoozed", now, reason=reason)
        self.share(incident, "incident#unsnoozed", now)

    def tick(self, now: float) -> None:
        """Timers: leases that ran out, snoozes that end, flapping that calmed down."""
        self.shares.expire_leases(now)
        for incident in self.incidents.values():
            if incident.snooze.snoozed and incident.snooze.end_time is not None and incident.snooze.end_time <= now:
                self.end_snooze(incident, now, "end_time reached")
            if incident.flapping:
                self._update_flapping(incident, now)
                if not incident.flapping:
                    incident.changed_at = now
                    self.share(incident, "incident#stopped-flapping", now)

    def _activity(self, incident: Incident, kind: str, now: float, **params: object) -> None:
        # **params: a new dict per call
        incident.activities.append(make_activity(self.rng.object_id(), kind, now, SYSTEM, params))

    def in_environment(self, env: Environment, incident: Incident) -> bool:
        if not env.filter:
            return True
        return evaluate(parse(env.filter), incident_lookup(self.alerts, incident))

    # --- sharing ------------------------------------------------------------------------------------
    def share(self, incident: Incident, trigger: str, now: float) -> None:
        for env in self.environments.values():
            if env.filter and not self.in_environment(env, incident):
                continue
            if env.id not in incident.environments:
                incident.environments.append(env.id)
            pushed = self.push.targets.get(env.id)  # PushStore.target, without a dict per call
            for target in env.autoshare_targets:
                if pushed is not None and pushed.get(target) is not None:
                    self.push.enqueue(self.rng.object_id(), incident.id, env.id, target, trigger, now)
                    self.on_push()
                else:
                    self.shares.enqueue(self.rng.object_id(), incident.id, env.id, target, trigger, now)
                for activity in incident.activities:  # shared to this target before? (runs per share)
                    if activity.type == "incident_shared" and activity.params.get("share_target") == target:
                        break
                else:  # what _activity(incident, "incident_shared", now, share_target=target, ...) appends
                    incident.activities.append(make_activity(self.rng.object_id(), "incident_shared", now, SYSTEM, {
                        "share_target": target, "share_auto": True, "firstTime": True}))
