"""Records as the Table API shows them: strings, reference objects, display values.

display_value=false: raw values, references {"link", "value"}; true: labels and display
names; all: {"display_value", "value"} per field. Journal fields are "" unless display
values are asked for, then the dated entries, newest first.

Password fields never show what is stored, whoever asks (admin included), however they are
reached (sysparm_fields, dot-walking such as caller_id.user_password, display values, the
Batch API, /_sim/wait): a one-way `password` field (sys_user.user_password) reads as "" (the
reference does not say what the Table API returns for one; a real instance lets admins read
the hash, which we do not), and a `password2` field as the mask "********" when set, "" when
empty. The same goes for the raw value and the display value.

Read ACLs hold on every table a record's rendering reaches (RenderOptions.can_read; None: the
caller may read everything, for internal callers). A dot-walked field (sysparm_fields such as
`u_incident.short_description`) that passes through a table the caller may not read, or through
a record whose class the caller may not read, is left out of the result, as ServiceNow leaves
out fields the caller can't read, whatever sysparm_display_value asks for. A reference field of
a readable record keeps its value (the sys_id is the record's own column) and its link, but its
display value, which is read from the referenced record, is "" when the caller may not read the
referenced table (our choice: the reference does not say).

Field ACLs hold the same way (RenderOptions.field_access: "read", "masked" or "denied" for a
table's field): a field the caller may not read is left out, a masked one (the credentials of
x_bip_panda_config for a BigPanda User) shows as the password2 mask, and a dot-walk whose hop
column or final field the caller may not read is left out. A reference's display value is ""
when the caller may not read the referenced table's display field.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from itertools import repeat
from json.encoder import encode_basestring
from typing import Any, Protocol

from bpsn.base.clock import from_glide, glide

from .dictionary import Dictionary, FieldDef

JOURNAL_LABELS = {"work_notes": "Work notes", "comments": "Additional comments"}
PASSWORD2_MASK = "********"  # what a set password2 value reads as
# The JSON text of a response body exactly as Starlette's JSONResponse writes it; record_json writes
# each str with encode_basestring, the C function this encoder itself uses for them
TO_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode


# The bytes encode_basestring escapes (ensure_ascii=False: control characters, quote, backslash); in
# UTF-8 no other character has any of them among its bytes
ESCAPED = bytes(range(0x20)) + b'"\\'


@dataclass(frozen=True)
class ColumnsPlan:
    """How _every_field_json writes a class's fields: their names, the JSON key of each with the
    "{" or "," before it (`openers`, for values encoded with their quotes), and the same keys with
    the quotes around the plain values folded in (`quoted_openers` and `quoted_tail`, for values
    that need no escape, written as they are); (position, definition) of the fields that are not
    plain, whose values are written whole."""

    fields: dict[str, FieldDef]  # the class's field map it was built for (compared by identity)
    names: tuple[str, ...]
    openers: tuple[str, ...]
    quoted_openers: tuple[str, ...]
    quoted_tail: str
    special: tuple[tuple[int, FieldDef], ...]

    @classmethod
    def of(cls, fields: dict[str, FieldDef], plan: list[tuple[str, str, FieldDef]]) -> ColumnsPlan:
        plain = [f.plain for _, _, f in plan]
        openers = tuple(("," if i else "{") + key for i, (_, key, _) in enumerate(plan))
        # before field i: the quote closing field i - 1 when it is plain, and the one opening field i
        quoted = tuple(("" if i == 0 or not plain[i - 1] else '"') + opener + ('"' if plain[i] else "")
                       for i, opener in enumerate(openers))
        special = tuple((i, f) for i, (_, _, f) in enumerate(plan) if not f.plain)
        return cls(fields, tuple(n for n, _, _ in plan), openers, quoted, '"}' if plan and plain[-1] else "}", special)


def secret_shown(fdef: FieldDef, stored: str) -> str:
    """What any API shows for a password field's stored value (see the module doc)."""
    return PASSWORD2_MASK if fdef.type == "password2" and stored else ""


class Lookups(Protocol):
    def lookup(self, table: str, sys_id: str) -> dict[str, str] | None: ...
    def journal_entries(self, table: str, sys_id: str, element: str) -> list[dict[str, str]]: ...
    def user_display(self, user_name: str) -> str: ...


@dataclass(frozen=True)
class RenderOptions:
    base_url: str
    display_value: str = "false"  # "false" | "true" | "all"
    exclude_reference_link: bool = False
    fields: tuple[str, ...] = ()
    can_read: Callable[[str], bool] | None = None  # may the caller read this table? None: everything
    field_access: Callable[[str, str], str] | None = None  # (table, field) -> read|masked|denied; None: read


def _access(opts: RenderOptions, table: str, field: str) -> str:
    return "read" if opts.field_access is None else opts.field_access(table, field)


class Renderer:
    def __init__(self, dictionary: Dictionary, lookups: Lookups) -> None:
        self.dictionary, self.lookups = dictionary, lookups
        # (class, sysparm_fields) -> (the class's field map, [(field, '"name":', definition)])
        self._plans: dict[tuple[str, tuple[str, ...]], tuple[dict[str, FieldDef], list[tuple[str, str, FieldDef]]]] = {}
        self._columns_plans: dict[tuple[str, tuple[str, ...]], ColumnsPlan] = {}

    def record_json(self, table: str, row: dict[str, str], opts: RenderOptions) -> str:
        """TO_JSON(self.record(table, row, opts)), the same text. Raw values (the common case) are
        written straight from the row: building the dict and encoding it cost three times as much."""
        if opts.display_value != "false" or (opts.fields and any("." in name for name in opts.fields)):
            return TO_JSON(self.record(table, row, opts))
        cls = row.get("sys_class_name") or table
        field_access, base = opts.field_access, opts.base_url
        if field_access is None:
            try:
                return self._every_field_json(cls, row, opts)
            except TypeError:  # as below
                return TO_JSON(self.record(table, row, opts))
        parts = []
        try:
            for name, key, fdef in self._plan(cls, opts.fields):
                value = row.get(name, "")
                if field_access is not None:
                    access = field_access(cls, name)
                    if access == "denied":
                        continue
                    if access == "masked":
                        parts.append(key + (f'"{PASSWORD2_MASK}"' if value else '""'))
                        continue
                if fdef.plain:
                    parts.append(key + encode_basestring(value))
                elif fdef.secret:
                    parts.append(key + encode_basestring(secret_shown(fdef, value)))
                elif fdef.type == "journal" or not value:  # no journal text without display values
                    parts.append(key + '""')
                elif opts.exclude_reference_link:
                    parts.append(key + encode_basestring(value))
                else:
                    link = encode_basestring(f"{base}/api/now/table/{fdef.reference}/{value}")
                    parts.append(f'{key}{{"link":{link},"value":{encode_basestring(value)}}}')
        except TypeError:  # a value that is not text: the general path says what JSON makes of it
            return TO_JSON(self.record(table, row, opts))
        return "{" + ",".join(parts) + "}"

    def _every_field_json(self, cls: str, row: dict[str, str], opts: RenderOptions) -> str:
        """record_json's text for a caller who may read every field: every value written as stored
        (encoded only when one needs it, see ColumnsPlan), then the few fields not shown as stored
        written over."""
        plan = self._columns_plan(cls, opts.fields)
        names, special = plan.names, plan.special
        if not names:
            return "{}"
        values = list(map(row.get, names, repeat("")))
        # Most records need no escape at all: then each value is its own JSON text between quotes
        # (folded into the keys). Checked over all the values at once, in C: the values joined,
        # as UTF-8 (a lone surrogate is written as it is, as encode_basestring writes it), lose
        # no byte to ESCAPED. Else each value is encoded, as before.
        raw = "".join(values).encode("utf-8", "surrogatepass")  # TypeError: not text
        if len(raw.translate(None, ESCAPED)) == len(raw):
            shown, openers, tail, quote = values, plan.quoted_openers, plan.quoted_tail, '"'
        else:
            shown, openers, tail, quote = list(map(encode_basestring, values)), plan.openers, "}", ""
        for i, fdef in special:  # each written whole, quotes and all
            value = values[i]
            if fdef.secret:
                shown[i] = encode_basestring(secret_shown(fdef, value))
            elif fdef.type == "journal" or not value:  # no journal text without display values
                shown[i] = '""'
            elif opts.exclude_reference_link:
                shown[i] = quote + shown[i] + quote
            else:
                link = encode_basestring(f"{opts.base_url}/api/now/table/{fdef.reference}/{value}")
                shown[i] = f'{{"link":{link},"value":{quote}{shown[i]}{quote}}}'
        text = [""] * (2 * len(names))  # opener value opener value ...: one join, no pair built
        text[::2], text[1::2] = openers, shown
        return "".join(text) + tail

    def _columns_plan(self, cls: str, names: tuple[str, ...]) -> ColumnsPlan:
        """_plan as columns (ColumnsPlan), kept while the dictionary's field map of the class is
        the same object."""
        fields = self.dictionary.fields(cls)
        known = self._columns_plans.get((cls, names))
        if known is None or known.fields is not fields:
            if len(self._columns_plans) >= 1024:
                self._columns_plans.clear()
            known = self._columns_plans[(cls, names)] = ColumnsPlan.of(fields, self._plan(cls, names))
        return known

    def _plan(self, cls: str, names: tuple[str, ...]) -> list[tuple[str, str, FieldDef]]:
        """The fields record() shows, in its order, with their JSON keys; kept while the
        dictionary's field map of the class is the same object."""
        fields = self.dictionary.fields(cls)
        known = self._plans.get((cls, names))
        if known is None or known[0] is not fields:
            shown = [(n, encode_basestring(n) + ":", fields[n]) for n in dict.fromkeys(names or fields) if n in fields]
            if len(self._plans) >= 1024:
                self._plans.clear()
            known = self._plans[(cls, names)] = (fields, shown)
        return known[1]

    def record(self, table: str, row: dict[str, str], opts: RenderOptions) -> dict[str, Any]:
        cls = row.get("sys_class_name") or table
        fields = self.dictionary.fields(cls)
        names = opts.fields or fields
        field_access = opts.field_access
        raw = opts.display_value == "false"  # the common case: most fields are their stored text
        out: dict[str, Any] = {}
        for name in names:
            if "." in name:
                walked = self._walk(table, row, name, opts)
                if walked is not None:
                    fdef, value, owner = walked
                    out[name] = self._value(fdef, value, owner, opts)
                continue
            fdef = fields.get(name)
            if fdef is None:
                continue  # invalid sysparm_fields entries are ignored
            if field_access is not None:
                access = field_access(cls, name)
                if access == "denied":
                    continue  # left out, as ServiceNow leaves out a field its read ACL refuses
                if access == "masked":
                    shown = PASSWORD2_MASK if row.get(name) else ""
                    out[name] = {"display_value": shown, "value": shown} if opts.display_value == "all" else shown
                    continue
            if raw and fdef.plain:
                out[name] = row.get(name, "")
            else:
                out[name] = self._value(fdef, row.get(name, ""), row, opts)
        return out

    def _walk(self, table: str, row: dict[str, str], path: str,
              opts: RenderOptions) -> tuple[FieldDef, str, dict[str, str]] | None:
        """The field a dot-walk names, its value and the record holding it; None when the path is
        invalid or passes through a table (or a record's class) or a field the caller may not read."""
        can_read = opts.can_read
        current_table, current = table, row
        parts = path.split(".")
        for hop in parts[:-1]:
            fdef = self.dictionary.field(current_table, hop)
            if fdef is None or fdef.type != "reference" or not fdef.reference:
                return None
            if _access(opts, current.get("sys_class_name") or current_table, hop) != "read":
                return None
            if can_read is not None and not can_read(fdef.reference):
                return None  # left out whether or not the reference is set: the answer tells nothing
            target = self.lookups.lookup(fdef.reference, current.get(hop, "")) if current.get(hop) else None
            cls = (target or {}).get("sys_class_name")
            if can_read is not None and cls and cls != fdef.reference and not can_read(cls):
                return None
            current_table = fdef.reference
            current = target or {}
        fdef = self.dictionary.field(current_table, parts[-1])
        if fdef is None or _access(opts, current.get("sys_class_name") or current_table, parts[-1]) != "read":
            return None  # a masked field is left out too: a dot-walk is no way round the mask
        return fdef, current.get(parts[-1], ""), current

    def _value(self, fdef: FieldDef, value: str, owner: dict[str, str], opts: RenderOptions) -> Any:
        if fdef.secret:
            shown = secret_shown(fdef, value)
            return {"display_value": shown, "value": shown} if opts.display_value == "all" else shown
        if fdef.type == "journal":
            text = self._journal(owner, fdef.name) if opts.display_value != "false" else ""
            return {"display_value": text, "value": ""} if opts.display_value == "all" else text
        if fdef.type == "reference":
            return self._reference(fdef, value, opts)
        if opts.display_value == "false":
            return value
        display = self._display(fdef, value)
        return display if opts.display_value == "true" else {"display_value": display, "value": value}

    def _display(self, fdef: FieldDef, value: str) -> str:
        if fdef.choices:
            return fdef.choice_label(value)
        if fdef.type == "glide_date_time" and value:
            return glide(from_glide(value))  # the instance's users see UTC
        return value

    def _reference(self, fdef: FieldDef, value: str, opts: RenderOptions) -> Any:
        if not value:
            if opts.display_value == "all":
                return {"display_value": "", "value": ""}
            return ""
        link = f"{opts.base_url}/api/now/table/{fdef.reference}/{value}"
        if opts.display_value == "false":
            return value if opts.exclude_reference_link else {"link": link, "value": value}
        readable = opts.can_read is None or opts.can_read(str(fdef.reference))
        target = self.lookups.lookup(str(fdef.reference), value) if readable else None
        shown = self.dictionary.display_field(str(fdef.reference))
        if target is not None and _access(opts, target.get("sys_class_name") or str(fdef.reference), shown) != "read":
            target = None  # the display value is the referenced record's field: its read ACL holds
        display = target.get(shown, "") if target else ""
        if opts.display_value == "true":
            return display if opts.exclude_reference_link else {"display_value": display, "link": link}
        out = {"display_value": display, "value": value}
        if not opts.exclude_reference_link:
            out["link"] = link
        return out

    def _journal(self, owner: dict[str, str], element: str) -> str:
        sys_id, cls = owner.get("sys_id", ""), owner.get("sys_class_name", "")
        if not sys_id:
            return ""
        entries = self.lookups.journal_entries(cls, sys_id, element)
        label = JOURNAL_LABELS.get(element, element)
        return "".join(
            f"{e['sys_created_on']} - {self.lookups.user_display(e['sys_created_by'])} ({label})\n{e['value']}\n\n"
            for e in entries)
