"""Credentials at rest: the core encrypts them itself before they reach the instance.

The core runs outside ServiceNow, so it cannot use the instance's Password2. It stores a
Fernet token (AES-128-CBC + HMAC-SHA256, from `cryptography`) in the x_bip_panda_config
columns instead; the instance, its exports and anyone reading the table see only that.

The key comes from the environment, `BPSN_CONFIG_KEY`:

- a Fernet key (32 url-safe base64 bytes, as `Fernet.generate_key()` prints) is used as is;
- anything else is a passphrase, stretched with PBKDF2-HMAC-SHA256 (600,000 iterations, salt
  `bpsn-config-v1`; a fixed salt so every process derives the same key from the same
  passphrase) into a Fernet key.

With no `BPSN_CONFIG_KEY` the demo passphrase `DEMO_PASSPHRASE` is used. It is public: it
protects nothing and is there so the demo runs without setup. Set your own for anything real.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

KEY_ENV = "BPSN_CONFIG_KEY"
DEMO_PASSPHRASE = "bpsn-demo-config-passphrase (public, demo only)"
KDF_SALT = b"bpsn-config-v1"
KDF_ITERATIONS = 600_000
# The demo passphrase is public, so the key it stretches to is public too: kept here, a process
# without BPSN_CONFIG_KEY skips 600,000 rounds (0.1 s of CPU). tests/integration/test_demo_config_key.py
# checks it is what PBKDF2 makes of DEMO_PASSPHRASE.
DEMO_KEY = b"GgjgBUdvLfz0786pyTHcpYJ0hDCfrUo2GkY3Z1b7huE="


# What the instance shows a user whose ACLs mask a credential (x_bip_panda_user without the
# service account's itil or x_bip_panda.admin): the value reads as set, and cannot be used.
INSTANCE_MASK = "********"


class ConfigKeyError(RuntimeError):
    """A stored credential cannot be decrypted with this key (wrong BPSN_CONFIG_KEY?)."""


def _as_fernet_key(value: str) -> bytes | None:
    try:
        raw = base64.urlsafe_b64decode(value.encode())
    except (binascii.Error, ValueError):
        return None
    return value.encode() if len(raw) == 32 and len(value) == 44 else None


@functools.lru_cache(maxsize=8)
def derive_key(passphrase: str) -> bytes:
    if passphrase == DEMO_PASSPHRASE:
        return DEMO_KEY
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=KDF_SALT, iterations=KDF_ITERATIONS)
    return base64.urlsafe_b64encode(kdf.derive(passphrase.encode()))


class ConfigCipher:
    """Encrypts and decrypts credential values; never logs or returns them in an error."""

    def __init__(self, key: str | None = None) -> None:
        material = key if key is not None else os.environ.get(KEY_ENV) or DEMO_PASSPHRASE
        self._fernet = Fernet(_as_fernet_key(material) or derive_key(material))

    @classmethod
    def from_env(cls) -> ConfigCipher:
        return cls(None)

    def encrypt(self, clear: str) -> str:
        return self._fernet.encrypt(clear.encode()).decode() if clear else ""

    def decrypt(self, token: str) -> str:
        if not token or token == INSTANCE_MASK:  # masked by the instance's ACLs: set, but not ours to read
            return token
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise ConfigKeyError("a stored credential does not decrypt with this key "
                                 f"(is {KEY_ENV} the key it was saved with?)") from None
