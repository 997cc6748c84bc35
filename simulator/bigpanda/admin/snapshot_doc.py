"""The BigPanda snapshot as a JSON document: its schema, and the state <-> document mapping.

Only plain JSON goes into a snapshot and only plain JSON comes out of one: the document is
validated whole against the models below (pydantic, unknown keys refused) and the state is
built from the validated data by our own constructors. Nothing is unpickled, evaluated or
imported by name, so a crafted file can at worst be refused.

Credentials never appear in clear: per organisation, the org token, user API keys, app keys,
integrations (keyed by app key), OIM configurations (keyed by app key) and push targets (their
headers may carry credentials) are one Fernet token (AES-128-CBC + HMAC-SHA256) under a key
derived (HKDF-SHA256) from `snapshot_key`, else `admin_token`: settings the file does not hold.
"""

from __future__ import annotations

import base64
import itertools
import re
from collections import OrderedDict
from dataclasses import fields, is_dataclass
from typing import Any, Literal

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import BaseModel, ConfigDict, Field

from bpsn.simulator.bigpanda.changes.store import Change, ChangeStore, Relation
from bpsn.simulator.bigpanda.enrichment.store import EnrichmentJob, EnrichmentStore, MappingTable
from bpsn.simulator.bigpanda.incidents.actions import TagDefinition
from bpsn.simulator.bigpanda.maintenance.plans import MaintenanceStore, Plan
from bpsn.simulator.bigpanda.models import Alert, CorrelationPattern, Environment, Incident
from bpsn.simulator.bigpanda.organization import Organization
from bpsn.simulator.bigpanda.rate_limit import RateLimitSettings
from bpsn.simulator.bigpanda.settings import BigPandaSettings
from bpsn.simulator.bigpanda.sharing.push import PushDelivery, PushStore, PushTarget
from bpsn.simulator.bigpanda.sharing.queue import Share, ShareQueue

FORMAT = "bpsn-bigpanda-snapshot"
FORMAT_VERSION = 2  # version 1 was a pickle: never read again
SKIPPED_FIELDS = {Plan: {"predicate"}}  # callables: rebuilt from the data on load
KEY_INFO = b"bpsn bigpanda snapshot credentials v2"


class SnapshotDataError(ValueError):
    """The state or the document cannot be mapped; the message names where."""


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")  # also applies to the dataclasses inside


class RngDoc(_Doc):
    version: Literal[3]
    internal: list[int] = Field(min_length=625, max_length=625)
    gauss_next: float | None


class QueueDoc(_Doc):
    lease_seconds: float = Field(gt=0)
    max_deliveries: int = Field(ge=1)
    pending: list[Share]
    leased: list[Share]
    dead_letters: list[Share]
    acknowledged: int = Field(ge=0)
    next_sequence: int = Field(ge=1)


class PushDoc(_Doc):
    queue: list[PushDelivery]
    dead_letters: list[PushDelivery]
    delivered: int = Field(ge=0)
    sequence: int = Field(ge=0)


class ChangesDoc(_Doc):
    changes: list[Change]
    relations: list[Relation]


class EnrichmentDoc(_Doc):
    maps: list[MappingTable]
    jobs: list[EnrichmentJob]


class OimDoc(_Doc):
    app_key: str = Field(min_length=1)
    config: dict[str, Any]
    sample_payload: dict[str, Any]
    created_at: float
    updated_at: float
    revision: int = Field(ge=1)


class CredentialsDoc(_Doc):
    """What is sealed: the organisation's secrets and the state keyed by them."""

    org_token: str = Field(min_length=1)
    user_api_keys: dict[str, str]
    app_keys: dict[str, str]
    integrations: dict[str, str]
    oim: list[OimDoc]
    oim_samples: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Sample Payload objects")
    oim_created_at: dict[str, float] = Field(default_factory=dict, description="OIM integrations made via /_sim")
    push_targets: dict[str, dict[str, PushTarget]]


class OrgDoc(_Doc):
    name: str = Field(min_length=1)
    credentials: str = Field(description="A Fernet token of CredentialsDoc")
    environments: list[Environment]
    patterns: list[CorrelationPattern]
    alerts: list[Alert]
    alerts_by_key: dict[str, str]
    incidents: list[Incident]
    correlation_index: list[tuple[tuple[str, ...], str]]
    shares: QueueDoc
    changes: ChangesDoc
    maintenance_plans: list[Plan]
    enrichment: EnrichmentDoc
    rate_limits: RateLimitSettings
    tag_definitions: list[TagDefinition]
    push: PushDoc
    roles: dict[str, list[str]] | None = Field(None, description="RBAC; absent in older snapshots: the default")
    user_roles: dict[str, list[str]] = Field(default_factory=dict)
    oim_wait_seconds: float | None = Field(None, gt=0)


class SnapshotDoc(_Doc):
    format: Literal["bpsn-bigpanda-snapshot"]
    version: Literal[2]
    saved_at: float
    rng: RngDoc
    organizations: list[OrgDoc]


# --- credentials ----------------------------------------------------------------------------------
def sealer(settings: BigPandaSettings) -> Fernet:
    secret = settings.snapshot_key or settings.admin_token
    material = secret.get_secret_value().encode()
    if not material:
        raise SnapshotDataError("no key for a snapshot's credentials: set BPSN_BP_SNAPSHOT_KEY or "
                                "BPSN_BP_ADMIN_TOKEN")
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=KEY_INFO).derive(material)
    return Fernet(base64.urlsafe_b64encode(key))


# --- state -> document ---------------------------------------------------------------------------
def plain(value: Any, where: str) -> Any:
    """JSON data for a dataclass or container of our state; anything else is an error (no silent loss)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if is_dataclass(value) and not isinstance(value, type):
        skipped = SKIPPED_FIELDS.get(type(value), set())
        return {f.name: plain(getattr(value, f.name), f"{where}.{f.name}") for f in fields(value)
                if f.name not in skipped}
    if isinstance(value, dict):
        bad = next((k for k in value if not isinstance(k, str)), None)
        if bad is not None:
            raise SnapshotDataError(f"{where}: a key {bad!r} that JSON cannot hold")
        return {k: plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        return sorted(plain(v, where) for v in value)
    raise SnapshotDataError(f"{where}: a {type(value).__name__}, which a snapshot cannot hold")


def _next_count(counter: Any) -> int:
    """The next value of an itertools.count, without using it up."""
    m = re.fullmatch(r"count\((-?\d+)\)", repr(counter))
    return int(m.group(1)) if m else 1


def org_document(org: Organization, seal: Fernet) -> dict[str, Any]:
    n = org.name
    secrets = {"org_token": org.org_token, "user_api_keys": org.user_api_keys, "app_keys": org.app_keys,
               "integrations": org.integrations, "push_targets": org.push.targets,
               "oim": [{"app_key": key, "config": c.config, "sample_payload": c.sample_payload,
                        "created_at": c.created_at, "updated_at": c.updated_at, "revision": c.revision}
                       for key, c in org.oim.configs.items()],
               "oim_samples": org.oim.samples, "oim_created_at": org.oim.created_at}
    sealed = seal.encrypt(CredentialsDoc.model_validate(plain(secrets, n)).model_dump_json().encode())
    q, push = org.shares, org.push
    return plain({
        "name": n, "credentials": sealed.decode(),
        "environments": list(org.environments.values()), "patterns": org.patterns,
        "alerts": list(org.alerts.values()), "alerts_by_key": org.alerts_by_key,
        "incidents": list(org.incidents.values()),
        "correlation_index": [[list(key), incident] for key, incident in org.correlation_index.items()],
        "shares": {"lease_seconds": q.lease_seconds, "max_deliveries": q.max_deliveries,
                   "pending": q.pending(), "leased": q.leased(), "dead_letters": q.dead_letters,
                   "acknowledged": q.acknowledged, "next_sequence": _next_count(q._seq)},
        "changes": {"changes": list(org.changes.changes.values()),
                    "relations": list(org.changes.relations.values())},
        "maintenance_plans": list(org.maintenance.plans.values()),
        "enrichment": {"maps": list(org.enrichment.maps.values()), "jobs": list(org.enrichment.jobs.values())},
        "rate_limits": org.rate_limits, "tag_definitions": list(org.tag_definitions.values()),
        "push": {"queue": list(push.queue.values()), "dead_letters": push.dead_letters,
                 "delivered": push.delivered, "sequence": push.sequence},
        "roles": org.access.as_lists()[0], "user_roles": org.access.as_lists()[1],
        "oim_wait_seconds": org.oim.wait_seconds,
    }, n)


# --- document -> state (validated data only) ------------------------------------------------------
def unseal(doc: OrgDoc, seal: Fernet) -> CredentialsDoc:
    try:
        text = seal.decrypt(doc.credentials.encode())
    except (InvalidToken, ValueError):
        raise SnapshotDataError(
            f"organization {doc.name}: its credentials cannot be decrypted; the snapshot was saved under "
            "another snapshot key (BPSN_BP_SNAPSHOT_KEY, else BPSN_BP_ADMIN_TOKEN) or was altered") from None
    return CredentialsDoc.model_validate_json(text)


def tuples(value: Any) -> Any:
    """JSON arrays back to tuples."""
    return tuple(tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


def fingerprint(value: Any) -> Any:
    """An alert's fingerprint as saved, back to what Organization._fingerprint makes: (status,
    acknowledged, description, tags as a dict). Files saved before issue #19 hold the tags as
    [name, value] pairs: those become the dict that compares equal to the same tags."""
    saved = tuples(value)
    if isinstance(saved, tuple) and len(saved) == 4 and isinstance(saved[3], tuple):
        try:
            return (*saved[:3], dict(saved[3]))
        except (TypeError, ValueError):  # not pairs: kept as it is, and no event will match it
            return saved
    return saved


def check_references(doc: OrgDoc) -> None:
    """Ids that point at each other must resolve: a loaded state never fails later on a KeyError."""
    n, incidents, alerts = doc.name, {i.id for i in doc.incidents}, {a.id for a in doc.alerts}
    refs = [(f"alerts[{i}].incident_id", a.incident_id, incidents) for i, a in enumerate(doc.alerts)]
    refs += [(f"incidents[{i}].alert_ids", a, alerts) for i, inc in enumerate(doc.incidents) for a in inc.alert_ids]
    refs += [("alerts_by_key", a, alerts) for a in doc.alerts_by_key.values()]
    refs += [("correlation_index", i, incidents) for _, i in doc.correlation_index]
    q = doc.shares
    refs += [(f"shares.{part}", s.incident_id, incidents) for part, items in
             (("pending", q.pending), ("leased", q.leased), ("dead_letters", q.dead_letters)) for s in items]
    refs += [(f"push.{part}", d.incident_id, incidents) for part, items in
             (("queue", doc.push.queue), ("dead_letters", doc.push.dead_letters)) for d in items]
    for where, ref, known in refs:
        if ref not in known:
            raise SnapshotDataError(f"organization {n}: {where} refers to {ref!r}, which the snapshot does not hold")
    for what, items in (("alerts", doc.alerts), ("incidents", doc.incidents), ("environments", doc.environments)):
        ids = [x.id for x in items]
        if len(ids) != len(set(ids)):
            raise SnapshotDataError(f"organization {n}: {what} repeat an id")


def queue_from(doc: QueueDoc) -> ShareQueue:
    q = ShareQueue(doc.lease_seconds, doc.max_deliveries)
    q._pending = OrderedDict((s.id, s) for s in doc.pending)
    q._pending_by_incident = {s.incident_id: s.id for s in doc.pending}
    q._leased = {s.id: s for s in doc.leased}
    q._leased_by_incident = {s.incident_id: s.id for s in doc.leased}
    q.dead_letters, q.acknowledged, q._seq = list(doc.dead_letters), doc.acknowledged, itertools.count(
        doc.next_sequence)
    return q


def push_from(doc: PushDoc, targets: dict[str, dict[str, PushTarget]]) -> PushStore:
    store = PushStore.__new__(PushStore)
    store.__setstate__({"targets": targets, "queue": {d.id: d for d in doc.queue},  # its own rebuild of
                        "dead_letters": list(doc.dead_letters), "delivered": doc.delivered,  # in-flight keys
                        "sequence": doc.sequence})
    return store


def stores_from(doc: OrgDoc) -> tuple[ChangeStore, MaintenanceStore, EnrichmentStore]:
    changes = ChangeStore()
    changes.changes = {c.id: c for c in doc.changes.changes}
    changes.by_identifier = {c.identifier: c.id for c in doc.changes.changes}
    changes.relations = {r.id: r for r in doc.changes.relations}
    maintenance = MaintenanceStore()
    maintenance.plans = {p.id: p for p in doc.maintenance_plans}
    enrichment = EnrichmentStore()
    enrichment.maps = {m.id: m for m in doc.enrichment.maps}
    enrichment.jobs = OrderedDict((j.id, j) for j in doc.enrichment.jobs)
    return changes, maintenance, enrichment
