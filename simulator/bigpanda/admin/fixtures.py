"""Seed fixtures (a YAML or JSON file, or `POST /_sim/fixtures`) and correlation patterns as data.

A fixture lists organisations; each is built afresh (an organisation of the same name is
replaced whole) with its tokens, user API keys, app keys and integrations, roles (RBAC) and
the users' roles, rate limits, environments (BPQL filter, autoshare targets, optional push
URLs), correlation patterns
(the four built-in ones when none are given), incident tag definitions, maintenance plans,
and alerts to ingest, each `at` seconds from now (negative: in the past). The whole file is
checked before anything is applied, and a failure while applying restores the state as it
was: a bad file changes nothing, and the error names the entry.
"""

from __future__ import annotations

from typing import Any

from fastapi import Body, Path, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bpsn.simulator.bigpanda.alerts.normalize import normalize
from bpsn.simulator.bigpanda.backend import BigPandaBackend, Principal
from bpsn.simulator.bigpanda.bpql import BpqlError, parse
from bpsn.simulator.bigpanda.errors import BpError, bad_request, doc
from bpsn.simulator.bigpanda.incidents import actions as act
from bpsn.simulator.bigpanda.maintenance.plans import check_condition
from bpsn.simulator.bigpanda.models import CorrelationPattern, Environment
from bpsn.simulator.bigpanda.organization import Organization
from bpsn.simulator.bigpanda.permissions import DEFAULT_ROLE, MAX_ROLES, AccessControl
from bpsn.simulator.bigpanda.rate_limit import RateLimitSettings
from bpsn.simulator.bigpanda.sharing.push import PushTarget
from bpsn.simulator.common.bodies import AdminBody
from bpsn.simulator.common.route_group import RouteGroup

URL = r"^https?://[!-~]+$"  # ASCII, no spaces: every regex dialect reads it the same


class _Strict(AdminBody):
    """No unknown keys, no "true" for true."""


class PatternIn(_Strict):
    id: str = Field(min_length=1, max_length=100, examples=["by_cluster_eu"])
    tags: list[str] = Field(max_length=20, description="Alerts with equal values of all these tags correlate",
                            examples=[["cluster"]])
    window: float = Field(description="Seconds after the incident's start in which alerts still join it",
                          examples=[3600])
    filter: str = Field("", max_length=2000, description="BPQL over the alert's tags; empty for every alert",
                        examples=['region = "eu-*"'])
    active: bool = True


class PushFx(_Strict):
    url: str = Field(min_length=8, max_length=2000, pattern=URL)
    headers: dict[str, str] = Field(default_factory=dict, max_length=50)


class EnvironmentFx(_Strict):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=2000)
    filter: str = Field("", max_length=2000, description="BPQL; empty for every incident")
    autoshare_targets: list[str] = Field(default_factory=list, max_length=20)
    push: dict[str, PushFx] = Field(default_factory=dict, description="target -> URL: push instead of pull")


class TagDefinitionFx(_Strict):
    name: str = Field(min_length=1, max_length=20)
    type: str = Field("Text", max_length=40)
    description: str = Field("", max_length=2000)
    values: list[str] = Field(default_factory=list, max_length=200)


class PlanFx(_Strict):
    name: str = Field(min_length=1, max_length=200)
    condition: dict[str, Any] = Field(description="BPQL object form, e.g. {\"=\": [\"host\", \"web-1\"]}")
    start: int | None = Field(None, description="Epoch seconds; or starts_in")
    end: int | None = Field(None, description="Epoch seconds; or duration")
    starts_in: float | None = Field(None, description="Seconds from now (default 0)")
    duration: float | None = Field(None, gt=0, description="Seconds after start")
    description: str = Field("", max_length=2000)
    time_zone: str = Field("UTC", max_length=100)
    custom_tags: list[dict[str, str]] = Field(default_factory=list, max_length=50)
    maintenance_key: str | None = Field(None, max_length=200)


class AlertFx(BaseModel):
    model_config = ConfigDict(extra="allow")  # the alert's own fields: status, host, check, tags...
    at: float = Field(0, description="Seconds from now (negative: in the past); the alert's timestamp")
    app_key: str | None = Field(None, description="Default: the organization's alerts app key")


class RateLimitsFx(_Strict):
    enabled: bool | None = None
    per_second: int | None = Field(None, ge=1)
    alerts_per_second: int | None = Field(None, ge=1)
    incidents_v1_per_minute: int | None = Field(None, ge=1)
    changes_per_minute: int | None = Field(None, ge=1)
    changes_per_week: int | None = Field(None, ge=1)


class OrganizationFx(_Strict):
    name: str = Field(min_length=1, max_length=100)
    org_token: str = Field(min_length=1, max_length=500)
    user_api_keys: dict[str, str] = Field(default_factory=dict, description="key -> user email")
    app_keys: dict[str, str] = Field(default_factory=dict, description="alerts, incidents, changes, oim -> key")
    integrations: dict[str, str] = Field(default_factory=dict, description="alert app key -> source system")
    roles: dict[str, list[str]] | None = Field(
        None, max_length=MAX_ROLES, description=f"role -> BigPanda permissions; default: {DEFAULT_ROLE!r} with all")
    user_roles: dict[str, list[str]] = Field(
        default_factory=dict, description=f"user email -> roles; a user left out has {DEFAULT_ROLE!r}, [] none")
    rate_limits: RateLimitsFx | None = None
    environments: list[EnvironmentFx] = Field(default_factory=list, max_length=500)
    correlation_patterns: list[PatternIn] | None = Field(None, max_length=100)
    tag_definitions: list[TagDefinitionFx] = Field(default_factory=list, max_length=500)
    maintenance_plans: list[PlanFx] = Field(default_factory=list, max_length=3500)
    alerts: list[AlertFx] = Field(default_factory=list, max_length=100_000)


class FixturesIn(_Strict):
    organizations: list[OrganizationFx] = Field(max_length=100)


class FixturesLoaded(BaseModel):
    organizations: list[str]
    environments: int
    correlation_patterns: int
    tag_definitions: int
    maintenance_plans: int
    alerts: int
    incidents: int


# --- correlation patterns ---------------------------------------------------------------------------
def check_patterns(patterns: list[PatternIn], where: str = "patterns") -> list[str]:
    errors: list[str] = []
    seen: set[str] = set()
    for i, p in enumerate(patterns):
        at = f"{where}[{i}] ({p.id})"
        if p.id in seen:
            errors.append(f"{at}: id {p.id!r} is used by an earlier pattern")
        seen.add(p.id)
        if not p.tags or any(not t.strip() for t in p.tags):
            errors.append(f"{at}: tags must name at least one tag, and no empty ones")
        if not p.window > 0:
            errors.append(f"{at}: window must be more than 0 seconds (got {p.window:g})")
        try:
            parse(p.filter)
        except BpqlError as exc:
            errors.append(f"{at}: filter: {exc}")
    return errors


def set_patterns(org: Organization, patterns: list[PatternIn]) -> None:
    """Replace the list; correlation keys of patterns that are gone or now group by other tags are
    forgotten, so a new pattern never joins an incident through an old one's key."""
    new = {p.id: p for p in patterns}
    old = {p.id: p for p in org.patterns}
    stale = {i for i, p in old.items() if i not in new or list(new[i].tags) != list(p.tags)}
    if stale:
        org.correlation_index = {k: v for k, v in org.correlation_index.items() if k[0] not in stale}
    org.patterns = [CorrelationPattern(p.id, list(p.tags), float(p.window), p.filter, p.active) for p in patterns]


def pattern_out(p: CorrelationPattern) -> PatternIn:
    return PatternIn(id=p.id, tags=list(p.tags), window=p.window, filter=p.filter, active=p.active)


# --- fixtures ----------------------------------------------------------------------------------------
def _plan_window(p: PlanFx, now: float) -> tuple[int | None, int | None, list[str]]:
    errors = []
    if p.start is not None and p.starts_in is not None:
        errors.append("give start or starts_in, not both")
    if p.end is not None and p.duration is not None:
        errors.append("give end or duration, not both")
    start = p.start if p.start is not None else int(now + (p.starts_in or 0))
    end = p.end if p.end is not None else (int(start + p.duration) if p.duration is not None else None)
    if end is None:
        errors.append("end or duration is required")
    elif end <= start:
        errors.append(f"end ({end}) must be after start ({start})")
    return start, end, errors


def _alert_key(backend: BigPandaBackend, o: OrganizationFx, a: AlertFx) -> tuple[str | None, str | None]:
    key = a.app_key or o.app_keys.get("alerts") or next(iter(o.integrations), None)
    if key is None:
        return None, "no app_key, and the organization has no alerts app key or integration"
    if key not in o.integrations and not backend.settings.accept_unknown_app_keys:
        return None, f"app_key {key!r} is not an integration of this organization"
    return key, None


def _roles(o: OrganizationFx) -> dict[str, list[str]]:
    if o.roles is not None:
        return o.roles
    return AccessControl().as_lists()[0]


def check(backend: BigPandaBackend, fx: FixturesIn) -> list[str]:
    """Every problem in the fixtures, each naming its entry; empty when they can be applied."""
    now, errors = backend.clock.now(), []
    names = [o.name for o in fx.organizations]
    replaced = set(names)
    owners = {t: org.name for org in backend.orgs.values() if org.name not in replaced
              for t in (org.org_token, *org.user_api_keys)}
    for i, o in enumerate(fx.organizations):
        at = f"organizations[{i}] ({o.name})"
        if names.index(o.name) != i:
            errors.append(f"{at}: the name is used by an earlier organization")
        for token in (o.org_token, *o.user_api_keys):
            if token in owners:
                errors.append(f"{at}: token {token!r} already belongs to organization {owners[token]}")
            owners[token] = o.name
        env_names: list[str] = []
        for j, e in enumerate(o.environments):
            where = f"{at}.environments[{j}] ({e.name})"
            if e.name in env_names:
                errors.append(f"{where}: the name is used by an earlier environment")
            env_names.append(e.name)
            try:
                parse(e.filter)
            except BpqlError as exc:
                errors.append(f"{where}: filter: {exc}")
            errors += [f"{where}: push target {t!r} is not one of its autoshare_targets"
                       for t in e.push if t not in e.autoshare_targets]
        errors += [f"{at}.{m}" for m in AccessControl().problems(_roles(o), o.user_roles)]
        errors += check_patterns(o.correlation_patterns or [], f"{at}.correlation_patterns")
        tag_names: list[str] = []
        for j, t in enumerate(o.tag_definitions):
            where = f"{at}.tag_definitions[{j}] ({t.name})"
            if t.type not in act.TAG_TYPES:
                errors.append(f"{where}: type {t.type!r} must be one of {', '.join(act.TAG_TYPES)}")
            if t.name in tag_names:
                errors.append(f"{where}: the name is used by an earlier tag definition")
            tag_names.append(t.name)
        for j, p in enumerate(o.maintenance_plans):
            where = f"{at}.maintenance_plans[{j}] ({p.name})"
            errors += [f"{where}: {m}" for m in _plan_window(p, now)[2]]
            try:
                check_condition(p.condition)
            except BpError as exc:
                errors += [f"{where}: {m}" for m in exc.messages]
        for j, a in enumerate(o.alerts):
            where = f"{at}.alerts[{j}]"
            key, problem = _alert_key(backend, o, a)
            if problem:
                errors.append(f"{where}: {problem}")
                continue
            try:
                normalize({**(a.model_extra or {}), "timestamp": now + a.at}, now=now, source_system="", where=where)
            except BpError as exc:
                errors += exc.messages
    return errors


def _apply(backend: BigPandaBackend, fx: FixturesIn) -> FixturesLoaded:
    now = backend.clock.now()
    counts = dict.fromkeys(("environments", "correlation_patterns", "tag_definitions", "maintenance_plans",
                            "alerts", "incidents"), 0)
    for o in fx.organizations:
        backend.orgs.pop(o.name, None)
        org = backend.add_organization(o.name, o.org_token, o.user_api_keys, o.app_keys, o.integrations)
        org.access.replace(_roles(o), o.user_roles)
        if o.rate_limits is not None:
            org.rate_limits = RateLimitSettings(**{**vars(org.rate_limits),
                                                   **o.rate_limits.model_dump(exclude_none=True)})
        if o.correlation_patterns is not None:
            set_patterns(org, o.correlation_patterns)
        counts["correlation_patterns"] += len(org.patterns)
        for e in o.environments:
            env = Environment(org.rng.object_id(), e.name, e.filter, list(e.autoshare_targets), e.description,
                              now, now)
            org.environments[env.id] = env
            for target, push in e.push.items():
                org.push.configure(env.id, target, PushTarget(push.url, dict(push.headers)))
            counts["environments"] += 1
        for t in o.tag_definitions:
            act.define_tag(org, t.name, t.type, t.description, list(t.values))
            counts["tag_definitions"] += 1
        for p in o.maintenance_plans:
            start, end, _ = _plan_window(p, now)
            fields = p.model_dump(exclude={"starts_in", "duration"}, exclude_none=True)
            org.maintenance.create({**fields, "start": start, "end": end}, rng=org.rng, by="fixtures", now=now)
            counts["maintenance_plans"] += 1
        who = Principal(org, "org", org.org_token)
        for a in sorted(o.alerts, key=lambda a: a.at):
            key, _ = _alert_key(backend, o, a)
            backend.ingest(who, {**(a.model_extra or {}), "timestamp": now + a.at, "app_key": key})
            counts["alerts"] += 1
        counts["incidents"] += len(org.incidents)
    return FixturesLoaded(organizations=[o.name for o in fx.organizations], **counts)


def _where(data: Any, loc: tuple[Any, ...]) -> str:
    """A pydantic error location with the names of the entries it passes: organizations[0] (acme)..."""
    out, node = "", data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            label = node.get("name") or node.get("id") if isinstance(node, dict) else None
            out += f" ({label})" if isinstance(label, str) else ""
        else:
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out


def parse_fixtures(data: Any) -> FixturesIn:
    try:
        return FixturesIn.model_validate(data)
    except ValidationError as exc:
        raise bad_request(*(f"{_where(data, tuple(e['loc']))}: {e['msg']}" for e in exc.errors())) from None


def load_fixtures(backend: BigPandaBackend, data: dict[str, Any] | FixturesIn) -> dict[str, Any]:
    """Check everything, then apply; if applying fails anyway, the state is restored as it was."""
    from .snapshot import dumps, loads

    fx = data if isinstance(data, FixturesIn) else parse_fixtures(data)
    errors = check(backend, fx)
    if errors:
        raise bad_request(*errors)
    before = dumps(backend)
    try:
        loaded = _apply(backend, fx)
    except Exception as exc:
        loads(backend, before)
        if isinstance(exc, BpError):
            raise bad_request(*(f"fixtures not applied: {m}" for m in exc.messages)) from None
        raise
    backend.notifier.notify()
    return loaded.model_dump()


def build_fixtures_router() -> RouteGroup:
    r = RouteGroup(tags=["simulator admin"])
    patterns_path = "/organizations/{name}/correlation-patterns"
    name_param = Path(min_length=1, max_length=100)

    @r.post("/fixtures", response_model=FixturesLoaded, status_code=201,
            responses={400: doc(400, "A bad entry, named in the error; nothing was changed")},
            summary="Seed organizations from fixtures (the body of a YAML or JSON fixture file)")
    async def fixtures(request: Request, body: FixturesIn) -> FixturesLoaded:
        return FixturesLoaded(**load_fixtures(request.app.state.backend, body))

    @r.get(patterns_path, response_model=list[PatternIn], responses={404: doc(404, "No such organization")},
           summary="The organization's correlation patterns, in the order they are tried")
    async def get_patterns(request: Request, name: str = name_param) -> list[PatternIn]:
        org = request.app.state.backend.org_named(name)
        return [pattern_out(p) for p in org.patterns]

    @r.put(patterns_path, response_model=list[PatternIn],
           responses={400: doc(400, "A bad pattern, named in the error; nothing was changed"),
                      404: doc(404, "No such organization")},
           summary="Replace the organization's correlation patterns",
           description="Alerts whose tags match a pattern's filter (BPQL over the alert's tags) and share "
                       "the values of all its tags join one incident within `window` seconds of its start. "
                       "Incidents already open keep their alerts.")
    async def put_patterns(request: Request, name: str = name_param,
                           body: list[PatternIn] = Body(max_length=100)) -> list[PatternIn]:
        b: BigPandaBackend = request.app.state.backend
        org = b.org_named(name)
        errors = check_patterns(body)
        if errors:
            raise bad_request(*errors)
        set_patterns(org, body)
        b.notifier.notify()
        return [pattern_out(p) for p in org.patterns]

    return r
