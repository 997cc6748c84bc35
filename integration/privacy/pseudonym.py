"""Keyed pseudonyms and redaction markers for personal data.

A pseudonym is an HMAC-SHA256 of the normalised value under a secret key, so the same
person always maps to the same pseudonym (tickets stay groupable by caller, alerts by
owner) and nobody without the key can turn a pseudonym back into the person, nor confirm
a guess. The key comes from `BPSN_PRIVACY_KEY`; without it the documented development key
`DEV_KEY` is used and `Pseudonymiser.default_key` says so (the CLI warns). Rotating the key
changes every pseudonym.

Pseudonyms keep the shape of what they replace where a system checks it: an email stays an
address (in the reserved `.invalid` domain), an IP address stays an address (in the IPv6
documentation prefix 2001:db8::/32). Values that already are pseudonyms or redaction
markers are left alone, so cleaning twice changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
from dataclasses import dataclass

KEY_ENV = "BPSN_PRIVACY_KEY"
DEV_KEY = "bpsn-dev-privacy-key"  # development only: anyone reading this file can recompute pseudonyms
EMAIL_DOMAIN = "pseudonym.invalid"
IP_PREFIX = ipaddress.IPv6Network("2001:db8::/32")
KINDS = ("email", "name", "phone", "ip", "user")

_PSEUDONYM = re.compile(r"^(?:p-[0-9a-f]{16}@pseudonym\.invalid|(?:person|phone|user)-[0-9a-f]{12})$")
_REDACTED = re.compile(r"^\[redacted (?:email|name|phone|ip|user)\]$")


def normalise(kind: str, value: str) -> str:
    """One spelling per person: case, spacing and phone punctuation do not make a new pseudonym."""
    text = value.strip()
    if kind in ("email", "user"):
        return text.lower()
    if kind == "name":
        return " ".join(text.split()).casefold()
    if kind == "phone":
        return ("+" if text.startswith("+") else "") + re.sub(r"\D", "", text)
    if kind == "ip":
        try:
            return str(ipaddress.ip_address(text))
        except ValueError:
            return text.lower()
    raise ValueError(f"unknown kind of personal data {kind!r}; expected one of {', '.join(KINDS)}")


def redaction(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown kind of personal data {kind!r}; expected one of {', '.join(KINDS)}")
    return f"[redacted {kind}]"


def is_masked(value: str) -> bool:
    """A pseudonym or a redaction marker already: nothing personal left to clean."""
    text = value.strip()
    if _PSEUDONYM.match(text) or _REDACTED.match(text):
        return True
    try:
        return ipaddress.ip_address(text) in IP_PREFIX
    except ValueError:
        return False


@dataclass(frozen=True)
class Pseudonymiser:
    key: bytes
    default_key: bool = False

    @classmethod
    def from_env(cls) -> Pseudonymiser:
        key = os.environ.get(KEY_ENV, "")
        return cls(key.encode(), default_key=False) if key else cls(DEV_KEY.encode(), default_key=True)

    def _digest(self, label: str, kind: str, value: str) -> str:
        message = f"{label}:{kind}:{normalise(kind, value)}".encode()
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()

    def pseudonym(self, kind: str, value: str) -> str:
        digest = self._digest("pseudonym", kind, value)
        if kind == "email":
            return f"p-{digest[:16]}@{EMAIL_DOMAIN}"
        if kind == "ip":
            return str(IP_PREFIX[int(digest[:24], 16)])  # 96 bits: the /32 has 2**96 addresses
        return f"{'person' if kind == 'name' else kind}-{digest[:12]}"

    def subject_hash(self, email: str) -> str:
        """What the audit keeps of a data subject: verifiable with the key, never the clear email."""
        return self._digest("subject", "email", email)

    def mask(self, kind: str, action: str, value: str) -> str:
        if action == "redact":
            return redaction(kind)
        if action == "pseudonymise":
            return self.pseudonym(kind, value)
        raise ValueError(f"unknown privacy action {action!r}; expected redact or pseudonymise")
