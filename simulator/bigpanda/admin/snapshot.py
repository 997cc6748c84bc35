"""Snapshots of the BigPanda simulator's state: every organisation and the seeded random source.

A snapshot holds all organisations (alerts, incidents, shares and leases, environments,
correlation patterns, maintenance plans, changes and RCC, enrichment maps and jobs, OIM
configurations, tag definitions, rate-limit settings, push targets, outboxes and dead letters)
and the rng state, so ids continue where they left off. Not in it: the clock, the request
journal, fault rules, rate-limit counters and the settings (the running simulator's own).

The file is a header line (`BPSN-BIGPANDA-SNAPSHOT`), a JSON line with the format version,
then a pickle of the state. Callables (the change notifier, the pusher, compiled maintenance
conditions) are left out and re-attached on load; loading reads only the simulator's own
classes and plain containers, refuses an unknown format version, and replaces the state
only once the whole file has been read.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import pickle
import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field

from bpsn.simulator.bigpanda.backend import BigPandaBackend
from bpsn.simulator.bigpanda.errors import BpError, doc
from bpsn.simulator.bigpanda.maintenance.plans import Plan, compile_condition
from bpsn.simulator.bigpanda.organization import Organization
from bpsn.simulator.bigpanda.sharing.queue import ShareQueue
from bpsn.simulator.common.admin import Done
from bpsn.simulator.common.bodies import StrictBody

MAGIC = b"BPSN-BIGPANDA-SNAPSHOT\n"
FORMAT_VERSION = 1
ORG_EXCLUDED = ("settings", "on_change", "on_push")
SAFE_MODULES = ("simulator.", "bpsn.")
SAFE_GLOBALS = {("builtins", n) for n in ("set", "frozenset", "dict", "list", "tuple", "bytearray", "complex",
                                           "slice", "range", "bool", "int", "float", "str", "bytes")} | {
    ("collections", "OrderedDict"), ("collections", "deque"), ("collections", "defaultdict"),
    ("random", "Random"), ("copyreg", "_reconstructor"), ("re", "_compile"), ("datetime", "datetime"),
    ("datetime", "timezone"), ("datetime", "timedelta")}


class SnapshotError(BpError):
    def __init__(self, message: str) -> None:
        super().__init__(400, message)


def _blank(cls: type) -> Any:
    return cls.__new__(cls)


def _count_next(counter: Any) -> int:
    """The next value of an itertools.count, without using it up (its pickling is deprecated)."""
    m = re.fullmatch(r"count\((-?\d+)\)", repr(counter))
    return int(m.group(1)) if m else 1


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        kind = type(obj)
        if kind is Organization:
            return _blank, (Organization,), {k: v for k, v in vars(obj).items() if k not in ORG_EXCLUDED}
        if kind is Plan:
            return _blank, (Plan,), {k: v for k, v in vars(obj).items() if k != "predicate"}
        if kind is ShareQueue:
            state = dict(vars(obj))
            state["_seq"] = _count_next(obj._seq)
            return _blank, (ShareQueue,), state
        return NotImplemented


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        found = (module, name) in SAFE_GLOBALS
        if not found and module.startswith(SAFE_MODULES):
            obj = super().find_class(module, name)
            if isinstance(obj, type) or obj is _blank:  # our classes, never our functions
                return obj
        if found:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"the snapshot refers to {module}.{name}, which a snapshot may not hold")


def dumps(backend: BigPandaBackend) -> bytes:
    header = {"format": FORMAT_VERSION, "simulator": "bigpanda", "saved_at": backend.clock.now(),
              "organizations": sorted(backend.orgs)}
    buffer = io.BytesIO()
    try:
        _Pickler(buffer, protocol=5).dump({"orgs": backend.orgs, "rng": backend.rng})
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise BpError(500, f"the state holds something a snapshot cannot save: {exc}") from None
    return MAGIC + json.dumps(header).encode() + b"\n" + buffer.getvalue()


def loads(backend: BigPandaBackend, data: bytes, source: str = "the snapshot") -> None:
    if not data.startswith(MAGIC):
        raise SnapshotError(f"{source} is not a BigPanda simulator snapshot (no {MAGIC.strip().decode()} header)")
    line, _, payload = data[len(MAGIC):].partition(b"\n")
    try:
        header = json.loads(line)
        version = header["format"]
    except (ValueError, KeyError, TypeError):
        raise SnapshotError(f"{source} has a damaged header") from None
    if version != FORMAT_VERSION:
        raise SnapshotError(f"{source} is in snapshot format version {version!r}; this simulator reads only "
                            f"version {FORMAT_VERSION}")
    try:
        state = _Unpickler(io.BytesIO(payload)).load()
        orgs, rng = state["orgs"], state["rng"]
    except Exception as exc:  # a damaged or foreign payload: say so, change nothing
        raise SnapshotError(f"{source} is damaged: {exc}") from None
    for org in orgs.values():
        org.settings = backend.settings
        org.on_change, org.on_push = backend.notifier.notify, backend.pusher.kick
        org.rng = rng
        for plan in org.maintenance.plans.values():
            plan.predicate = compile_condition(plan.condition)
        if isinstance(org.shares._seq, int):
            org.shares._seq = itertools.count(org.shares._seq)
    backend.rng = rng
    backend.orgs.clear()
    backend.orgs.update(orgs)
    backend.limiter.reset()
    backend.ready = True
    backend.notifier.notify()
    backend.pusher.kick()


def save(backend: BigPandaBackend, path: str | os.PathLike[str]) -> None:
    """Write atomically: a crash mid-write leaves the previous file as it was."""
    target = Path(path)
    data = dumps(backend)
    temporary = target.with_name(target.name + ".tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, target)
    except OSError as exc:
        raise SnapshotError(f"cannot write snapshot {target}: {exc.strerror or exc}") from None


def load(backend: BigPandaBackend, path: str | os.PathLike[str]) -> None:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SnapshotError(f"cannot read snapshot {path}: {exc.strerror or exc}") from None
    loads(backend, data, f"snapshot {path}")


class SnapshotRequest(StrictBody):
    path: str = Field(min_length=1, max_length=4096, description="A file on the simulator's machine")


def build_snapshot_router() -> APIRouter:
    r = APIRouter(tags=["simulator admin"])

    @r.post("/snapshot/save", response_model=Done,
            responses={400: doc(400, "The file cannot be written")},
            summary="Write every organization and the random source to a file (not the clock)")
    async def save_snapshot(request: Request, body: SnapshotRequest) -> Done:
        save(request.app.state.backend, body.path)
        return Done()

    @r.post("/snapshot/load", response_model=Done,
            responses={400: doc(400, "No such file, not a snapshot, an unknown format version, or damaged")},
            summary="Replace every organization with a snapshot file; the clock stays as it is")
    async def load_snapshot(request: Request, body: SnapshotRequest) -> Done:
        load(request.app.state.backend, body.path)
        return Done()

    return r
