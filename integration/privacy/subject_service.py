"""Data-subject requests over the Table API: find, export and erase a person's data in the
x_bip_panda tables, auditing every erase. The decisions are in subject.py; this is the I/O.

Tables: listed from the instance (`sys_db_object`, else `sys_dictionary`, names starting
x_bip_panda_); when the caller may read neither, the declared list (tables.py) is used and
the export says so. A table the instance has but tables.py does not declare is reported as
not searched.

Erase: the audit record (x_bip_panda_privacy_audit) is written first, outcome `started`,
with the planned counts; a caller who may not write it erases nothing. Then every step runs;
the audit record ends `completed`, or `failed` with what was done and the error, so an
erase that stops half-way is still on record. The audit holds the keyed subject hash,
never the email.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from bpsn.base.clock import Clock, glide
from bpsn.integration.clients.servicenow import ServiceNowClient, ServiceNowError

from .pseudonym import Pseudonymiser
from .subject import (
    Account,
    DeleteRecord,
    EraseStep,
    Found,
    KeepRecord,
    Subject,
    UpdateRecord,
    counts,
    matches,
    plan_erase,
    query,
    validate_email,
)
from .tables import AUDIT_TABLE, DECLARED, PREFIX, TablePrivacy

TABLE_SOURCES = ("sys_db_object", "sys_dictionary")


class PrivacyError(RuntimeError):
    pass


@dataclass
class SubjectSearch:
    subject: Subject
    tables_from: str
    searched: list[str]
    not_searched: dict[str, str]
    found: list[Found] = field(default_factory=list)


@dataclass(frozen=True)
class EraseResult:
    subject_hash: str
    audit_sys_id: str
    counts: dict[str, dict[str, int]]
    search: SubjectSearch


class SubjectTools:
    def __init__(self, client: ServiceNowClient, pseudonymiser: Pseudonymiser, clock: Clock,
                 declared: dict[str, TablePrivacy] | None = None) -> None:
        self.client, self.pseudonymiser, self.clock = client, pseudonymiser, clock
        self.declared = DECLARED if declared is None else declared

    async def subject(self, email: str) -> Subject:
        email = validate_email(email)
        rows = await self.client.query("sys_user", f"emailLIKE{email}^ORDERBYsys_created_on",
                                       fields=["sys_id", "user_name", "name", "email"], limit=100)
        accounts = tuple(Account(r["sys_id"], r.get("user_name") or "", r.get("name") or "")
                         for r in rows if str(r.get("email", "")).strip().lower() == email.lower())
        return Subject(email, self.pseudonymiser.subject_hash(email), accounts)

    async def tables(self) -> tuple[list[str], str]:
        """The instance's x_bip_panda tables, and where the list came from."""
        for source in TABLE_SOURCES:
            try:
                rows = await self.client.query_all(source, f"nameSTARTSWITH{PREFIX}^ORDERBYname", fields=["name"])
            except ServiceNowError as exc:
                if exc.status_code in (400, 403, 404):  # not served, or not readable by this user
                    continue
                raise
            names = sorted({str(r.get("name", "")) for r in rows} - {""})
            if names:
                return names, source
        return sorted(self.declared), "declared list (integration/privacy/tables.py)"

    async def search(self, email: str) -> SubjectSearch:
        subject = await self.subject(email)
        names, source = await self.tables()
        result = SubjectSearch(subject, source, [], {})
        for table in names:
            decl = self.declared.get(table)
            if decl is None:
                result.not_searched[table] = "no personal-data columns declared (integration/privacy/tables.py)"
                continue
            result.searched.append(table)
            encoded = query(decl, subject)
            if encoded is None:
                continue
            try:
                rows = await self.client.query_all(table, encoded)
            except ServiceNowError as exc:  # 403: the app's query ACLs keep a BigPanda User to look-ups
                hint = " (searching needs a user with x_bip_panda.admin)" if exc.status_code == 403 else ""
                raise PrivacyError(f"cannot read {table}{hint}: {exc}; nothing was erased or exported") from None
            for row in rows:
                matched = matches(row, decl, subject)
                if matched:
                    result.found.append(Found(table, row["sys_id"], matched, row))
        return result

    async def export(self, email: str) -> dict[str, Any]:
        """Everything the x_bip_panda tables hold on the subject, as JSON-ready data."""
        s = await self.search(email)
        records: dict[str, list[dict[str, Any]]] = {}
        for f in s.found:
            records.setdefault(f.table, []).append({"sys_id": f.sys_id, "matched": f.matched, "record": f.record})
        return {
            "subject": {"email": s.subject.email, "subject_hash": s.subject.subject_hash,
                        "accounts": [vars(a) for a in s.subject.accounts]},
            "exported_at": glide(self.clock.now()),
            "tables_from": s.tables_from,
            "searched": {t: {"erase": self.declared[t].erase, "why": self.declared[t].why,
                             "records": len(records.get(t, []))} for t in s.searched},
            "not_searched": s.not_searched,
            "records": records,
        }

    async def plan(self, email: str) -> tuple[SubjectSearch, list[EraseStep]]:
        s = await self.search(email)
        return s, plan_erase(s.found, self.declared, s.subject, self.pseudonymiser)

    async def erase(self, email: str, *, operator: str, servicenow_user: str, reason: str = "") -> EraseResult:
        s, steps = await self.plan(email)
        audit = await self._audit_start(s, steps, operator, servicenow_user, reason)
        done: list[EraseStep] = []
        try:
            for step in steps:
                await self._carry_out(step)
                done.append(step)
        except ServiceNowError as exc:
            await self._audit_end(audit, "failed", done, f"stopped after {len(done)} of {len(steps)} records: {exc}")
            raise PrivacyError(f"erase stopped after {len(done)} of {len(steps)} records: {exc}; "
                               f"audited as failed ({AUDIT_TABLE} {audit})") from None
        await self._audit_end(audit, "completed", done, "")
        return EraseResult(s.subject.subject_hash, audit, counts(done), s)

    async def _carry_out(self, step: EraseStep) -> None:
        if isinstance(step, KeepRecord):
            return
        if isinstance(step, DeleteRecord):
            r = await self.client.api.request("DELETE", f"/api/now/table/{step.table}/{step.sys_id}")
            if r.status_code not in (200, 204, 404):  # 404: gone already, which is what erase wants
                raise ServiceNowError(r)
            return
        try:
            await self.client.update(step.table, step.sys_id, step.fields)
        except ServiceNowError as exc:
            if exc.status_code != 404:
                raise

    async def _audit_start(self, s: SubjectSearch, steps: list[EraseStep], operator: str, servicenow_user: str,
                           reason: str) -> str:
        body = {"u_action": "erase", "u_subject_hash": s.subject.subject_hash, "u_operator": operator[:100],
                "u_servicenow_user": servicenow_user, "u_performed_at": glide(self.clock.now()),
                "u_tables": ",".join(s.searched)[:4000], "u_record_counts": json.dumps(counts(steps), sort_keys=True),
                "u_outcome": "started", "u_reason": reason[:1000],
                "u_detail": ("not searched: " + ", ".join(s.not_searched))[:4000] if s.not_searched else ""}
        try:
            return str((await self.client.create(AUDIT_TABLE, body))["sys_id"])
        except ServiceNowError as exc:
            hint = " (erase needs a user with x_bip_panda.admin)" if exc.status_code == 403 else ""
            raise PrivacyError(f"cannot write the erase audit to {AUDIT_TABLE}{hint}: {exc}; nothing was erased") \
                from None

    async def _audit_end(self, sys_id: str, outcome: str, done: list[EraseStep], detail: str) -> None:
        body = {"u_outcome": outcome, "u_record_counts": json.dumps(counts(done), sort_keys=True)}
        if detail:
            body["u_detail"] = detail[:4000]
        await self.client.update(AUDIT_TABLE, sys_id, body)


def describe(step: EraseStep) -> str:
    """One line for a person reading an erase plan (no personal data)."""
    if isinstance(step, DeleteRecord):
        return f"{step.table} {step.sys_id}: delete"
    if isinstance(step, UpdateRecord):
        return f"{step.table} {step.sys_id}: {step.action} {', '.join(step.fields)}"
    return f"{step.table} {step.sys_id}: keep ({step.why})"
