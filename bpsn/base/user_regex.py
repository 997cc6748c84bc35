"""Regular expressions and wildcards that users write: fault-rule paths, maintenance-plan
conditions, transform rules. All are compiled by RE2 (google-re2), which matches in time linear
in the text, so no pattern can hold the event loop the way `^/(a+)+$` did with Python's `re`.

RE2 takes Python's syntax except what needs backtracking: backreferences (`\\1`, `(?P=name)`),
lookahead and lookbehind, atomic groups and possessive quantifiers, conditionals. A pattern it
refuses, or one over MAX_PATTERN characters, raises UserPatternError (a `re.error`, so callers
that already catch `re.error` answer it the same way); its message names the pattern and why.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

import re2

MAX_PATTERN = 1000  # characters; real rules are a few dozen
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a refused pattern is the caller's 400, not a line on stderr


class UserPattern(Protocol):
    """What callers use of a compiled pattern (RE2's object has the same methods as re's)."""

    pattern: str

    def search(self, text: str) -> Any: ...
    def fullmatch(self, text: str) -> Any: ...


class UserPatternError(re.error):
    def __init__(self, pattern: str, reason: str) -> None:
        super().__init__(f"{_shown(pattern)} cannot be used: {reason}")
        self.pattern, self.reason = pattern, reason


def _shown(pattern: str) -> str:
    return repr(pattern if len(pattern) <= 80 else pattern[:77] + "...")


def compile_pattern(pattern: str, *, ignore_case: bool = False, dot_all: bool = False,
                    max_length: int = MAX_PATTERN) -> UserPattern:
    """A linear-time compiled pattern with Python-like search/fullmatch, or UserPatternError."""
    if not isinstance(pattern, str):
        raise UserPatternError(str(pattern), "a pattern must be text")
    if len(pattern) > max_length:
        raise UserPatternError(pattern, f"it is {len(pattern)} characters; at most {max_length} are allowed")
    flags = ("i" if ignore_case else "") + ("s" if dot_all else "")
    try:
        return re2.compile(f"(?{flags}){pattern}" if flags else pattern, _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "not a valid regular expression"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise UserPatternError(pattern, f"{reason} (patterns run on RE2: no backreferences or "
                                        "lookaround)") from None


def compile_glob(value: str, *, ignore_case: bool = False) -> UserPattern:
    """`*` matches any run of characters (newlines too); everything else is literal. Through RE2,
    since `a*a*a*...b` turned into a backtracking regex took seconds on 30 characters."""
    try:  # literal text compiles to a small program however long it is: no length limit here
        return compile_pattern(".*".join(re2.escape(part) for part in value.split("*")),
                               ignore_case=ignore_case, dot_all=True, max_length=len(value) * 4 + 16)
    except UserPatternError as exc:  # name the wildcard as written, not its translation
        raise UserPatternError(value, exc.reason) from None
