"""password2 fields at rest: encrypted under the instance's key, and never returned in clear.

The key: the `encryption_key` setting (BPSN_SN_ENCRYPTION_KEY) when one is given, else 32 random
bytes from `secrets` drawn when the instance starts. There is no built-in key, so a value copied
out of a snapshot or state file cannot be decrypted with anything shipped in this package; the
flip side is that without a configured key, values encrypted by an earlier process cannot be
decrypted by a later one (no API returns them anyway).

Reads, our choice (the reference does not say what the Table API returns): a set value is shown
as the mask "********" (records.render.PASSWORD2_MASK) and an empty one as "", as the raw value
and as the display value, in every API. Writing the mask back (a client that PUTs a record it
has read) leaves the stored value as it was; any other value is encrypted as it comes, even one
that looks encrypted already.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

from cryptography.fernet import Fernet, InvalidToken

PREFIX = "enc:"


class Password2:
    def __init__(self, key_material: str | None = None) -> None:
        material = key_material.encode("utf-8") if key_material else secrets.token_bytes(32)
        # SHA-256 turns key material of any length into Fernet's 32-byte key.
        self._fernet = Fernet(base64.urlsafe_b64encode(hashlib.sha256(material).digest()))

    def encrypt(self, clear: str) -> str:
        return PREFIX + self._fernet.encrypt(clear.encode("utf-8")).decode("ascii") if clear else ""

    def decrypt(self, stored: str) -> str:
        """For the instance's own use only: no route calls this."""
        if not stored.startswith(PREFIX):
            return ""
        try:
            return self._fernet.decrypt(stored[len(PREFIX):].encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            return ""
