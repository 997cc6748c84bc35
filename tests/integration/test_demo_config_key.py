"""The demo passphrase's key is kept precomputed (crypto.DEMO_KEY): it must be the key PBKDF2 makes."""

from __future__ import annotations

import base64
import hashlib

from bpsn.integration.config.crypto import (
    DEMO_KEY,
    DEMO_PASSPHRASE,
    KDF_ITERATIONS,
    KDF_SALT,
    ConfigCipher,
    derive_key,
)


def test_the_demo_key_is_what_pbkdf2_makes_of_the_demo_passphrase() -> None:
    raw = hashlib.pbkdf2_hmac("sha256", DEMO_PASSPHRASE.encode(), KDF_SALT, KDF_ITERATIONS, dklen=32)
    assert DEMO_KEY == base64.urlsafe_b64encode(raw) == derive_key(DEMO_PASSPHRASE)


def test_another_passphrase_is_still_stretched() -> None:
    other = derive_key("not the demo passphrase")
    assert other != DEMO_KEY and len(base64.urlsafe_b64decode(other)) == 32
    token = ConfigCipher("not the demo passphrase").encrypt("secret")
    assert ConfigCipher("not the demo passphrase").decrypt(token) == "secret"
