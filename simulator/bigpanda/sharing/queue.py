"""The share queue: at-least-once delivery of incident shares to a ServiceNow target.

One pending share per incident (later changes add their trigger to it); one share per
incident in flight, so a target sees an incident's shares in order. Retrieval leases shares;
a lease that runs out without a callback puts the share back for redelivery; a callback
acknowledges it. After `max_deliveries` failed deliveries a share goes to the dead-letter list.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from itertools import count

from bpsn.simulator.bigpanda.models import positional_constructor


@dataclass
class Share:
    id: str
    sequence: int
    incident_id: str
    environment_id: str
    target: str
    triggers: list[str]
    enqueued_at: float
    deliveries: int = 0
    lease_until: float | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def trigger(self) -> str:
        return self.triggers[-1]


_make_share = positional_constructor(Share)


class ShareQueue:
    def __init__(self, lease_seconds: float, max_deliveries: int) -> None:
        self.lease_seconds = lease_seconds
        self.max_deliveries = max_deliveries
        self._pending: OrderedDict[str, Share] = OrderedDict()  # share id -> share, in order
        self._pending_by_incident: dict[str, str] = {}
        self._leased: dict[str, Share] = {}
        self._leased_by_incident: dict[str, str] = {}
        self.dead_letters: list[Share] = []
        self.acknowledged = 0
        self._seq = count(1)

    def __len__(self) -> int:
        return len(self._pending) + len(self._leased)

    def enqueue(self, share_id: str, incident_id: str, environment_id: str, target: str,
                trigger: str, now: float) -> Share:
        pending_id = self._pending_by_incident.get(incident_id)
        if pending_id is not None:
            share = self._pending[pending_id]
            if share.triggers[-1] != trigger:  # Share.trigger, without a property call: runs per alert
                share.triggers.append(trigger)
            return share
        # Share(...) with every field, positional: no default factory run (models.positional_constructor)
        share = _make_share(share_id, next(self._seq), incident_id, environment_id, target, [trigger], now, 0, None, [])
        self._pending[share.id] = share
        self._pending_by_incident[incident_id] = share.id
        return share

    def expire_leases(self, now: float) -> None:
        for share in [s for s in self._leased.values() if s.lease_until is not None and s.lease_until <= now]:
            self._release(share, "lease expired without a callback")

    def _release(self, share: Share, reason: str) -> None:
        del self._leased[share.id]
        self._leased_by_incident.pop(share.incident_id, None)
        share.lease_until = None
        share.errors.append(reason)
        if share.deliveries >= self.max_deliveries:
            self.dead_letters.append(share)
            return
        newer_id = self._pending_by_incident.get(share.incident_id)
        if newer_id is not None:  # a newer share already carries the latest incident state
            newer = self._pending[newer_id]
            newer.triggers = share.triggers + [t for t in newer.triggers if t not in share.triggers]
            return
        self._pending[share.id] = share
        self._pending.move_to_end(share.id, last=False)  # redeliveries go first
        self._pending_by_incident[share.incident_id] = share.id

    def lease(self, limit: int, now: float) -> tuple[list[Share], bool]:
        """Up to `limit` deliverable shares, in order; and whether more are waiting."""
        self.expire_leases(now)
        out: list[Share] = []
        more = False
        for share in list(self._pending.values()):
            if share.incident_id in self._leased_by_incident:
                continue  # an earlier share of this incident is still in flight
            if len(out) == limit:
                more = True
                break
            del self._pending[share.id]
            del self._pending_by_incident[share.incident_id]
            share.deliveries += 1
            share.lease_until = now + self.lease_seconds
            self._leased[share.id] = share
            self._leased_by_incident[share.incident_id] = share.id
            out.append(share)
        return out, more

    def acknowledge(self, share_id: str) -> Share | None:
        share = self._leased.pop(share_id, None)
        if share is not None:
            self._leased_by_incident.pop(share.incident_id, None)
        else:  # a late callback for a share whose lease ran out: the delivery did happen
            share = self._pending.pop(share_id, None)
            if share is None:
                return None
            del self._pending_by_incident[share.incident_id]
        self.acknowledged += 1
        return share

    def fail(self, share_id: str, error: str) -> Share | None:
        share = self._leased.get(share_id)
        if share is not None:
            self._release(share, error)
        return share

    def pending(self) -> list[Share]:
        return list(self._pending.values())

    def leased(self) -> list[Share]:
        return list(self._leased.values())
