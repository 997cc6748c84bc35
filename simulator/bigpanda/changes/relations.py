"""RCC relations between a change and an incident: created and updated on an organisation,
with the incident's activity and a change notice."""

from __future__ import annotations

from bpsn.simulator.bigpanda.errors import BpError, not_found
from bpsn.simulator.bigpanda.organization import Organization

from .store import Relation


def relate(org: Organization, *, change_id: str, incident_id: str, match_certainty: str, comment: str,
           by: str, now: float) -> Relation:
    """Create an RCC relation: 404 for an unknown change or incident, 409 for a pair already related."""
    store = org.changes
    store.get(change_id)
    incident = org.incidents.get(incident_id)
    if incident is None:
        raise not_found(f"Incident {incident_id}")
    duplicate = next((r for r in store.relations.values()
                      if r.change_id == change_id and r.incident_id == incident_id), None)
    if duplicate is not None:
        raise BpError(409, f"change {change_id} is already related to incident {incident_id} "
                           f"(relation {duplicate.id}); update it with PUT /resources/v2.0/rcc/{duplicate.id}")
    rel = Relation(org.rng.object_id(), change_id, incident_id, match_certainty, comment, now, by, now, by)
    store.relations[rel.id] = rel
    org._activity(incident, "incident_rcc_update", now, rcc_id=rel.id, change_id=change_id,
                  match_certainty=match_certainty, comment=comment, action="created", user=by)
    org.on_change()
    return rel


def update_relation(org: Organization, relation_id: str, *, match_certainty: str | None, comment: str | None,
                    by: str, now: float) -> Relation:
    rel = org.changes.relation(relation_id)
    if match_certainty is not None:
        rel.match_certainty = match_certainty
    if comment is not None:
        rel.comment = comment
    rel.updated_at, rel.updated_by = now, by
    incident = org.incidents.get(rel.incident_id)
    if incident is not None:
        org._activity(incident, "incident_rcc_update", now, rcc_id=rel.id, change_id=rel.change_id,
                      match_certainty=rel.match_certainty, comment=rel.comment, action="updated", user=by)
    org.on_change()
    return rel
