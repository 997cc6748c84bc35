"""The BigPanda simulator's state: organisations keyed by their tokens, and operations.

Routes stay thin: they authenticate through `resolve_token`, then call these methods.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Literal

from bpsn.base.clock import SimClock
from bpsn.base.rng import SeededRandom
from bpsn.simulator.bigpanda.alerts.normalize import normalize_all, split_batch
from bpsn.simulator.bigpanda.incidents.render import incident_share
from bpsn.simulator.bigpanda.sharing.pusher import Pusher
from bpsn.simulator.bigpanda.sharing.queue import Share
from bpsn.simulator.common.faults import FaultInjector
from bpsn.simulator.common.journal import Journal
from bpsn.simulator.common.notifier import ChangeNotifier

from .errors import BpError, bad_request, forbidden, not_found, unauthorized
from .models import CorrelationPattern, Environment, Incident, Ticket
from .organization import IngestResult, Organization
from .rate_limit import RateLimiter, RateLimitSettings
from .settings import BigPandaSettings

TokenKind = Literal["org", "user"]


@dataclass(frozen=True)
class Principal:
    org: Organization
    kind: TokenKind
    token: str
    email: str = ""


@dataclass
class CallbackOutcome:
    acknowledged: list[str]
    failed: list[str]
    unknown: list[str]


class BigPandaBackend:
    name = "bigpanda"

    def __init__(self, settings: BigPandaSettings | None = None, clock: SimClock | None = None) -> None:
        self.settings = settings or BigPandaSettings()
        self.clock = clock or SimClock()
        self.journal = Journal(self.settings.journal_max_entries)
        self.faults = FaultInjector(self.settings.seed)
        self.notifier = ChangeNotifier()
        self.ready = False
        self.orgs: dict[str, Organization] = {}
        self.limiter = RateLimiter()
        self.pusher = Pusher(self)  # push mode; tests inject an httpx client as pusher.client
        self.reset()

    # --- tenants -------------------------------------------------------------------------------
    def reset(self, organization: str | None = None) -> None:
        if organization is None:
            self.ready = False
            self.rng = SeededRandom(self.settings.seed)
            self.orgs.clear()
            self.journal.clear()
            self.faults.clear()
            self.limiter.reset()
            self.add_demo_organization()
            self.ready = True
        elif organization in self.orgs:
            org = self.orgs.pop(organization)
            fresh = self.add_organization(org.name, org.org_token, org.user_api_keys, org.app_keys,
                                          org.integrations, seed_environment=True)
            fresh.access = org.access  # roles are set-up, like the tokens: a reset keeps them
        else:
            raise not_found(f"Organization {organization}")
        self.notifier.notify()

    def add_demo_organization(self) -> Organization:
        s = self.settings
        return self.add_organization(
            s.organization, s.org_token, {s.user_api_key: s.user_email, s.operator_api_key: s.operator_email},
            {"alerts": s.alerts_app_key, "incidents": s.incidents_app_key, "changes": s.changes_app_key,
             "oim": s.oim_app_key},
            {s.alerts_app_key: "api.demo_monitoring", s.oim_app_key: "oim.demo_oim"},
            seed_environment=True)

    def add_organization(self, name: str, org_token: str, user_api_keys: dict[str, str],
                         app_keys: dict[str, str], integrations: dict[str, str], *,
                         seed_environment: bool = False) -> Organization:
        org = Organization(name=name, org_token=org_token, user_api_keys=dict(user_api_keys),
                           app_keys=dict(app_keys), integrations=dict(integrations),
                           settings=self.settings, rng=self.rng, on_change=self.notifier.notify,
                           on_push=self.pusher.kick, rate_limits=self.default_rate_limits())
        window = self.settings.correlation_window_seconds
        org.patterns = [CorrelationPattern(f"by_{tag}", [tag], window)
                        for tag in ("host", "service", "application", "device")]
        if seed_environment:
            env = Environment(self.rng.object_id(), self.settings.environment,
                              autoshare_targets=["servicenow"],
                              description="Every incident, auto-shared to ServiceNow")
            org.environments[env.id] = env
        self.orgs[name] = org
        return org

    def default_rate_limits(self) -> RateLimitSettings:
        s = self.settings
        return RateLimitSettings(enabled=s.rate_limit_enabled, per_second=s.rate_limit_per_second,
                                 alerts_per_second=s.alerts_per_second,
                                 incidents_v1_per_minute=s.incidents_v1_per_minute,
                                 changes_per_minute=s.changes_per_minute)

    def resolve_token(self, token: str | None) -> Principal:
        if not token:
            raise unauthorized()
        for org in self.orgs.values():
            if token == org.org_token:
                return Principal(org, "org", token)
            if token in org.user_api_keys:
                return Principal(org, "user", token, org.user_api_keys[token])
        raise unauthorized()

    @staticmethod
    def require(principal: Principal, kind: TokenKind, what: str, *, permission: str | None = None) -> None:
        """The token kind an API takes and, for user API keys, the BigPanda permission it needs."""
        if principal.kind != kind:
            wanted = "an org token" if kind == "org" else "a user API key"
            raise forbidden(f"{what} needs {wanted}; this token is not permitted here")
        if permission is not None:
            BigPandaBackend.permit(principal, permission, what)

    @staticmethod
    def permit(principal: Principal, permission: str, what: str) -> None:
        """403 naming `permission` when a user API key's roles lack it (permissions.py: the org token
        is organisation-wide and not checked)."""
        if principal.kind == "user":
            principal.org.access.check(principal.email, permission, what)

    @staticmethod
    def require_app_key(principal: Principal, app_key: str | None, kind: str) -> None:
        if not app_key:
            raise bad_request(f"the {kind} app key is missing (header x-bp-app-key or query app_key)")
        if app_key != principal.org.app_keys.get(kind):
            raise forbidden(f"app key {app_key!r} is not this organization's {kind} app key")

    # --- alerts ---------------------------------------------------------------------------------
    def ingest(self, principal: Principal, body: Any, app_key_override: str | None = None) -> list[IngestResult]:
        """Validate the whole batch first, so a bad alert changes nothing."""
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
        events = normalize_all(raws, now, source)
        events.sort(key=attrgetter("timestamp"))  # out-of-order batches: oldest first
        results = org.ingest_all(events, now)
        self.notifier.notify()
        return results

    # --- incidents --------------------------------------------------------------------------------
    def environment(self, org: Organization, environment_id: str) -> Environment:
        env = org.environments.get(environment_id)
        if env is None:
            env = next((e for e in org.environments.values() if e.name == environment_id), None)
        if env is None:
            raise not_found(f"Environment {environment_id}")
        return env

    def incident(self, org: Organization, incident_id: str, environment_id: str | None = None) -> Incident:
        incident = org.incidents.get(incident_id)
        if incident is None:
            raise not_found(f"Incident {incident_id}")
        if environment_id is not None:
            env = self.environment(org, environment_id)
            if env.id not in incident.environments:
                raise not_found(f"Incident {incident_id} in environment {environment_id}")
        return incident

    # --- sharing ------------------------------------------------------------------------------------
    def retrieve_shares(self, org: Organization, target: str, limit: int) -> tuple[list[dict[str, Any]], bool]:
        now = self.clock.now()
        shares, more = org.shares.lease(limit, now)
        out = [self.render_share(org, share) for share in shares]
        self.notifier.notify()
        return out, more

    def render_share(self, org: Organization, share: Share) -> dict[str, Any]:
        """The share object: what retrieval returns and what push mode POSTs."""
        env = org.environments.get(share.environment_id)
        return {
            "share_id": share.id, "sequence": share.sequence, "incident_id": share.incident_id,
            "environment_id": share.environment_id, "environment_name": env.name if env else "",
            "target": share.target, "trigger": share.trigger, "triggers": list(share.triggers),
            "delivery": share.deliveries, "lease_expires_at": share.lease_until,
            "incident": incident_share(org, org.incidents[share.incident_id], self.settings.console_url,
                                       share.environment_id),
        }

    def callback(self, org: Organization, results: list[dict[str, Any]]) -> CallbackOutcome:
        now = self.clock.now()
        outcome = CallbackOutcome([], [], [])
        for r in results:
            share_id = r["share_id"]
            if r.get("status", "ok") == "error":
                share = org.shares.fail(share_id, str(r.get("error") or "the target reported an error"))
                (outcome.failed if share else outcome.unknown).append(share_id)
                continue
            share = org.shares.acknowledge(share_id)
            if share is None:
                outcome.unknown.append(share_id)
                continue
            outcome.acknowledged.append(share_id)
            ticket = r.get("ticket")
            incident = org.incidents.get(share.incident_id)
            if ticket and incident is not None:
                self._record_ticket(org, incident, share.target, ticket, now)
        self.notifier.notify()
        return outcome

    def _record_ticket(self, org: Organization, incident: Incident, system: str, ticket: dict[str, Any],
                       now: float) -> None:
        t = Ticket(system, str(ticket.get("number", "")), str(ticket.get("sys_id", "")),
                   str(ticket.get("url", "")), now)
        existing = next((x for x in incident.tickets if x.system == system), None)
        if existing is None:
            incident.tickets.append(t)
        elif (existing.number, existing.sys_id, existing.url) != (t.number, t.sys_id, t.url):
            incident.tickets[incident.tickets.index(existing)] = t

    def tick(self) -> None:
        now = self.clock.now()
        for org in self.orgs.values():
            org.tick(now)
        self.pusher.kick()  # pushes whose retry fell due
        self.notifier.notify()

    def find_alert_incident(self, org: Organization, alert_id: str) -> Incident | None:
        alert = org.alerts.get(alert_id)
        return org.incidents.get(alert.incident_id) if alert else None

    def org_named(self, name: str) -> Organization:
        org = self.orgs.get(name)
        if org is None:
            raise not_found(f"Organization {name}")
        return org


__all__ = ["BigPandaBackend", "BpError", "Principal"]
