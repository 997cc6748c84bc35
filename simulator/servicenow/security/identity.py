"""Who is calling: users by name with their roles (contained roles included), password checks
that hold up neither the event loop nor tell whether a name exists, and the failed-login throttle."""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Callable

from bpsn.simulator.servicenow.records.business_rules import Actor
from bpsn.simulator.servicenow.records.store import Store, Where

from .logins import LoginThrottle
from .passwords import decoy_hash, remembered, verify_password

MAX_HEADERS = 4096  # headers remembered; the oldest go first


def _digest(header: str) -> bytes:
    return hashlib.sha256(header.encode("utf-8", "surrogateescape")).digest()


class Identities:
    def __init__(self, store: Store, logins: LoginThrottle, now: Callable[[], float], hash_iterations: int) -> None:
        self._store, self.logins, self._now, self._iterations = store, logins, now, hash_iterations
        self._cache: dict[str, tuple[Actor, str]] = {}  # user_name -> (actor, password hash)
        # SHA-256 of an Authorization header that logged in -> (user name, the password hash it
        # matched): the header holds the password, so only its digest is kept
        self._headers: OrderedDict[bytes, tuple[str, str]] = OrderedDict()

    def known_header(self, header: str) -> Actor | None:
        """The user a basic-auth header logged in as before, when authenticate() would let them in
        again now: the name is not locked by failed logins, the user is active with the same
        password hash (a password change, a deactivation or new roles show at once: forget()).
        None: check the header in full."""
        key = _digest(header)
        known = self._headers.get(key)
        if known is None:
            return None
        user_name, stored = known
        if self.logins.refused(user_name, self._now()):
            return None
        actor = self.actor_for(user_name)
        if actor is None or self._cache[user_name][1] != stored:
            del self._headers[key]
            return None
        self.logins.succeeded(user_name)  # as authenticate() does on a success
        return actor

    def forget(self) -> None:
        """Users, roles or passwords changed (or the store was replaced): read them again."""
        self._cache.clear()
        self._headers.clear()  # checked in full again (a remembered success costs no hash)

    def actor_for(self, user_name: str) -> Actor | None:
        """The active user of that name, with their roles (contained roles included)."""
        cached = self._cache.get(user_name)
        if cached is None:
            rows = self._store.select("sys_user", Where("user_name = ?", [user_name]), limit=1)
            if not rows or rows[0]["active"] != "true" or rows[0]["locked_out"] == "true":
                return None
            row = rows[0]
            cached = (Actor(row["user_name"], row["sys_id"], self.roles_of(row["sys_id"])), row["user_password"])
            self._cache[user_name] = cached
        return cached[0]

    async def authenticate(self, user_name: str, password: str, header: str | None = None) -> Actor | None:
        """Basic auth and the OAuth password grant: the user, unless the password is wrong or the
        name has failed too often lately (then the password is not even checked; see logins).
        A hash is computed in a worker thread: a wrong password never holds up the event loop.
        An unknown name costs a hash too, so the time taken does not tell whether a user exists.
        `header`: the Authorization header the credentials came in, remembered on a success with
        the hash it matched (not one a concurrent change put in its place: see known_header)."""
        now = self._now()
        if self.logins.refused(user_name, now):
            return None
        actor = self.actor_for(user_name)
        stored = self._cache[user_name][1] if actor is not None else decoy_hash(self._iterations)
        if remembered(password, stored) or await asyncio.to_thread(verify_password, password, stored):
            if actor is not None:
                self.logins.succeeded(user_name)
                if header is not None:
                    self._headers[_digest(header)] = (user_name, stored)
                    while len(self._headers) > MAX_HEADERS:
                        self._headers.popitem(last=False)
                return actor
        self.logins.failed(user_name, now)
        return None

    def login_refused(self, user_name: str) -> bool:
        """Whether that name is locked out by failed logins right now (for the request journal)."""
        return self.logins.refused(user_name, self._now())

    def roles_of(self, user_sys_id: str) -> frozenset[str]:
        rows = self._store.execute(
            'SELECT r.name AS name, r.contains_roles AS contains FROM "sys_user_has_role" h '
            'JOIN "sys_user_role" r ON r.sys_id = h.role WHERE h.user = ? AND h.state = ?',
            [user_sys_id, "active"])
        roles = set()
        for r in rows:
            roles.add(r["name"])
            roles.update(x for x in r["contains"].split(",") if x)
        return frozenset(roles)
