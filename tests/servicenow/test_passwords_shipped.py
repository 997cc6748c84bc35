"""The demo users' shipped hashes (passwords.SHIPPED_DEMO_HASHES) are what PBKDF2 makes of the
shipped demo passwords, match the settings' defaults, and are used only for exactly those."""

from __future__ import annotations

import base64
import hashlib
import hmac

from bpsn.simulator.servicenow.security import passwords
from bpsn.simulator.servicenow.settings import ServiceNowSettings


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_each_shipped_hash_is_pbkdf2_of_its_password_with_a_salt_of_its_own() -> None:
    salts = set()
    for (_, clear, iterations), stored in passwords.SHIPPED_DEMO_HASHES.items():
        scheme, rounds, salt, digest = stored.split("$")
        assert (scheme, int(rounds)) == ("pbkdf2_sha256", iterations)
        raw = hashlib.pbkdf2_hmac("sha256", clear.encode(), _unb64(salt), iterations)
        assert hmac.compare_digest(raw, _unb64(digest))
        salts.add(salt)
    assert len(salts) == len(passwords.SHIPPED_DEMO_HASHES)


def test_the_shipped_hashes_are_for_the_settings_defaults() -> None:
    s = ServiceNowSettings()
    assert {(user, clear) for user, clear, _ in passwords.SHIPPED_DEMO_HASHES} == {
        ("admin", s.admin_password), (s.integration_user, s.integration_password),
        (s.analyst_user, s.analyst_password), ("bigpanda.admin", "bigpanda-admin")}
    assert {n for _, _, n in passwords.SHIPPED_DEMO_HASHES} == {s.password_hash_iterations}


def test_a_shipped_hash_serves_only_its_own_user_password_and_count() -> None:
    shipped = passwords.SHIPPED_DEMO_HASHES[("admin", "admin", 100_000)]
    assert passwords.demo_hash("admin", "admin", 100_000) == shipped
    assert passwords.verify_password("admin", shipped) and not passwords.verify_password("Admin", shipped)
    for other in (("admin", "admin", 1_000), ("admin", "changed", 100_000), ("root", "admin", 100_000)):
        made = passwords.demo_hash(*other)
        assert made != shipped and passwords.verify_password(other[1], made)
