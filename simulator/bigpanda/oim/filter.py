"""OIM `event_filter`: a small BPQL subset, parsed once when the configuration is saved.

Grammar (our choice of subset): `tag = "value"`, `tag != "value"`, joined with `AND` / `OR`
(AND binds tighter), with parentheses. Values are double- or single-quoted strings, or bare
words and numbers. A tag the event does not carry compares as the empty string. A filter is
at most 2000 characters, BigPanda's BPQL query limit. Matching events are dropped.
Parentheses nest at most MAX_NESTING deep, as in bpql.py: the parser recurses per level, and a
thousand levels would run it out of Python's stack (a 500 instead of the 400 naming the filter).
"""

from __future__ import annotations

import re
from typing import Any

MAX_FILTER_CHARS = 2000
MAX_NESTING = 32
Expr = tuple[Any, ...]  # ("cmp", tag, op, value) | ("and", (...)) | ("or", (...))

_TOKEN = re.compile(r"""(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<op>!=|=|\(|\))"""
                    r"""|(?P<word>[A-Za-z0-9_@.\-:/]+)""")


class FilterError(ValueError):
    pass


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out, pos = [], 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return out
        m = _TOKEN.match(text, pos)
        if m is None:
            raise FilterError(f"unexpected character {text[pos]!r} at position {pos}")
        kind = m.lastgroup or ""
        value = m.group(kind)
        if kind == "str":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        elif kind == "word" and value.upper() in ("AND", "OR"):
            kind, value = "bool", value.upper()
        out.append((kind, value, pos))
        pos = m.end()


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens, self.i, self.depth = _tokens(text), 0, 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str, int]:
        token = self.peek()
        if token is None:
            raise FilterError("the filter ends too early")
        self.i += 1
        return token

    def expr(self) -> Expr:
        parts = [self.term()]
        while (t := self.peek()) is not None and t[:2] == ("bool", "OR"):
            self.i += 1
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else ("or", tuple(parts))

    def term(self) -> Expr:
        parts = [self.factor()]
        while (t := self.peek()) is not None and t[:2] == ("bool", "AND"):
            self.i += 1
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else ("and", tuple(parts))

    def factor(self) -> Expr:
        kind, value, pos = self.take()
        if (kind, value) == ("op", "("):
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise FilterError(f"parentheses nest more than {MAX_NESTING} levels deep at position {pos}")
            inner = self.expr()
            if self.take()[1] != ")":
                raise FilterError(f"missing ')' for the '(' at position {pos}")
            self.depth -= 1
            return inner
        if kind != "word":
            raise FilterError(f"expected a tag name at position {pos}, found {value!r}")
        op_kind, op, op_pos = self.take()
        if op_kind != "op" or op not in ("=", "!="):
            raise FilterError(f"expected '=' or '!=' after {value!r} at position {op_pos}, found {op!r}")
        v_kind, operand, v_pos = self.take()
        if v_kind not in ("str", "word"):
            raise FilterError(f"expected a value after {op!r} at position {v_pos}, found {operand!r}")
        return ("cmp", value, op, operand)


def parse_filter(text: str) -> Expr:
    if len(text) > MAX_FILTER_CHARS:
        raise FilterError(f"it is {len(text)} characters; at most {MAX_FILTER_CHARS} are allowed")
    parser = _Parser(text)
    if not parser.tokens:
        raise FilterError("it is empty")
    expr = parser.expr()
    if (rest := parser.peek()) is not None:
        raise FilterError(f"unexpected {rest[1]!r} at position {rest[2]}")
    return expr


def filter_tags(expr: Expr) -> set[str]:
    if expr[0] == "cmp":
        return {expr[1]}
    return set().union(*(filter_tags(e) for e in expr[1]))


def matches(expr: Expr, values: dict[str, str]) -> bool:
    if expr[0] == "cmp":
        _, tag, op, operand = expr
        equal = values.get(tag, "") == operand
        return equal if op == "=" else not equal
    if expr[0] == "and":
        return all(matches(e, values) for e in expr[1])
    return any(matches(e, values) for e in expr[1])
