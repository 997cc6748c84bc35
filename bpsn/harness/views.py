"""What a test reads of BigPanda, through its APIs: the same whether the simulators run
in-process, as servers in this process, or as a stack started elsewhere (`bpsn up`).

`IncidentView` is the V2 incident (alerts expanded) as attributes; activities, tag
definitions and the share queue come from BigPanda's own APIs or its admin API.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from .admin import SimulatorAdmin
from .journal import Request


@dataclass(frozen=True)
class ExternalTicket:
    """A ticket link BigPanda shows on an incident."""

    system: str
    number: str
    sys_id: str
    url: str


@dataclass(frozen=True)
class Activity:
    """One entry of an incident's activity feed."""

    type: str
    params: dict[str, Any]
    created_by: str
    timestamp: int


ALERT_FIELDS = frozenset({
    "id", "status", "start", "end", "changed_at", "updated_at", "last_event_at", "active", "primary_property",
    "secondary_property", "source_system", "incident_key", "description", "maintenance_plans", "acknowledged"})


@dataclass(frozen=True)
class AlertView:
    """An alert as the V2 API shows it; its tags are the keys beside the alert's own fields."""

    id: str
    status: str
    active: bool
    primary_property: str
    source_system: str
    maintenance_plans: list[str]
    tags: dict[str, Any]
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def of(cls, body: dict[str, Any]) -> AlertView:
        return cls(body["id"], body["status"], body["active"], body["primary_property"], body["source_system"],
                   list(body["maintenance_plans"]), {k: v for k, v in body.items() if k not in ALERT_FIELDS}, body)


@dataclass(frozen=True)
class IncidentView:
    """A BigPanda incident as the V2 API shows it (`raw` holds the whole answer)."""

    id: str
    status: str
    severity: str
    active: bool
    flapping: bool
    snoozed: bool
    environments: list[str]
    tickets: list[ExternalTicket]
    incident_tags: dict[str, Any]
    alerts: list[AlertView]
    raw: dict[str, Any] = field(repr=False)

    @property
    def alert_ids(self) -> list[str]:
        return [a.id for a in self.alerts]

    @classmethod
    def of(cls, body: dict[str, Any]) -> IncidentView:
        return cls(
            id=body["id"], status=body["status"], severity=body.get("severity", body["status"]),
            active=body["active"], flapping=body["flapping"], snoozed=body["snooze"]["snoozed"],
            environments=list(body["environments"]),
            tickets=[ExternalTicket(t["system"], t["number"], t["sys_id"], t["url"]) for t in body["external_tickets"]],
            incident_tags={t["tag_id"]: t["value"] for t in body["incident_tags"]},
            alerts=[AlertView.of(a) for a in body["alerts"]], raw=body)


def _ok(r: httpx.Response) -> Any:
    if r.status_code >= 400:
        raise AssertionError(f"{r.request.method} {r.request.url.path}: HTTP {r.status_code}: {r.text[:500]}")
    return r.json() if r.content else None


class BigPandaViews:
    """BigPanda read and changed as a user of its APIs would (the user API key), plus the
    admin API for what no public API shows (an incident from any environment, the share queue)."""

    def __init__(self, user_client: httpx.Client, admin: SimulatorAdmin) -> None:
        self._user, self._admin = user_client, admin

    def incident(self, incident_id: str) -> IncidentView:
        return IncidentView.of(self._admin.call("GET", f"/incidents/{incident_id}"))

    def incidents(self) -> list[IncidentView]:
        """Every incident, alerts expanded (a search of the environment that holds them all)."""
        environments = _ok(self._user.get("/resources/v2.0/environments"))
        everything = next(e["id"] for e in environments if not e["filter"])
        out: list[IncidentView] = []
        page = 1
        while True:
            body = _ok(self._user.get(f"/resources/v2.0/environments/{everything}/incidents", params={
                "query": "*", "expand": "alerts", "page": page, "page_size": 10}))
            out.extend(IncidentView.of(i) for i in body["items"])
            if page * 10 >= body["total"]:
                return out
            page += 1

    def alerts(self) -> list[AlertView]:
        """Every alert, in every incident."""
        return [a for incident in self.incidents() for a in incident.alerts]

    def activities(self, incident_id: str, *types: str) -> list[Activity]:
        """The incident's activity feed, oldest first (only `types` when given)."""
        out: list[Activity] = []
        page = 1
        while True:
            params: dict[str, Any] = {"page": page, "per_page": 100}
            if types:
                params["types"] = ",".join(types)
            body = _ok(self._user.get(f"/resources/v2.0/incidents/{incident_id}/activities", params=params))
            out.extend(Activity(a["type"], a["params"], a["created_by"], a["timestamp"]) for a in body["activities"])
            if page * 100 >= body["total"]:
                return list(reversed(out))
            page += 1

    def tag_definitions(self) -> dict[str, str]:
        """Incident tag definitions: name -> id."""
        return {d["name"]: d["id"] for d in _ok(self._user.get("/resources/v2.0/incidents/tags/definitions"))}

    def tag_id(self, name: str) -> str:
        definitions = self.tag_definitions()
        if name not in definitions:
            raise AssertionError(f"BigPanda has no incident tag named {name!r}: {sorted(definitions)}")
        return definitions[name]

    def define_tag(self, name: str, type: str = "Text", description: str = "",
                   values: list[str] | None = None) -> str:
        body = {"name": name, "type": type, "description": description, "values": values or []}
        return str(_ok(self._user.post("/resources/v2.0/incidents/tags/definitions", json=body))["id"])

    def set_incident_tag(self, incident_id: str, name: str, value: str) -> None:
        """A BigPanda user sets an incident tag (the V2 tags API)."""
        environment = self.incident(incident_id).environments[0]
        _ok(self._user.post(f"/resources/v2.0/environments/{environment}/incidents/{incident_id}/tags/"
                            f"{self.tag_id(name)}", json={"tag_value": value}))

    def share_again(self, incident_id: str, trigger: str = "incident#new") -> None:
        """BigPanda shares the incident again (a redelivery of the same share)."""
        self._admin.call("POST", f"/incidents/{incident_id}/share", json={"trigger": trigger})

    def pending_share(self, incident_id: str) -> dict[str, Any]:
        """The share BigPanda would deliver next for the incident, rendered, not leased."""
        return dict(self._admin.call("GET", f"/incidents/{incident_id}/share"))

    def share_queue(self) -> dict[str, Any]:
        """Pending, leased and dead-lettered shares, and how many were acknowledged."""
        return dict(self._admin.call("GET", "/shares"))

    # --- changes and Root Cause Changes ------------------------------------------------------------
    def upsert_change(self, change: dict[str, Any], app_key: str) -> str:
        """Create or update a change through the changes API; its id."""
        _ok(self._user.post("/data/changes", json=change, headers={"x-bp-app-key": app_key}))
        found = _ok(self._user.get("/resources/v2.0/changes", params={
            "start_time_frame": change["start"], "end_time_frame": change.get("end") or change["start"],
            "search": change["identifier"], "limit": 999}))["changes"]
        return next(c["id"] for c in found if c["identifier"] == change["identifier"])

    def changes(self) -> list[dict[str, Any]]:
        """Every change BigPanda holds, oldest start first."""
        out: list[dict[str, Any]] = []
        params: dict[str, Any] = {"start_time_frame": 0, "end_time_frame": 2**40, "limit": 999, "sort": "start"}
        while True:
            r = self._user.get("/resources/v2.0/changes", params=params)
            out.extend(_ok(r)["changes"])
            link = r.headers.get("Link")
            if not link:
                return out
            params["cursor"] = httpx.URL(link[link.index("<") + 1:link.index(">")]).params["cursor"]

    def related_changes(self, incident_id: str) -> list[dict[str, Any]]:
        return list(_ok(self._user.get("/resources/v2.0/rcc", params={"incident_id": incident_id}))["relatedChanges"])

    def relate_change(self, change_id: str, incident_id: str, match_certainty: str, comment: str = "") -> None:
        """Relate a change to an incident (RCC), or update the relation's certainty and comment."""
        existing = next((r for r in self.related_changes(incident_id) if r["change_id"] == change_id), None)
        if existing is None:
            _ok(self._user.post("/resources/v2.0/rcc", json={
                "change_id": change_id, "incident_id": incident_id, "match_certainty": match_certainty,
                "comment": comment}))
        else:
            _ok(self._user.put(f"/resources/v2.0/rcc/{existing['id']}",
                               json={"match_certainty": match_certainty, "comment": comment}))

    def maintenance_plans(self) -> list[dict[str, Any]]:
        """Every maintenance plan, oldest first."""
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            body = _ok(self._user.get("/resources/v2.0/maintenance-plans", params={"page": page, "per_page": 100}))
            out.extend(body["items"])
            if page * 100 >= body["total"]:
                return out
            page += 1

    # --- rate limits ------------------------------------------------------------------------------
    def rate_limits(self, organization: str) -> dict[str, Any]:
        return dict(self._admin.call("GET", f"/organizations/{organization}/rate-limits"))

    def set_rate_limits(self, organization: str, **changes: Any) -> None:
        limits = {**self.rate_limits(organization), **changes}
        self._admin.call("PUT", f"/organizations/{organization}/rate-limits", json=limits)


def counts(requests: list[Request]) -> dict[str, int]:
    """Requests per 'METHOD table-or-path', as the simulators' journals count them."""
    return dict(Counter(f"{r.method} {r.table or r.path}" for r in requests))
