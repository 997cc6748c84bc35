"""A data subject in the x_bip_panda tables: how to find them in a record, and what erasing does.

Pure: records in, matches and erase steps out; subject_service.py does the HTTP.

The subject is an email address, plus the sys_user name and user name of the account with
that email, if there is one. An email, or a name of two words or more, is found anywhere in
a column (case-insensitive, whole words only: bob@example.com is not inside
jimbob@example.com). A user name, or a one-word name, is found only as a column's whole
value: `admin` or `ops` inside running text is far more often a word than a person.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .pseudonym import Pseudonymiser
from .tables import AUDIT_COLUMNS, TablePrivacy

_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")


def validate_email(email: str) -> str:
    text = email.strip()
    if len(text) > 254 or not _EMAIL.match(text):
        raise ValueError(f"not an email address: {email!r}")
    return text


@dataclass(frozen=True)
class Account:
    """A sys_user record with the subject's email."""

    sys_id: str
    user_name: str
    name: str


@dataclass(frozen=True)
class Subject:
    email: str
    subject_hash: str
    accounts: tuple[Account, ...] = ()

    def __post_init__(self) -> None:
        for a in self.accounts:
            if "^" in a.user_name + a.name:
                raise ValueError(f"sys_user {a.sys_id} has a name or user name with '^', "
                                 "which an encoded query cannot carry")

    @property
    def user_names(self) -> list[str]:
        return sorted({a.user_name for a in self.accounts if a.user_name})

    @property
    def text_terms(self) -> list[tuple[str, str]]:
        """(kind, value) found anywhere in a column."""
        names = sorted({a.name for a in self.accounts if len(a.name.split()) >= 2})
        return [("email", self.email)] + [("name", n) for n in names]

    @property
    def exact_terms(self) -> list[tuple[str, str]]:
        """(kind, value) found only as a column's whole value."""
        names = sorted({a.name.strip() for a in self.accounts if len(a.name.split()) == 1})
        return [("user", u) for u in self.user_names] + [("name", n) for n in names]


def _pattern(kind: str, value: str) -> re.Pattern[str]:
    if kind == "email":
        return re.compile(r"(?<![A-Za-z0-9._%+-])" + re.escape(value) + r"(?![A-Za-z0-9_-]|\.[A-Za-z0-9])",
                          re.IGNORECASE)
    words = r"\s+".join(re.escape(w) for w in value.split())
    return re.compile(r"(?<!\w)" + words + r"(?!\w)", re.IGNORECASE)


def query(decl: TablePrivacy, subject: Subject) -> str | None:
    """The encoded query that narrows `decl.table` to records that may hold the subject
    (`matches` then decides for each record), or None when there is nothing to look for.
    ORDERBY keeps pages stable."""
    parts = [f"{column}LIKE{value}" for column in decl.columns for _, value in subject.text_terms]
    parts += [f"{column}={value}" for column in decl.columns for _, value in subject.exact_terms]
    parts += [f"{column}={user}" for column in AUDIT_COLUMNS for user in subject.user_names]
    return "^OR".join(parts) + "^ORDERBYsys_created_on^ORDERBYsys_id" if parts else None


def matches(record: dict[str, Any], decl: TablePrivacy, subject: Subject) -> dict[str, list[str]]:
    """Column -> kinds of the subject's data it holds (empty when the record does not hold them)."""
    found: dict[str, list[str]] = {}
    for column in decl.columns:
        text = str(record.get(column) or "")
        kinds = [kind for kind, value in subject.text_terms if _pattern(kind, value).search(text)]
        kinds += [kind for kind, value in subject.exact_terms if text.strip().lower() == value.strip().lower()]
        if kinds:
            found[column] = kinds
    users = {u.lower() for u in subject.user_names}
    for column in AUDIT_COLUMNS:
        if str(record.get(column) or "").lower() in users:
            found[column] = ["user"]
    return found


def pseudonymise_text(text: str, subject: Subject, pseudonymiser: Pseudonymiser) -> str:
    """`text` with every occurrence of the subject replaced by the subject's pseudonyms."""
    for kind, value in subject.text_terms:
        text = _pattern(kind, value).sub(pseudonymiser.pseudonym(kind, value), text)
    for kind, value in subject.exact_terms:
        if text.strip().lower() == value.strip().lower():
            return pseudonymiser.pseudonym(kind, value)
    return text


# --- erase -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Found:
    table: str
    sys_id: str
    matched: dict[str, list[str]] = field(hash=False)
    record: dict[str, Any] = field(hash=False, compare=False)


@dataclass(frozen=True)
class DeleteRecord:
    table: str
    sys_id: str


@dataclass(frozen=True)
class UpdateRecord:
    table: str
    sys_id: str
    action: str  # pseudonymise | blank
    fields: dict[str, str] = field(hash=False)


@dataclass(frozen=True)
class KeepRecord:
    table: str
    sys_id: str
    why: str


EraseStep = DeleteRecord | UpdateRecord | KeepRecord


def plan_erase(found: list[Found], declared: dict[str, TablePrivacy], subject: Subject,
               pseudonymiser: Pseudonymiser) -> list[EraseStep]:
    steps: list[EraseStep] = []
    for f in found:
        decl = declared[f.table]
        erasable = [c for c in f.matched if c in decl.erasable]
        if decl.erase == "delete":
            steps.append(DeleteRecord(f.table, f.sys_id))
        elif decl.erase == "keep" or not erasable:
            kept = ", ".join(f.matched)
            why = decl.why if decl.erase == "keep" else f"held only in columns erase leaves ({kept}): {decl.why}"
            steps.append(KeepRecord(f.table, f.sys_id, why))
        elif decl.erase == "blank":
            steps.append(UpdateRecord(f.table, f.sys_id, "blank", {c: "" for c in erasable}))
        else:
            fields = {c: pseudonymise_text(str(f.record.get(c) or ""), subject, pseudonymiser) for c in erasable}
            steps.append(UpdateRecord(f.table, f.sys_id, "pseudonymise", fields))
    return steps


def counts(steps: list[EraseStep]) -> dict[str, dict[str, int]]:
    """Per table, how many records each action touched: {"x_bip_panda_bp_alerts": {"pseudonymise": 2}}."""
    out: dict[str, dict[str, int]] = {}
    for step in steps:
        action = ("delete" if isinstance(step, DeleteRecord)
                  else step.action if isinstance(step, UpdateRecord) else "keep")
        per_table = out.setdefault(step.table, {})
        per_table[action] = per_table.get(action, 0) + 1
    return dict(sorted(out.items()))
