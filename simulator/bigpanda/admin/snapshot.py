"""Snapshots of the BigPanda simulator's state: every organisation and the seeded random source.

A snapshot holds all organisations (alerts, incidents, shares and leases, environments,
correlation patterns, maintenance plans, changes and RCC, enrichment maps and jobs, OIM
configurations, tag definitions, rate-limit settings, push targets, outboxes and dead letters)
and the random source's state, so ids continue where they left off. Not in it: the clock, the
request journal, fault rules, rate-limit counters and the settings (the running simulator's own).

The file is one JSON document (`format`, `version` 2; see snapshot_doc.py for its schema and for
how credentials are sealed). Loading checks the whole document, rebuilds every organisation,
and only then replaces the state: a bad file is a 400 naming what is wrong and changes nothing.
Version 1 files (pickles) are refused: unpickling runs code chosen by whoever wrote the file.

`save` and `load` take any path (the CLI's --state-file is the operator's own choice); the
HTTP routes take a file name inside `snapshot_dir` (BPSN_BP_SNAPSHOT_DIR) and nothing else.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.fernet import Fernet
from fastapi import Request
from pydantic import ValidationError

from bpsn.base.rng import SeededRandom
from bpsn.simulator.bigpanda.backend import BigPandaBackend
from bpsn.simulator.bigpanda.errors import BpError, doc
from bpsn.simulator.bigpanda.maintenance.plans import ConditionError, compile_condition
from bpsn.simulator.bigpanda.oim.config import OimConfig, compile_config
from bpsn.simulator.bigpanda.oim.store import StoredConfig
from bpsn.simulator.bigpanda.organization import Organization
from bpsn.simulator.common.admin import Done, SnapshotFileError, SnapshotRequest, snapshot_dir_ready, snapshot_file
from bpsn.simulator.common.route_group import RouteGroup

if TYPE_CHECKING:
    from .snapshot_doc import OrgDoc, SnapshotDoc
# snapshot_doc (the document's pydantic models) is imported where a snapshot is read or written:
# building its models is a tenth of the simulator's own import time, and most runs never snapshot.

PICKLE_MAGIC = b"BPSN-BIGPANDA-SNAPSHOT\n"  # version 1's header line
MAX_SNAPSHOT_BYTES = 512 * 1024 * 1024


class SnapshotError(BpError):
    def __init__(self, message: str) -> None:
        super().__init__(400, message)


def dumps(backend: BigPandaBackend) -> bytes:
    from .snapshot_doc import FORMAT, FORMAT_VERSION, SnapshotDataError, org_document, sealer

    version, internal, gauss = backend.rng.getstate()
    try:
        seal = sealer(backend.settings)
        orgs = [org_document(org, seal) for org in backend.orgs.values()]
    except SnapshotDataError as exc:
        raise BpError(500, f"the state holds something a snapshot cannot save: {exc}") from None
    document = {"format": FORMAT, "version": FORMAT_VERSION, "saved_at": backend.clock.now(),
                "rng": {"version": version, "internal": list(internal), "gauss_next": gauss},
                "organizations": orgs}
    return json.dumps(document, separators=(",", ":"), allow_nan=False).encode()


def _validated(data: bytes, source: str) -> SnapshotDoc:
    from .snapshot_doc import FORMAT, FORMAT_VERSION, SnapshotDoc

    if data.startswith(PICKLE_MAGIC):
        raise SnapshotError(f"{source} is in snapshot format version 1 (a pickle), which this simulator no "
                            f"longer reads: pickles can run code. It reads only version {FORMAT_VERSION}")
    try:
        raw = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise SnapshotError(f"{source} is not a BigPanda simulator snapshot (not a JSON document)") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise SnapshotError(f"{source} is not a BigPanda simulator snapshot (no \"format\": \"{FORMAT}\")")
    if raw.get("version") != FORMAT_VERSION:
        raise SnapshotError(f"{source} is in snapshot format version {raw.get('version')!r}; this simulator "
                            f"reads only version {FORMAT_VERSION}")
    try:
        return SnapshotDoc.model_validate(raw)
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]]
        raise SnapshotError(f"{source} is damaged: {'; '.join(problems)}") from None


def _organization(backend: BigPandaBackend, doc: OrgDoc, rng: SeededRandom, seal: Fernet) -> Organization:
    from .snapshot_doc import (
        SnapshotDataError,
        check_references,
        fingerprint,
        push_from,
        queue_from,
        stores_from,
        unseal,
    )

    creds = unseal(doc, seal)
    check_references(doc)
    org = Organization(name=doc.name, org_token=creds.org_token, user_api_keys=creds.user_api_keys,
                       app_keys=creds.app_keys, integrations=creds.integrations, settings=backend.settings,
                       rng=rng, environments={e.id: e for e in doc.environments}, patterns=doc.patterns,
                       alerts={a.id: a for a in doc.alerts}, alerts_by_key=doc.alerts_by_key,
                       incidents={i.id: i for i in doc.incidents},
                       correlation_index={tuple(k): i for k, i in doc.correlation_index},
                       rate_limits=doc.rate_limits, tag_definitions={t.id: t for t in doc.tag_definitions},
                       on_change=backend.notifier.notify, on_push=backend.pusher.kick)
    for alert in org.alerts.values():
        alert.fingerprint = fingerprint(alert.fingerprint)
    org.shares = queue_from(doc.shares)
    org.changes, org.maintenance, org.enrichment = stores_from(doc)
    org.push = push_from(doc.push, creds.push_targets)
    for plan in org.maintenance.plans.values():
        try:
            plan.predicate = compile_condition(plan.condition, f"maintenance plan {plan.id}: condition")
        except ConditionError as exc:
            raise SnapshotDataError(f"organization {doc.name}: {exc}") from None
    for stored in creds.oim:
        try:
            config = OimConfig.model_validate(stored.config)
            compiled = compile_config(config, stored.sample_payload)
        except (ValidationError, BpError) as exc:
            raise SnapshotDataError(f"organization {doc.name}: an OIM configuration is not valid: {exc}") from None
        org.oim.configs[stored.app_key] = StoredConfig(stored.app_key, stored.config, stored.sample_payload,
                                                       compiled, stored.created_at, stored.updated_at,
                                                       stored.revision)
    org.oim.samples = {**creds.oim_samples, **{key: c.sample_payload for key, c in org.oim.configs.items()}}
    org.oim.created_at, org.oim.wait_seconds = dict(creds.oim_created_at), doc.oim_wait_seconds
    if doc.roles is not None or doc.user_roles:
        try:
            org.access.replace(doc.roles if doc.roles is not None else org.access.as_lists()[0], doc.user_roles)
        except BpError as exc:
            raise SnapshotDataError(f"organization {doc.name}: roles: {'; '.join(exc.messages)}") from None
    return org


def loads(backend: BigPandaBackend, data: bytes, source: str = "the snapshot") -> None:
    from .snapshot_doc import SnapshotDataError, sealer

    document = _validated(data, source)
    rng = SeededRandom()
    try:
        rng.setstate((document.rng.version, tuple(document.rng.internal), document.rng.gauss_next))
    except (ValueError, TypeError, OverflowError) as exc:
        raise SnapshotError(f"{source} is damaged: rng: {exc}") from None
    orgs: dict[str, Organization] = {}
    try:
        seal = sealer(backend.settings)
        for org_doc in document.organizations:
            if org_doc.name in orgs:
                raise SnapshotDataError(f"organization {org_doc.name} appears twice")
            orgs[org_doc.name] = _organization(backend, org_doc, rng, seal)
        tokens = [t for org in orgs.values() for t in (org.org_token, *org.user_api_keys)]
        if len(tokens) != len(set(tokens)):
            raise SnapshotDataError("two organizations share a token")
    except SnapshotDataError as exc:
        raise SnapshotError(f"{source} is damaged: {exc}") from None
    except ValidationError as exc:
        raise SnapshotError(f"{source} is damaged: credentials: {exc.errors()[0]['msg']}") from None
    # everything is built: only now does the running state change
    backend.rng = rng
    backend.orgs.clear()
    backend.orgs.update(orgs)
    backend.limiter.reset()
    backend.ready = True
    backend.notifier.notify()
    backend.pusher.kick()


def save(backend: BigPandaBackend, path: str | os.PathLike[str]) -> None:
    """Write atomically, readable by the owner only: a crash mid-write leaves the previous file."""
    target = Path(path)
    data = dumps(backend)
    temporary = target.with_name(target.name + ".tmp")
    try:
        temporary.unlink(missing_ok=True)  # never write through a symlink someone left there
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temporary, target)
    except OSError as exc:
        raise SnapshotError(f"cannot write snapshot {target}: {exc.strerror or exc}") from None


def load(backend: BigPandaBackend, path: str | os.PathLike[str]) -> None:
    try:
        with open(path, "rb") as source:
            data = source.read(MAX_SNAPSHOT_BYTES + 1)
    except OSError as exc:
        raise SnapshotError(f"cannot read snapshot {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_SNAPSHOT_BYTES:
        raise SnapshotError(f"snapshot {path} is larger than {MAX_SNAPSHOT_BYTES} bytes")
    loads(backend, data, f"snapshot {path}")



def _confined(request: Request, name: str) -> Path:
    try:
        return snapshot_file(request.app.state.backend.settings.snapshot_dir, name)
    except SnapshotFileError as exc:
        raise SnapshotError(str(exc)) from None


def build_snapshot_router() -> RouteGroup:
    r = RouteGroup(tags=["simulator admin"])

    @r.post("/snapshot/save", response_model=Done,
            responses={400: doc(400, "A name outside the snapshot directory, or the file cannot be written")},
            summary="Write every organization and the random source to a file (not the clock)")
    async def save_snapshot(request: Request, body: SnapshotRequest) -> Done:
        target = _confined(request, body.path)
        try:
            snapshot_dir_ready(request.app.state.backend.settings.snapshot_dir)
        except OSError as exc:
            raise SnapshotError(f"cannot create the snapshot directory: {exc.strerror or exc}") from None
        save(request.app.state.backend, target)
        return Done()

    @r.post("/snapshot/load", response_model=Done,
            responses={400: doc(400, "A name outside the snapshot directory, no such file, not a snapshot, "
                                     "an unknown format version, or damaged")},
            summary="Replace every organization with a snapshot file; the clock stays as it is")
    async def load_snapshot(request: Request, body: SnapshotRequest) -> Done:
        load(request.app.state.backend, _confined(request, body.path))
        return Done()

    return r


__all__ = ["SnapshotError", "dumps", "load", "loads", "save"]
