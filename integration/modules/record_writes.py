"""Idempotent record writes for the ticket companions: one Batch API send per poll.

A companion plans the records it wants (`PlannedRecord`: table, a deterministic sys_id, fields)
from the share alone, so a replayed share plans the same records and never duplicates one.
`RecordWriter.write` turns the plan into batch items:

- a record this core has not written yet is POSTed with its sys_id; one it wrote before is
  PATCHed; one whose fields are unchanged since the last write is not sent at all;
- after a restart the memory is empty: a POST of a record that exists is refused with 403
  ("already exists"), and a PATCH of a record deleted by hand answers 404. Those items, and
  only those, go again the other way in a second batch, so the steady state is one request.
- inside a poll, the first batch is the poll's, shared with the other companions
  (poll_batch.py): one request per poll for all of them.

The memory (sys_id -> fingerprint of the fields last written) is bounded; a forgotten record
costs at most the second batch, never a duplicate.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass, field

from bpsn.integration.clients.batch import BatchWrite, BatchWriter
from bpsn.integration.clients.servicenow import ServiceNowClient

from .poll_batch import PollBatch

log = logging.getLogger("bpsn.integration.modules")


def record_sys_id(kind: str, *parts: str) -> str:
    """A stable 32-hex sys_id for the record of `kind` identified by `parts`."""
    if not kind or not all(parts):
        raise ValueError(f"a {kind or '?'} record id needs non-empty parts (got {parts!r})")
    return hashlib.sha256("\x1f".join(("bpsn", kind, *parts)).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class PlannedRecord:
    table: str
    sys_id: str
    fields: dict[str, str]
    on_create: dict[str, str] = field(default_factory=dict)  # sent only when the record is created
    may_create: bool = True  # False: PATCH only (a record someone else created, e.g. the ticket)
    delete: bool = False  # the record is no longer wanted

    def fingerprint(self) -> str:
        body = {"delete": True} if self.delete else self.fields
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


@dataclass
class WriteOutcome:
    sent: int = 0  # records sent (a retried record counts once)
    skipped: int = 0  # unchanged since this core last wrote them
    failed: list[str] = field(default_factory=list)  # "table sys_id: error"
    requests: int = 0  # Batch API requests made


class RecordWriter:
    def __init__(self, servicenow: ServiceNowClient, *, max_items: int = 100, remember: int = 20_000) -> None:
        self.servicenow, self.max_items, self.remember = servicenow, max_items, remember
        self._written: OrderedDict[str, str] = OrderedDict()  # sys_id -> fingerprint last written

    def _known(self, sys_id: str) -> bool:
        return sys_id in self._written

    def _remember(self, record: PlannedRecord) -> None:
        self._written[record.sys_id] = record.fingerprint()
        self._written.move_to_end(record.sys_id)
        while len(self._written) > self.remember:
            self._written.popitem(last=False)

    def _add(self, batch: BatchWriter, record: PlannedRecord, create: bool) -> BatchWrite:
        if record.delete:
            return batch.add("DELETE", record.table, sys_id=record.sys_id)
        if create:
            return batch.add("POST", record.table, {**record.fields, **record.on_create}, sys_id=record.sys_id)
        return batch.add("PATCH", record.table, record.fields, sys_id=record.sys_id)

    async def write(self, records: list[PlannedRecord]) -> WriteOutcome:
        out = WriteOutcome()
        wanted: dict[str, PlannedRecord] = {}
        for record in records:  # the last plan of a record wins (two shares of one poll)
            wanted[record.sys_id] = record
        todo = [r for r in wanted.values() if self._written.get(r.sys_id) != r.fingerprint()]
        out.skipped = len(wanted) - len(todo)
        todo = [r for r in todo if not (r.delete and not self._known(r.sys_id))]  # never written here
        if not todo:
            return out
        out.sent = len(todo)
        poll = PollBatch.current()
        batch = poll.batch if poll else BatchWriter(self.servicenow, self.max_items)
        first = [(r, self._add(batch, r, r.may_create and not self._known(r.sys_id))) for r in todo]
        if poll:
            before = batch.requests
            await poll.send()
            out.requests = batch.requests - before  # the poll's request, which carried these too
            batch = BatchWriter(self.servicenow, self.max_items)  # a second batch is this writer's own
        else:
            await batch.send()
        again: list[tuple[PlannedRecord, BatchWrite]] = []
        for record, write in first:
            if record.delete and (write.ok or write.status == 404):
                self._written.pop(record.sys_id, None)  # gone: planned again, it is created anew
            elif write.ok:
                self._remember(record)
            elif write.method == "POST" and write.status == 403 and "already exists" in write.error:
                again.append((record, self._add(batch, record, create=False)))
            elif write.method == "PATCH" and write.status == 404 and record.may_create:
                again.append((record, self._add(batch, record, create=True)))
            else:
                out.failed.append(f"{record.table} {record.sys_id}: {write.error or write.status}")
        if again:
            await batch.send()
            for record, write in again:
                if write.ok:
                    self._remember(record)
                else:
                    out.failed.append(f"{record.table} {record.sys_id}: {write.error or write.status}")
        out.requests += batch.requests
        for failure in out.failed:
            log.warning("ServiceNow refused a companion write: %s", failure)
        return out
