"""One-way passwords (`password` fields, such as sys_user.user_password): stored as a salted hash.

Stored form: ``pbkdf2_sha256$<iterations>$<salt>$<digest>`` (salt and digest in URL-safe base64),
PBKDF2-HMAC-SHA256 from hashlib with a fresh 16-byte salt from `secrets` for every password set.
The iteration count is a setting (BPSN_SN_PASSWORD_HASH_ITERATIONS) and is kept with each hash,
so changing the setting locks nobody out. An empty password stays empty: that user cannot log in.

Two in-memory caches keep a test run fast without storing anything weaker:
* a successful check is remembered as an HMAC of the password under a random per-process key,
  so a client that sends basic auth on every request pays the hash once; only successes are
  remembered, so a wrong password always costs a full hash;
* the demo users' hashes are made once per process (per user name, password and iteration
  count) and reused by every instance the process starts or resets. Each user still has a salt
  of their own; the hashes are never readable through any API.
* the demo users' shipped passwords (public: the README gives them) at the default iteration
  count have their hashes here, made once with `hash_password` (SHIPPED_DEMO_HASHES), and count as
  checked: a `bpsn` process starting a ServiceNow simulator with the shipped demo users pays no
  PBKDF2 at all, where it paid four hashes at start and one per demo user at their first login
  (about a third of its start-up CPU). Any other password, user name or count is hashed as above.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict

SCHEME = "pbkdf2_sha256"
SALT_BYTES = 16
MAX_ITERATIONS = 10_000_000  # a tampered state file must not stall the server on one check
_VERIFIED_MAX = 4096  # remembered successes; the oldest go first

_PROCESS_KEY = secrets.token_bytes(32)
_lock = threading.Lock()
_verified: OrderedDict[str, bytes] = OrderedDict()  # stored hash -> HMAC of the password that matched
# (user name, password, iterations) -> its hash; tests/servicenow/test_passwords_shipped.py checks them
SHIPPED_DEMO_HASHES: dict[tuple[str, str, int], str] = {
    ("admin", "admin", 100_000):
        "pbkdf2_sha256$100000$e3T9Aq1Aw4uhwO5mbk3BMw$roRWhgssWusfb1swoANND4AUVtPH4SDL4Fbcq4ETpZ4",
    ("bigpanda.integration", "bigpanda", 100_000):
        "pbkdf2_sha256$100000$S2KLL_D2zlcm3pufKuVDhg$6Jf0L15UZKoxC_EnHGP5iDXz_Fr9nFXBpm34qnyJRnE",
    ("noc.analyst", "analyst", 100_000):
        "pbkdf2_sha256$100000$j5ycPnKiyY2fyQhg8K1C6g$7aUp8T3WYjGAdR5OFK9ETQrfJeBF_oRyZ43jDwdNuwo",
    ("bigpanda.admin", "bigpanda-admin", 100_000):
        "pbkdf2_sha256$100000$sBGkYxTiHIA7MI8qAcVT5Q$ff8ZAKAQ5uExvvLu1bX3t7sC5NHCGSH179l5_IngkQY",
}
_demo_hashes: dict[tuple[str, str, int], str] = dict(SHIPPED_DEMO_HASHES)


class Hashed(str):
    """A value this module hashed. The backend stores it as is; a request body never holds one."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _derive(clear: str, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", clear.encode("utf-8"), salt, iterations)


def hash_password(clear: str, iterations: int) -> Hashed:
    if not clear:
        return Hashed("")
    salt = secrets.token_bytes(SALT_BYTES)
    return Hashed(f"{SCHEME}${iterations}${_b64(salt)}${_b64(_derive(clear, salt, iterations))}")


def demo_hash(user_name: str, clear: str, iterations: int) -> Hashed:
    """The hash of a seeded demo user's password, made once per process (see the module doc)."""
    key = (user_name, clear, iterations)
    with _lock:
        known = _demo_hashes.get(key)
    if known is None:
        known = hash_password(clear, iterations)
        with _lock:
            known = _demo_hashes.setdefault(key, known)
    return Hashed(known)


_DECOY = secrets.token_urlsafe(32)


def decoy_hash(iterations: int) -> Hashed:
    """A hash no password matches, checked for unknown user names so that the time a failed
    login takes does not tell whether the user exists (made once per process)."""
    return demo_hash("\x00decoy", _DECOY, iterations)


def is_hashed(stored: str) -> bool:
    return stored.startswith(SCHEME + "$")


def _tag(clear: str) -> bytes:
    return hmac.digest(_PROCESS_KEY, clear.encode("utf-8"), "sha256")  # one-shot: no HMAC object per request


_verified.update((stored, _tag(clear)) for (_, clear, _), stored in SHIPPED_DEMO_HASHES.items())


def remembered(clear: str, stored: str) -> bool:
    """A check that needs no hash: `clear` matched `stored` before in this process."""
    if not clear or not is_hashed(stored):
        return False
    with _lock:
        known = _verified.get(stored)
    return known is not None and hmac.compare_digest(known, _tag(clear))


def verify_password(clear: str, stored: str) -> bool:
    """True when `clear` is the password `stored` was made from; never true for an empty one."""
    if not clear or not is_hashed(stored):
        return False  # no password set, or a value from before passwords were hashed
    tag = _tag(clear)
    with _lock:
        remembered = _verified.get(stored)
    if remembered is not None and hmac.compare_digest(remembered, tag):
        return True
    try:
        _, rounds, salt, digest = stored.split("$")
        iterations = int(rounds)
        if not 1 <= iterations <= MAX_ITERATIONS:
            return False
        ok = hmac.compare_digest(_derive(clear, _unb64(salt), iterations), _unb64(digest))
    except (ValueError, binascii.Error):
        return False
    if ok:
        with _lock:
            _verified[stored] = tag
            _verified.move_to_end(stored)
            while len(_verified) > _VERIFIED_MAX:
                _verified.popitem(last=False)
    return ok
