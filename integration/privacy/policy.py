"""The privacy policy: which personal data is cleaned before it leaves one system for the other.

One `DirectionPolicy` per direction. `to_servicenow` applies to the BigPanda share incident
before the core maps it to a ticket; `to_bigpanda` applies to every body the core sends
BigPanda (comments, resolve notes, tags). In each:

- `fields`: field or tag names that hold personal data, each with its kind (email, name,
  phone, ip) and, optionally, its own action. The whole value is cleaned. A name matches a
  payload key (`assignee`, `caller_email`) or a tag name (alert tag `owner`, incident tag
  `on_call`), case-insensitively.
- `detect` and `free_text`: the kinds looked for by pattern (email, ip, phone; see detect.py)
  inside the free-text fields named in `free_text` (descriptions, comments, notes).
- `action`: `pseudonymise` (keyed HMAC, stable per person; pseudonym.py) or `redact`.

The default policy cleans nothing: which tags carry personal data differs per organisation.
Example (JSON, as kept in the versioned configuration):

    {"to_servicenow": {"action": "pseudonymise",
                       "fields": [{"name": "owner", "kind": "email"},
                                  {"name": "on_call_phone", "kind": "phone", "action": "redact"}],
                       "detect": ["email", "ip"]},
     "to_bigpanda": {"action": "redact", "detect": ["email", "phone"]}}
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Kind = Literal["email", "name", "phone", "ip"]
DetectableKind = Literal["email", "ip", "phone"]
Action = Literal["redact", "pseudonymise"]
Direction = Literal["to_servicenow", "to_bigpanda"]
DIRECTIONS: tuple[Direction, ...] = ("to_servicenow", "to_bigpanda")

DEFAULT_FREE_TEXT = ("description", "short_description", "comments", "comment", "work_notes", "close_notes")
# The keys the integration matches records by: cleaning one would break the sync, not protect anyone.
PROTECTED_NAMES = frozenset({"id", "incident_id", "share_id", "sys_id", "correlation_id", "environment_id",
                             "alert_id", "number", "tag_id"})


class PersonalField(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="A payload key or a tag name")
    kind: Kind
    action: Action | None = Field(None, description="Overrides the direction's action for this field")

    @field_validator("name")
    @classmethod
    def _not_protected(cls, name: str) -> str:
        name = name.strip()
        if name.lower() in PROTECTED_NAMES:
            raise ValueError(f"{name!r} identifies a record or a tag; the integration needs it as it is")
        return name


class DirectionPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    action: Action = "pseudonymise"
    fields: tuple[PersonalField, ...] = ()
    detect: tuple[DetectableKind, ...] = Field((), description="Kinds found by pattern inside free text")
    free_text: tuple[str, ...] = Field(DEFAULT_FREE_TEXT, description="Field or tag names scanned by `detect`")

    @model_validator(mode="after")
    def _no_duplicates(self) -> DirectionPolicy:
        seen: set[str] = set()
        for f in self.fields:
            if f.name.lower() in seen:
                raise ValueError(f"field {f.name!r} is listed twice")
            seen.add(f.name.lower())
        return self

    def field(self, name: str) -> PersonalField | None:
        wanted = name.lower()
        return next((f for f in self.fields if f.name.lower() == wanted), None)

    def action_for(self, f: PersonalField) -> Action:
        return f.action or self.action

    def scans(self, name: str) -> bool:
        return bool(self.detect) and name.lower() in {n.lower() for n in self.free_text}

    @property
    def active(self) -> bool:
        return bool(self.fields or self.detect)


class PrivacyPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    to_servicenow: DirectionPolicy = DirectionPolicy()
    to_bigpanda: DirectionPolicy = DirectionPolicy()

    def direction(self, direction: str) -> DirectionPolicy:
        if direction not in DIRECTIONS:
            raise ValueError(f"unknown direction {direction!r}; expected one of {', '.join(DIRECTIONS)}")
        return self.to_servicenow if direction == "to_servicenow" else self.to_bigpanda
