"""Import sets: staging rows, transform maps as data, and the synchronous transform.

A row posted to a staging table (a table extending sys_import_set_row) is inserted as the
caller (ACL create on the staging table), then every active transform map of that table runs
in `order`, as its records (sys_transform_map, sys_transform_entry) say at that moment.
Transforms write through the backend's insert / update (business rules, data policy, audit),
under the caller's user name, so sys_created_by / sys_updated_by name the importing user as on
an instance, and the caller's ACLs decide each write (GlideRecordSecure: `_authorise`).

Per map: map the fields (references looked up, choices matched by value or label) -> if the
map coalesces, an empty coalesce value skips the row, else an existing target whose coalesce
fields all equal the mapped values is updated, otherwise one is inserted -> the optional
script hook `fn(source_row, target, context)` may change `target` or set `context.ignore`,
`context.skip`, `context.error`, `context.status_message`, `context.error_message` -> the
write. A refused write (data policy, business rule: SnError) is that map's `error`; the other
maps still run. Results are kept in sys_transform_result so GET can answer them later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bpsn.base.clock import glide
from bpsn.simulator.servicenow.backend import SYS_ID, ServiceNowBackend, to_text
from bpsn.simulator.servicenow.errors import SnError, bad_request
from bpsn.simulator.servicenow.records.business_rules import Actor
from bpsn.simulator.servicenow.records.store import Order, Where, quote
from bpsn.simulator.servicenow.security.acl import Operation

from .transform_maps import (
    ROW_TABLE,
    FieldMapping,
    TransformMap,
    TransformMapError,
    TransformMaps,
    is_staging,
)

__all__ = ["ImportSets", "TransformContext", "TransformMap", "TransformMapError", "TransformMaps",
           "staging_text", "user_full_name"]


def staging_text(value: Any) -> str:
    """A body value as the staging column stores it: strings as sent; anything else the way
    the instance's Java side prints it (Map -> "{k=v, k2=v2}", List -> "[a, b]"), which is
    ServiceNow's documented ':' becomes '=' mangling of nested JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={staging_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(staging_text(v) for v in value) + "]"
    return str(value)


@dataclass
class TransformContext:
    """What a script hook sees and may set, like a transform script's variables."""

    map: TransformMap
    backend: ServiceNowBackend
    actor: Actor
    import_set: str
    action: str = "insert"  # "update" when coalescing matched `existing`
    existing: dict[str, str] | None = None
    ignore: bool = False
    skip: bool = False
    error: bool = False
    status_message: str = ""
    error_message: str = ""


def user_full_name(source: dict[str, str], target: dict[str, Any], context: TransformContext) -> None:
    """Hook of the shipped User map: sys_user.name from the first and last names."""
    if not target.get("name"):
        full = " ".join(p for p in (target.get("first_name"), target.get("last_name")) if p)
        if full:
            target["name"] = full


def elevated(actor: Actor) -> Actor:
    """The caller's identity with ACLs bypassed: how a transform writes."""
    return Actor(actor.user_name, actor.sys_id, actor.roles | {"admin"})


class _Reject(Exception):
    pass


@dataclass
class Outcome:
    map: TransformMap
    status: str
    target_sys_id: str = ""
    status_message: str = ""
    error_message: str = ""


class ImportSets:
    """The Import Set API's operations on a backend; state stays in the backend's store."""

    def __init__(self, backend: ServiceNowBackend) -> None:
        self.b = backend

    # --- the API's operations ---------------------------------------------------------------
    def check_staging(self, table: str) -> None:
        self.b.check_table(table)  # 400 Invalid table <name>
        if not is_staging(self.b.dictionary, table):
            raise bad_request(f"Invalid table {table}", f"{table} is not an import set table "
                              f"(it does not extend {ROW_TABLE})")

    def insert(self, table: str, body: Any, actor: Actor) -> dict[str, Any]:
        self.check_staging(table)
        self.b.require(table, "create", actor)
        values = self.row_values(table, body)
        iset = self._open_set(table, elevated(actor))
        row = self._stage(table, values, actor, iset)
        maps = self.b.transform_maps.for_source(table)
        return {"import_set": iset["number"], "staging_table": table,
                "result": self._transform(table, row, iset, actor, maps)}

    def insert_multiple(self, table: str, records: list[Any], actor: Actor,
                        multi_import_set_id: str | None = None) -> dict[str, str]:
        self.check_staging(table)
        self.b.require(table, "create", actor)
        rows = [self.row_values(table, r) for r in records]  # all checked before anything is written
        worker = elevated(actor)
        multi = self.b.lookup("sys_multi_import_set", multi_import_set_id) if multi_import_set_id else None
        if multi_import_set_id and multi is None:
            raise bad_request("Invalid multi_import_set_id", f"No sys_multi_import_set record {multi_import_set_id}")
        multi = multi or self.b.insert("sys_multi_import_set", {"source_table": table}, worker)
        iset = self.b.insert("sys_import_set", {
            "table_name": table, "mode": "synchronous", "state": "loading", "multi_import_set": multi["sys_id"],
            "short_description": f"Import Set API insertMultiple: {table}"}, worker)
        maps = self.b.transform_maps.for_source(table)  # read once: the whole set follows one version
        for values in rows:
            self._transform(table, self._stage(table, values, actor, iset), iset, actor, maps)
        self.b.store.update("sys_import_set", iset["sys_id"], {"state": "processed"})
        return {"import_set_id": iset["sys_id"], "multi_import_set_id": multi["sys_id"]}

    def row_result(self, table: str, sys_id: str, actor: Actor) -> dict[str, Any]:
        self.check_staging(table)
        row = self.b.get(table, sys_id, actor)  # 404 when missing or unreadable
        iset = self.b.lookup("sys_import_set", row["sys_import_set"]) or {}
        records = self.b.store.select("sys_transform_result", Where("import_set_row = ?", [sys_id]),
                                      [Order("sequence", numeric=True)])
        return {"import_set": iset.get("number", ""), "staging_table": table,
                "result": [self._body(r, sys_id) for r in records]}

    def row_values(self, table: str, body: Any) -> dict[str, str]:
        """Column values of one staging row: keys are column names or labels; unknown keys and
        the read-only sys_* bookkeeping are dropped; every value becomes a string."""
        if not isinstance(body, dict):
            raise bad_request("Exception while reading request", "Each record must be a JSON object")
        fields = self.b.dictionary.fields(table)
        labels = {f.label.lower(): name for name, f in fields.items()}
        values = {}
        for key, raw in body.items():
            name = key if key in fields else labels.get(str(key).lower())
            if name is not None and not fields[name].read_only:
                values[name] = staging_text(raw)
        return values

    # --- staging -----------------------------------------------------------------------------
    def _open_set(self, table: str, worker: Actor) -> dict[str, str]:
        """Single-row imports share one open synchronous import set per table and UTC day."""
        today = glide(self.b.clock.now())[:10] + " 00:00:00"
        found = self.b.store.select("sys_import_set", Where(
            "table_name = ? AND mode = ? AND state = ? AND sys_created_on >= ?",
            [table, "synchronous", "loading", today]), limit=1)
        if found:
            return found[0]
        return self.b.insert("sys_import_set", {"table_name": table, "mode": "synchronous", "state": "loading",
                                                "short_description": f"Import Set API: {table}"}, worker)

    def _stage(self, table: str, values: dict[str, str], actor: Actor, iset: dict[str, str]) -> dict[str, str]:
        position = self.b.store.count(ROW_TABLE, Where("sys_import_set = ?", [iset["sys_id"]]))
        row = self.b.insert(table, values, actor)
        marks = {"sys_import_set": iset["sys_id"], "sys_import_row": str(position)}
        return self.b.store.update(table, row["sys_id"], marks) or {**row, **marks}

    # --- transforming ----------------------------------------------------------------------------
    def _transform(self, table: str, row: dict[str, str], iset: dict[str, str], actor: Actor,
                   maps: list[TransformMap]) -> list[dict[str, Any]]:
        worker = elevated(actor)
        outcomes = [self._run(m, row, iset, actor) for m in maps]
        records = [self._record(row, iset, n, o, worker) for n, o in enumerate(outcomes)]
        # Our choice (an instance documents nothing for several maps): the row shows the last map
        # that took part; a map skipped for want of its coalesce value did not, unless none did.
        # So one staging table serves the ticket rows and the metadata rows alike.
        shown = [o for o in outcomes if o.status != "skipped"] or outcomes
        if shown:
            targets = [o for o in shown if o.target_sys_id]
            self.b.store.update(table, row["sys_id"], {
                "sys_import_state": "error" if any(o.status == "error" for o in outcomes) else shown[-1].status,
                "sys_import_state_comment": "; ".join(o.status_message for o in outcomes if o.status_message)[:4000],
                "sys_row_error": "; ".join(o.error_message for o in outcomes if o.error_message)[:4000],
                "sys_target_table": (targets or shown)[-1].map.target_table,
                "sys_target_sys_id": targets[-1].target_sys_id if targets else "",
                "sys_transform_map": shown[-1].map.name})
        return [self._body(r, row["sys_id"]) for r in records]

    def _authorise(self, table: str, operation: Operation, importer: Actor,
                   values: dict[str, Any] | None = None) -> None:
        """GlideRecordSecure: every write a transform makes is checked against the importing
        user's ACLs (security/acl.py decides). The import path's one ACL call site: the target
        record and a referenced record that choice_action create would add both come here.
        A denied table is the row's error (SnError 403); a field of `values` the importer may
        not write is removed, so it is not written (Acls.may_write)."""
        self.b.require(table, operation, importer)
        if values is not None:
            creating = operation == "create"
            for name in [n for n in values if not self.b.acls.may_write(importer.roles, table, n, creating=creating)]:
                del values[name]

    def _run(self, m: TransformMap, row: dict[str, str], iset: dict[str, str], importer: Actor) -> Outcome:
        if m.broken:
            return Outcome(m, "error", error_message=f"Transform map {m.name} cannot run: {m.broken}")
        worker = elevated(importer)
        ctx = TransformContext(map=m, backend=self.b, actor=worker, import_set=iset["number"])
        try:
            target: dict[str, Any] = {}
            for fm in m.field_map:
                raw = row.get(fm.source, "")
                if raw or m.copy_empty:
                    value = self._field_value(m, fm, raw, importer)
                    if value is not None:
                        target[fm.target] = value
        except _Reject as exc:
            return Outcome(m, "ignored", status_message=str(exc))
        except SnError as exc:  # creating a referenced record failed
            return Outcome(m, "error", error_message=exc.detail or exc.message)
        existing = None
        if m.coalesce:
            empty = [f for f in m.coalesce if not to_text(target.get(f))]
            if empty:
                return Outcome(m, "skipped", status_message="No value for coalesce field(s): " + ", ".join(empty))
            existing = self._match(m.target_table, {f: to_text(target[f]) for f in m.coalesce})
        ctx.action, ctx.existing = ("update" if existing else "insert"), existing
        if m.script is not None:
            try:
                m.script(dict(row), target, ctx)
            except Exception as exc:  # a broken hook is that row's error, as a failing transform script
                return Outcome(m, "error", error_message=f"Transform script error: {type(exc).__name__}: {exc}")
        found = existing["sys_id"] if existing else ""
        if ctx.error:
            return Outcome(m, "error", "", ctx.status_message, ctx.error_message or "Transform script set error")
        if ctx.ignore:
            return Outcome(m, "ignored", found, ctx.status_message or "Row ignored by the transform script")
        if ctx.skip:
            return Outcome(m, "skipped", found, ctx.status_message or "Row skipped by the transform script")
        try:
            if existing is not None:
                if not self._changes(m.target_table, existing, target):
                    return Outcome(m, "ignored", found, ctx.status_message or "No field values changed")
                self._authorise(existing.get("sys_class_name") or m.target_table, "write", importer, target)
                record, status = self.b.update(m.target_table, found, target, worker), "updated"
            else:
                self._authorise(m.target_table, "create", importer, target)
                record, status = self.b.insert(m.target_table, target, worker), "inserted"
        except SnError as exc:  # data policy, business rule, bad sys_id: this map fails, others run
            return Outcome(m, "error", "", ctx.status_message, exc.detail or exc.message)
        return Outcome(m, status, record["sys_id"], ctx.status_message, ctx.error_message)

    def _field_value(self, m: TransformMap, fm: FieldMapping, raw: str, importer: Actor) -> str | None:
        """The target value of one mapping; None leaves the field out; _Reject rejects the row."""
        fdef = self.b.dictionary.fields(m.target_table)[fm.target]
        if not raw:
            return raw
        if fdef.type == "reference" and fdef.reference:
            ref = fdef.reference
            if SYS_ID.match(raw) and self.b.lookup(ref, raw):
                return raw
            lookup = fm.reference_lookup or self.b.dictionary.display_field(ref)
            rows = self.b.store.select(ref, Where(f"{quote(lookup)} = ?", [raw]), limit=1, columns=["sys_id"])
            if rows:
                return rows[0]["sys_id"]
            missing = f"no {ref} record with {lookup} = {raw!r} for {fm.target}"
        elif fdef.choices and raw not in fdef.choices:
            by_label = [k for k, label in fdef.choices.items() if label == raw]
            if by_label:
                return by_label[0]
            missing, ref, lookup = f"{raw!r} is not a choice of {fm.target}", "", ""
        else:
            return raw
        if fm.choice_action == "ignore":
            return None
        if fm.choice_action == "reject":
            raise _Reject(f"Row rejected: {missing} (choice action reject)")
        if not ref:
            return raw
        self._authorise(ref, "create", importer)
        return self.b.insert(ref, {lookup: raw}, elevated(importer))["sys_id"]

    def _match(self, table: str, keys: dict[str, str]) -> dict[str, str] | None:
        if len(keys) > 1:
            self.b.store.ensure_index(table, list(keys))
        where = Where(" AND ".join(f"{quote(f)} = ?" for f in keys), list(keys.values()))
        rows = self.b.store.select(table, where, limit=1)
        return rows[0] if rows else None

    def _changes(self, table: str, existing: dict[str, str], target: dict[str, Any]) -> bool:
        fields = self.b.dictionary.fields(table)
        for name, value in target.items():
            fdef = fields.get(name)
            if fdef is None or fdef.read_only:
                continue
            if fdef.type == "journal" or fdef.secret:
                if to_text(value):
                    return True
            elif existing.get(name, "") != to_text(value):
                return True
        return False

    # --- results ---------------------------------------------------------------------------------
    def _record(self, row: dict[str, str], iset: dict[str, str], n: int, o: Outcome, worker: Actor) -> dict[str, str]:
        return self.b.insert("sys_transform_result", {
            "import_set_row": row["sys_id"], "import_set": iset["sys_id"], "sequence": str(n),
            "transform_map": o.map.name, "target_table": o.map.target_table, "target_sys_id": o.target_sys_id,
            "status": o.status, "status_message": o.status_message[:4000],
            "error_message": o.error_message[:4000]}, worker)

    def _body(self, rec: dict[str, str], row_sys_id: str) -> dict[str, Any]:
        table, target_id = rec["target_table"], rec["target_sys_id"]
        target = self.b.lookup(table, target_id) if target_id and self.b.dictionary.exists(table) else None
        display = self.b.dictionary.display_field(table) if self.b.dictionary.exists(table) else "sys_id"
        out: dict[str, Any] = {"transform_map": rec["transform_map"], "table": table, "display_name": display,
                               "display_value": (target or {}).get(display, "")}
        if target is not None:
            out["record_link"] = f"{self.b.settings.instance_url}/api/now/table/{table}/{target_id}"
        out["status"] = rec["status"]
        out["sys_id"] = target_id if target is not None else row_sys_id
        if rec["status_message"]:
            out["status_message"] = rec["status_message"]
        if rec["error_message"]:
            out["error_message"] = rec["error_message"]
        return out
