"""The ServiceNow instance: every piece of state, and the operations routes call.

Routes stay thin: they parse HTTP, call these methods and render what comes back.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from bpsn.base.clock import SimClock
from bpsn.base.rng import SeededRandom
from bpsn.simulator.common.faults import FaultInjector
from bpsn.simulator.common.journal import Journal
from bpsn.simulator.common.notifier import ChangeNotifier
from bpsn.simulator.servicenow.import_sets.transform_maps import TransformMaps
from bpsn.simulator.servicenow.query.sql import QueryContext, SecretFieldQuery, compile_text
from bpsn.simulator.servicenow.records.business_rules import Actor, BusinessRules, NumberCounters
from bpsn.simulator.servicenow.records.dictionary import Dictionary, FieldDef
from bpsn.simulator.servicenow.records.glide_time import glide_stamp
from bpsn.simulator.servicenow.records.history import RecordHistory
from bpsn.simulator.servicenow.records.outbound import TABLE as OUTBOUND_TABLE
from bpsn.simulator.servicenow.records.outbound import ChangeNotifications, seed_outbound_message
from bpsn.simulator.servicenow.records.render import PASSWORD2_MASK, Renderer
from bpsn.simulator.servicenow.records.store import Order, Store, StoreTemplate, Where
from bpsn.simulator.servicenow.security.acl import AclRule, Acls, Operation
from bpsn.simulator.servicenow.security.acl_records import TABLE as ACL_TABLE
from bpsn.simulator.servicenow.security.acl_records import acls_from_records, check_acl_record
from bpsn.simulator.servicenow.security.identity import Identities
from bpsn.simulator.servicenow.security.logins import LoginThrottle
from bpsn.simulator.servicenow.security.oauth import OAuthClient, OAuthServer
from bpsn.simulator.servicenow.security.password2 import Password2
from bpsn.simulator.servicenow.security.passwords import (
    Hashed,
    demo_hash,
    hash_password,
)
from bpsn.simulator.servicenow.security.rate_limits import RateLimiter

from .errors import SnError, acl_denied, bad_request, invalid_table, no_record, query_denied
from .records import dictionary_entries
from .seed import seed_demo_instance
from .settings import ServiceNowSettings

SYS_ID = re.compile(r"^[0-9a-f]{32}$")
SYSTEM = Actor(user_name="system", sys_id="", roles=frozenset({"admin"}))
WRITABLE_SYS_FIELDS = {"sys_id"}  # a caller may choose the sys_id of a new record


def to_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):  # a reference or display_value=all object sent back
        return to_text(value.get("value", ""))
    if isinstance(value, list):
        return ",".join(to_text(v) for v in value)
    return str(value)


@dataclass(frozen=True)
class SeededTemplate:
    """The seeded instance, kept by the first reset for the next ones (see reset)."""

    at: float  # the clock when it was seeded: its records carry that time
    store: StoreTemplate
    rng: Any
    numbers: dict[str, int]
    acl_rules: tuple[AclRule, ...]  # its sys_security_acl records, read: two thirds of a restore's CPU


class ServiceNowBackend:
    name = "servicenow"

    def __init__(self, settings: ServiceNowSettings | None = None, clock: SimClock | None = None,
                 dictionary: Dictionary | None = None) -> None:
        self.settings = settings or ServiceNowSettings()
        self.clock = clock or SimClock()
        self.dictionary = dictionary or Dictionary.default()
        self.store = Store(self.dictionary, self.settings.state_file or ":memory:")
        self.history = RecordHistory(self)
        self.journal = Journal(self.settings.journal_max_entries)
        self.faults = FaultInjector(self.settings.seed)
        self.notifier = ChangeNotifier()
        key = self.settings.encryption_key
        self.secrets = Password2(key.get_secret_value() if key else None)  # None: a random key per start
        self.identities = Identities(
            self.store, LoginThrottle(self.settings.login_max_failures, self.settings.login_failure_window),
            self.clock.now, self.settings.password_hash_iterations)
        self.renderer = Renderer(self.dictionary, self)
        self.acls = Acls.default(self.dictionary)
        self.transform_maps = TransformMaps.default(self.dictionary)  # records; the defaults seeded by reset()
        self.transform_maps.attach(self)
        self.rate_limits = RateLimiter()
        self.ready = False
        self.rng = SeededRandom(self.settings.seed)  # data only; secrets come from `secrets`
        self.oauth = OAuthServer()
        self.oauth.register(OAuthClient(self.settings.oauth_client_id, self.settings.oauth_client_secret))
        self.numbers = NumberCounters()
        self.rules = BusinessRules(self.dictionary, self.numbers)
        self.outbound = ChangeNotifications(self)  # the change notifications' business rule (records/outbound.py)
        self._template: SeededTemplate | None = None
        self._seeding = False  # the ACLs are read once after seeding, not after each of its ACL records
        if self.store.count("sys_user") == 0:
            self.reset()
        else:  # a state file from an earlier run
            self._resync_counters()
            self._reseed_after_restore()
            self._load_acls()
            self.ready = True

    # --- lifecycle -------------------------------------------------------------------------
    def reset(self) -> None:
        """The seeded instance again. The first reset seeds it record by record and keeps a template
        (store, random source, counters, ACL rules) that a later reset at the same instant of the
        clock restores: the same state in a millisecond (a test suite resets for every test)."""
        self.ready = False
        for root, column in self.dictionary.remove_runtime_fields():
            self.store.drop_column(root, column)
        self.dictionary.remove_runtime_tables()
        template = self._template
        if template is not None and template.at != self.clock.now() or self.store.path != ":memory:":
            template = None  # seeded again: records of another time, or a store in a file
        self.numbers = NumberCounters()
        if template is not None:
            self.store.restore(template.store)
            self.rng = SeededRandom()
            self.rng.setstate(template.rng)
            self.numbers.next = dict(template.numbers)
        else:
            self.store.clear()
            self.rng = SeededRandom(self.settings.seed)
        self.rules = BusinessRules(self.dictionary, self.numbers)
        self.identities.forget()
        self.journal.clear()
        self.outbound.clear()
        self.faults.clear()
        self.rate_limits.clear()
        self.identities.logins.clear()
        self.oauth = OAuthServer()
        self.oauth.register(OAuthClient(self.settings.oauth_client_id, self.settings.oauth_client_secret))
        if template is None:
            for row in dictionary_entries.seed_rows(self.dictionary, self.rng.hex32, glide_stamp(self.clock.now())):
                self.store.insert(dictionary_entries.TABLE, row)
            self._seeding = True  # every seed write is the system's (admin): no ACL decides it
            try:
                seed_demo_instance(self._seed_insert, self.settings)
                self.transform_maps.seed()
                seed_outbound_message(self.insert_system)
            finally:
                self._seeding = False
            self._load_acls()
            self._template = SeededTemplate(self.clock.now(), self.store.template(), self.rng.getstate(),
                                            dict(self.numbers.next), tuple(self.acls.rules))
        else:  # the template's records, so the template's rules (a new Acls: its caches start empty)
            self.acls = Acls(self.dictionary, list(template.acl_rules))
        self.ready = True
        self.notifier.notify()

    def _seed_insert(self, table: str, body: dict[str, Any]) -> dict[str, str]:
        """insert_system, with the demo users' password hashes made once per process (see passwords)."""
        if table == "sys_user" and body.get("user_password"):
            body = {**body, "user_password": demo_hash(str(body.get("user_name", "")), str(body["user_password"]),
                                                       self.settings.password_hash_iterations)}
        return self.insert_system(table, body)

    def _load_acls(self) -> None:
        """The sys_security_acl records (security/acl_records.py); without any, the shipped rules."""
        rows = self.store.select(ACL_TABLE)
        self.acls = acls_from_records(self.dictionary, rows) if rows else Acls.default(self.dictionary)

    def tick(self) -> None:
        """Nothing on the instance is timer-driven yet; kept for the admin clock route."""

    def _reseed_after_restore(self) -> None:
        """A store from a snapshot or a state file holds sys_ids from this seed's stream; drawing it
        again would make the same sys_ids ("already exists", a ticket lost). The new stream comes
        from the seed and every sys_id in the store: the same file loaded again gives the same run,
        and a new sys_id meets an old one with odds of 2^-128."""
        digest = hashlib.sha256(f"{self.settings.seed}:restored".encode())
        for root in sorted({self.dictionary.root(t) for t in self.dictionary.tables}):
            for row in self.store.execute(f'SELECT sys_id FROM "{root}" ORDER BY sys_id'):
                digest.update(str(row["sys_id"]).encode())
        self.rng = SeededRandom(digest.hexdigest())

    def _resync_counters(self) -> None:
        for table in self.dictionary.tables:
            prefix = self.dictionary.number_prefix(table)
            if prefix:
                for row in self.store.execute(
                        f'SELECT number FROM "{self.dictionary.root(table)}" WHERE number LIKE ?',
                        [prefix + "%"]):
                    self.numbers.observe(row["number"], str(prefix))

    # --- auth --------------------------------------------------------------------------------
    def require(self, table: str, operation: Operation, actor: Actor) -> None:
        if self.acls.allowed(table, operation, actor.roles):
            return
        if operation == "read":
            raise query_denied()
        raise acl_denied({"create": "Insert", "write": "Update", "delete": "Delete"}[operation])

    # --- reads ---------------------------------------------------------------------------------
    def check_table(self, table: str) -> None:
        if not self.dictionary.exists(table):
            raise invalid_table(table)

    def lookup(self, table: str, sys_id: str) -> dict[str, str] | None:
        return self.store.get(table, sys_id) if sys_id else None

    def get(self, table: str, sys_id: str, actor: Actor = SYSTEM) -> dict[str, str]:
        self.check_table(table)
        row = self.store.get(table, sys_id)
        if row is None or not self.acls.allowed(row["sys_class_name"] or table, "read", actor.roles):
            raise no_record()  # a read ACL denial looks like a missing record, as on an instance
        return row

    def query(self, table: str, encoded: str, *, limit: int, offset: int, actor: Actor = SYSTEM,
              filters: dict[str, str] | None = None, count: bool = True) -> tuple[list[dict[str, str]], int | None]:
        self.check_table(table)
        self.require(table, "read", actor)
        where, order = self.compile(table, encoded, actor, filters or {})
        rows = self.store.select(table, where, order, limit=limit, offset=offset)
        total = self.store.count(table, where) if count else None
        return rows, total

    def compile(self, table: str, encoded: str, actor: Actor,
                filters: dict[str, str]) -> tuple[Where, list[Order]]:
        ctx = QueryContext(now=self.clock.now(), user_sys_id=actor.sys_id,  # JOIN / RLQUERY tables need read
                           can_read=lambda other: self.acls.allowed(other, "read", actor.roles),
                           can_query=lambda t, f, op: self.acls.may_query(t, f, op, actor.roles))
        try:
            where, order = compile_text(encoded or "", table, self.dictionary, ctx)
        except SecretFieldQuery:
            raise query_denied() from None  # as a field the caller may not read
        except ValueError as exc:  # EncodedQueryError
            raise bad_request("Invalid query", str(exc)) from None
        parts, params = ([where.sql] if where.sql else []), list(where.params)
        for name, raw in filters.items():
            fdef = self.dictionary.field(table, name)
            if fdef is None:
                continue  # unknown name=value filters are ignored, like unknown query fields
            if fdef.secret or not self.acls.may_query(table, name, "=", actor.roles):
                raise query_denied()
            parts.append(f'"{name}" = ?')
            params.append(self.input_value(fdef, raw, display=True))
        return Where(" AND ".join(f"({p})" for p in parts), params), order

    def journal_entries(self, table: str, sys_id: str, element: str) -> list[dict[str, str]]:
        return self.history.journal_entries(table, sys_id, element)

    def user_display(self, user_name: str) -> str:
        rows = self.store.select("sys_user", Where("user_name = ?", [user_name]), limit=1,
                                 columns=["name"])
        return rows[0]["name"] if rows and rows[0]["name"] else user_name

    # --- writes -------------------------------------------------------------------------------------
    def input_value(self, fdef: FieldDef, value: Any, *, display: bool) -> str:
        text = to_text(value)
        if not display or not text:
            return text
        if fdef.choices and text not in fdef.choices:
            for key, label in fdef.choices.items():
                if label == text:
                    return key
        if fdef.type == "reference" and fdef.reference and not SYS_ID.match(text):
            shown = self.dictionary.display_field(fdef.reference)
            rows = self.store.select(fdef.reference, Where(f'"{shown}" = ?', [text]), limit=1,
                                     columns=["sys_id"])
            if rows:
                return rows[0]["sys_id"]
        return text

    def _writable(self, table: str, body: dict[str, Any], *, inserting: bool,
                  display: bool) -> tuple[dict[str, str], dict[str, str]]:
        """Split a request body into column values and journal entries; unknown fields dropped."""
        if not isinstance(body, dict):
            raise bad_request("Exception while reading request", "The payload is not a JSON object")
        fields = self.dictionary.fields(table)
        values, journals = {}, {}
        for name, raw in body.items():
            fdef = fields.get(name)
            if fdef is None or (fdef.read_only and not (inserting and name in WRITABLE_SYS_FIELDS)):
                continue
            # a str written as stored is its own text (input_value's answer, without two calls)
            text = raw if type(raw) is str and not display else self.input_value(fdef, raw, display=display)
            if fdef.type == "journal":
                if text:
                    journals[name] = text
            elif fdef.type == "password":  # one-way; "" (what a read shows) leaves it as it is
                if isinstance(raw, Hashed):
                    values[name] = str(raw)
                elif text or inserting:
                    values[name] = hash_password(text, self.settings.password_hash_iterations)
            elif fdef.type == "password2":  # the mask a read shows, written back, changes nothing
                if text != PASSWORD2_MASK:
                    values[name] = self.secrets.encrypt(text)
            else:  # as the instance's database does: cut to what the column holds
                values[name] = text[:fdef.stored_length] if fdef.stored_length else text
        if inserting and "sys_id" in values and not SYS_ID.match(values["sys_id"]):
            raise bad_request("Invalid sys_id", "sys_id must be 32 lowercase hexadecimal characters")
        return values, journals

    def insert(self, table: str, body: dict[str, Any], actor: Actor, *, display: bool = False) -> dict[str, str]:
        self.check_table(table)
        self.require(table, "create", actor)
        values, journals = self._writable(table, body, inserting=True, display=display)
        values = self.acls.writable(table, values, actor.roles, creating=True)
        journals = self.acls.writable(table, journals, actor.roles, creating=True)
        now = glide_stamp(self.clock.now())
        record = self.dictionary.blank_record(table)
        record.update(values)
        record["sys_id"] = values.get("sys_id") or self.rng.hex32()
        if table == dictionary_entries.TABLE:  # a new column, as on an instance
            dictionary_entries.add_column(self.dictionary, record)
        if self.store.exists(self.dictionary.root(table), record["sys_id"]):
            raise SnError(403, "Operation Failed", "Error during insert of " + table +
                          f" (a record with sys_id {record['sys_id']} already exists)")
        self.rules.before_insert(table, record, actor, now)
        check_acl_record(self.dictionary, table, record)
        record.update(sys_class_name=table, sys_created_on=now, sys_created_by=actor.user_name,
                      sys_updated_on=now, sys_updated_by=actor.user_name, sys_mod_count="0")
        row = self.store.insert(table, record)
        if journals:  # most inserts have none
            self.history.add_journals(table, row["sys_id"], journals, actor.user_name, now)
        self._changed(table)
        self.outbound.after_write(table, row, "insert", (k for k, v in row.items() if v), actor.user_name)
        return row

    def insert_system(self, table: str, body: dict[str, Any]) -> dict[str, str]:
        return self.insert(table, body, SYSTEM)

    def update(self, table: str, sys_id: str, body: dict[str, Any], actor: Actor, *,
               display: bool = False) -> dict[str, str]:
        old = self.get(table, sys_id, actor)
        cls = old["sys_class_name"] or table
        self.require(cls, "write", actor)
        values, journals = self._writable(cls, body, inserting=False, display=display)
        values, journals = (self.acls.writable(cls, v, actor.roles, creating=False) for v in (values, journals))
        now = glide_stamp(self.clock.now())
        record = dict(old)
        record.update(values)
        self.rules.before_update(cls, old, record, actor, now)
        check_acl_record(self.dictionary, cls, record)
        changed = {k: v for k, v in record.items() if old.get(k) != v}
        if changed or journals:
            changed.update(sys_updated_on=now, sys_updated_by=actor.user_name,
                           sys_mod_count=str(int(old["sys_mod_count"] or 0) + 1))
            self.history.audit(cls, old, changed, actor.user_name, now)
            self.store.update(cls, sys_id, changed)
            self.history.add_journals(cls, sys_id, journals, actor.user_name, now)
            self._changed(cls)
            self.outbound.after_write(cls, {**record, **changed}, "update", [*changed, *journals], actor.user_name)
        return self.get(cls, sys_id)

    def delete(self, table: str, sys_id: str, actor: Actor) -> None:
        row = self.get(table, sys_id, actor)
        self.require(row["sys_class_name"] or table, "delete", actor)
        self.store.delete(table, sys_id)
        self.history.audit(row["sys_class_name"] or table, row, {"sys_id": "DELETED"}, actor.user_name,
                           glide_stamp(self.clock.now()))
        self._changed(table)
        self.outbound.after_write(row["sys_class_name"] or table, row, "delete", [], actor.user_name)

    def _changed(self, table: str) -> None:
        if table in ("sys_user", "sys_user_has_role", "sys_user_role"):
            self.identities.forget()
        if table == "sys_rate_limit_rules":
            self.rate_limits.load(self.store.select("sys_rate_limit_rules"))
        if table == ACL_TABLE and not self._seeding:  # reset reads them once, after seeding
            self._load_acls()
        if table == OUTBOUND_TABLE:
            self.outbound.reload()
        self.notifier.notify()

    # --- fixtures -------------------------------------------------------------------------------
    def restored(self) -> None:
        """After the store was replaced whole (a snapshot): what was derived from it is read again."""
        self.identities.forget()
        self.rate_limits.load(self.store.select("sys_rate_limit_rules"))
        self._load_acls()
        self.outbound.reload()
        self.numbers.next.clear()
        self._resync_counters()
        self._reseed_after_restore()
        self.notifier.notify()

    def render(self, table: str, row: dict[str, str], actor: Actor = SYSTEM, **opts: Any) -> dict[str, Any]:
        """The record as the Table API shows it to `actor`: dot-walks and reference display values
        that reach a table the actor may not read are left out (see records.render)."""
        options = self.acls.render_options(table, row, actor.roles, self.settings.instance_url, **opts)
        return self.renderer.record(table, row, options) if options else {}

    def render_json(self, table: str, row: dict[str, str], actor: Actor = SYSTEM, **opts: Any) -> str:
        """render()'s answer as the JSON text of a response (records.render.TO_JSON)."""
        options = self.acls.render_options(table, row, actor.roles, self.settings.instance_url, **opts)
        return self.renderer.record_json(table, row, options) if options else "{}"
