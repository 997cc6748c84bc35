"""Personal data inside free text: emails, IP addresses and phone numbers found by pattern.

Names cannot be found by pattern; they are cleaned only where a policy names the field or
tag that holds them. The patterns lean towards precision, so ordinary operational text
(timestamps, durations, version numbers with fewer than four parts, ticket numbers) is
left alone:

- email: local@domain.tld.
- ip: a dotted quad that `ipaddress` accepts (so 999.1.1.1 is not one), or an IPv6 address
  of at least three groups that `ipaddress` accepts (so a clock time such as 10:15:30 is not).
- phone: an international number (+ and 8 to 15 digits, spaces, dots, dashes, brackets
  allowed between groups) or a North American one ((555) 010-4477, 555-010-4477, 555.010.4477).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

from .pseudonym import is_masked

DETECTABLE = ("email", "ip", "phone")

_EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
_IPV4 = r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.]*\d)"
_IPV6 = r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])"
_PHONE_INTL = r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?![\w])"
_PHONE_NANP = r"(?<![\w(+.])(?:\(\d{3}\)\s?|\d{3}[ .-])\d{3}[ .-]\d{4}(?!\w)"

PATTERNS: dict[str, re.Pattern[str]] = {
    "email": re.compile(_EMAIL),
    "ip": re.compile(f"{_IPV4}|{_IPV6}"),
    "phone": re.compile(f"{_PHONE_INTL}|{_PHONE_NANP}"),
}


@dataclass(frozen=True)
class Found:
    kind: str
    start: int
    end: int


def _valid(kind: str, text: str) -> bool:
    if is_masked(text):
        return False
    if kind == "ip":
        try:
            ipaddress.ip_address(text)
        except ValueError:
            return False
        return ":" not in text or sum(1 for g in text.split(":") if g) >= 3
    if kind == "phone":
        digits = sum(ch.isdigit() for ch in text)
        return 8 <= digits <= 15 if text.startswith("+") else digits == 10
    return True


def find(text: str, kinds: tuple[str, ...] | list[str]) -> list[Found]:
    """Every piece of personal data of `kinds` in `text`, left to right, none overlapping.

    Emails are looked for first: an address such as ops@10.0.0.1.example.com is one email,
    not an email with an IP address inside."""
    unknown = [k for k in kinds if k not in PATTERNS]
    if unknown:
        raise ValueError(f"cannot detect {', '.join(unknown)} in free text; detectable: {', '.join(DETECTABLE)}")
    taken: list[Found] = []
    for kind in DETECTABLE:
        if kind not in kinds:
            continue
        for m in PATTERNS[kind].finditer(text):
            if _valid(kind, m.group()) and not any(m.start() < f.end and f.start < m.end() for f in taken):
                taken.append(Found(kind, m.start(), m.end()))
    return sorted(taken, key=lambda f: f.start)


def replace(text: str, kinds: tuple[str, ...] | list[str],
            mask: Callable[[str, str], str]) -> tuple[str, list[str]]:
    """`text` with every finding replaced by `mask(kind, value)`; and the kinds replaced, in order."""
    found = find(text, kinds)
    if not found:
        return text, []
    out, last = [], 0
    for f in found:
        out += [text[last:f.start], mask(f.kind, text[f.start:f.end])]
        last = f.end
    out.append(text[last:])
    return "".join(out), [f.kind for f in found]
