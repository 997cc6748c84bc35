"""The BPQL subset that sharing rules, environment filters and incident search use.

    status = "critical" AND (host = "web-*" OR cluster IN ["a", "b"]) AND NOT flapping = true

Comparisons =, !=, IN, NOT IN, <, <=, >, >= (numbers); values quoted or bare, `*` as a
wildcard; AND binds tighter than OR; NOT, parentheses; `*` alone matches everything.
A field is an incident field (status, severity, active, flapping, snoozed, id), an incident
tag (`incident_tags.<name>`), or an alert tag / property, which matches if any alert has it.

Parentheses and NOTs nest at most MAX_NESTING deep (our choice; BigPanda publishes none): the
parser recurses once per level, and 400 nested parentheses ran it out of Python's stack (a 500).
A deeper query is a BpqlError, answered 400 in BigPanda's error body by every caller.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

MAX_QUERY = 2000
MAX_NESTING = 32
TOKEN = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')|(?P<op>!=|<=|>=|=|<|>|\(|\)|\[|\]|,)'
                   r'|(?P<word>[A-Za-z0-9_.*@:/-]+))')
KEYWORDS = {"AND", "OR", "NOT", "IN"}


class BpqlError(ValueError):
    pass


@dataclass(frozen=True)
class Cmp:
    field: str
    op: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class BoolOp:
    op: str  # AND | OR | NOT
    args: tuple[Node, ...]


@dataclass(frozen=True)
class All:
    pass


Node = Cmp | BoolOp | All
Lookup = Callable[[str], list[str]]  # field -> every value it has on the incident


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise BpqlError(f"BPQL: cannot read the query at position {pos}: {text[pos:pos + 20]!r}")
        kind = m.lastgroup or ""
        value = m.group(kind)
        if kind == "str":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        elif kind == "word" and value.upper() in KEYWORDS:
            kind, value = "kw", value.upper()
        out.append((kind, value))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.t, self.i, self.depth = tokens, 0, 0

    def peek(self) -> tuple[str, str]:
        return self.t[self.i] if self.i < len(self.t) else ("end", "")

    def take(self, kind: str, value: str | None = None) -> str:
        k, v = self.peek()
        if k != kind or (value is not None and v != value):
            raise BpqlError(f"BPQL: expected {value or kind} but found {v or 'the end of the query'!r}")
        self.i += 1
        return v

    def expr(self) -> Node:
        args = [self.conj()]
        while self.peek() == ("kw", "OR"):
            self.i += 1
            args.append(self.conj())
        return args[0] if len(args) == 1 else BoolOp("OR", tuple(args))

    def conj(self) -> Node:
        args = [self.unary()]
        while self.peek() == ("kw", "AND"):
            self.i += 1
            args.append(self.unary())
        return args[0] if len(args) == 1 else BoolOp("AND", tuple(args))

    def unary(self) -> Node:
        if self.peek() not in (("kw", "NOT"), ("op", "(")):
            return self.comparison()
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise BpqlError(f"BPQL: parentheses and NOT nest more than {MAX_NESTING} levels deep "
                            f"(at position {self.i} of {len(self.t)} tokens)")
        self.i += 1
        if self.t[self.i - 1] == ("kw", "NOT"):
            node: Node = BoolOp("NOT", (self.unary(),))
        else:
            node = self.expr()
            self.take("op", ")")
        self.depth -= 1
        return node

    def value(self) -> str:
        kind, v = self.peek()
        if kind not in ("str", "word"):
            raise BpqlError(f"BPQL: expected a value but found {v or 'the end of the query'!r}")
        self.i += 1
        return v

    def comparison(self) -> Node:
        field = self.take("word")
        kind, op = self.peek()
        if (kind, op) == ("kw", "NOT"):
            self.i += 1
            self.take("kw", "IN")
            return Cmp(field, "NOT IN", self.value_list())
        if (kind, op) == ("kw", "IN"):
            self.i += 1
            return Cmp(field, "IN", self.value_list())
        if kind != "op" or op not in ("=", "!=", "<", "<=", ">", ">="):
            raise BpqlError(f"BPQL: expected an operator after {field!r} but found {op or 'the end'!r}")
        self.i += 1
        value = self.value()
        if op in ("<", "<=", ">", ">="):
            try:
                float(value)
            except ValueError:
                raise BpqlError(f"BPQL: {field} {op} needs a number, not {value!r}") from None
        return Cmp(field, op, (value,))

    def value_list(self) -> tuple[str, ...]:
        close = {"(": ")", "[": "]"}.get(self.take("op"))
        if close is None:
            raise BpqlError("BPQL: IN takes a list in [ ] or ( )")
        values = [self.value()]
        while self.peek() == ("op", ","):
            self.i += 1
            values.append(self.value())
        self.take("op", close)
        return tuple(values)


@lru_cache(maxsize=512)  # sharing evaluates each environment's filter on every change
def parse(text: str) -> Node:
    if len(text) > MAX_QUERY:
        raise BpqlError(f"BPQL: the query is {len(text)} characters; at most {MAX_QUERY} are allowed")
    if not text.strip() or text.strip() == "*":
        return All()
    parser = _Parser(_tokens(text))
    node = parser.expr()
    if parser.i != len(parser.t):
        raise BpqlError(f"BPQL: unexpected {parser.t[parser.i][1]!r} after a complete condition")
    return node


def _equal(candidate: str, pattern: str) -> bool:
    if "*" in pattern:
        return fnmatch.fnmatchcase(candidate.lower(), pattern.lower())
    return candidate.lower() == pattern.lower()


def evaluate(node: Node, lookup: Lookup) -> bool:
    if isinstance(node, All):
        return True
    if isinstance(node, BoolOp):
        if node.op == "AND":
            return all(evaluate(a, lookup) for a in node.args)
        if node.op == "OR":
            return any(evaluate(a, lookup) for a in node.args)
        return not evaluate(node.args[0], lookup)
    have = lookup(node.field)
    if node.op in ("=", "IN"):
        return any(_equal(h, v) for h in have for v in node.values)
    if node.op in ("!=", "NOT IN"):
        return not any(_equal(h, v) for h in have for v in node.values)
    bound = float(node.values[0])
    numbers = [float(h) for h in have if re.fullmatch(r"-?\d+(\.\d+)?", h)]
    compare = {"<": float.__lt__, "<=": float.__le__, ">": float.__gt__, ">=": float.__ge__}[node.op]
    return any(compare(n, bound) for n in numbers)
