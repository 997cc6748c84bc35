"""Mapping-enrichment CSV uploads: BigPanda's documented rules, checked all at once.

Documented: the body ends with a newline; the header equals the map's schema; at least 2
data rows; unique rows; fields of at most 32K (32,768) characters. Our choices: UTF-8 (a
BOM is dropped); the header's names are non-empty and distinct, and include the key fields;
every row has as many fields as the header; blank lines are skipped; key fields are not
empty and no two rows share a key. Rows are numbered from 1 after the header.
"""

from __future__ import annotations

import csv
import io

MAX_FIELD_CHARS = 32 * 1024
MIN_ROWS = 2
MAX_ERRORS = 20


class CsvRejected(Exception):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors[:MAX_ERRORS] + ([f"... and {len(errors) - MAX_ERRORS} more"]
                                             if len(errors) > MAX_ERRORS else [])


def parse_csv(data: bytes, schema: list[str],
              key_fields: list[str] | None) -> tuple[list[str], list[dict[str, str]], list[str]]:
    """(header, rows, key fields) of a valid upload; CsvRejected naming every broken rule otherwise.
    Without key fields the first column is the key."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise CsvRejected([f"the CSV is not UTF-8 text ({e.reason} at byte {e.start})"]) from None
    if not text.endswith("\n"):
        raise CsvRejected(["the CSV must end with a newline"])
    try:
        lines = [row for row in csv.reader(io.StringIO(text, newline="")) if row]
    except csv.Error as e:
        raise CsvRejected([f"the CSV cannot be read ({e}); fields are at most {MAX_FIELD_CHARS} characters"]) from None
    if not lines:
        raise CsvRejected(["the CSV has no header"])
    header, body = lines[0], lines[1:]
    key_fields = key_fields or header[:1]
    errors: list[str] = []
    if any(not name.strip() for name in header):
        errors.append("the header has an empty column name")
    if len(set(header)) != len(header):
        errors.append(f"the header repeats a column: {', '.join(sorted({h for h in header if header.count(h) > 1}))}")
    if schema and header != schema:
        errors.append(f"the header ({', '.join(header)}) does not equal the map's schema ({', '.join(schema)})")
    missing = [k for k in key_fields if k not in header]
    if missing:
        errors.append(f"the header lacks the key field(s) {', '.join(missing)}")
    if len(body) < MIN_ROWS:
        errors.append(f"the CSV has {len(body)} data row(s); at least {MIN_ROWS} are required")
    if errors:
        raise CsvRejected(errors)
    rows: list[dict[str, str]] = []
    seen_rows: dict[tuple[str, ...], int] = {}
    seen_keys: dict[tuple[str, ...], int] = {}
    for n, fields in enumerate(body, start=1):
        if len(fields) != len(header):
            errors.append(f"row {n} has {len(fields)} fields; the header has {len(header)}")
            continue
        for name, value in zip(header, fields, strict=True):
            if len(value) > MAX_FIELD_CHARS:
                errors.append(f"row {n}, column {name!r}: {len(value)} characters; at most {MAX_FIELD_CHARS} "
                              "are allowed")
        row = dict(zip(header, fields, strict=True))
        if (first := seen_rows.setdefault(tuple(fields), n)) != n:
            errors.append(f"row {n} duplicates row {first}; rows must be unique")
            continue
        key = tuple(row[k] for k in key_fields)
        if any(not v for v in key):
            errors.append(f"row {n}: key field(s) {', '.join(key_fields)} must not be empty")
        elif (first := seen_keys.setdefault(key, n)) != n:
            errors.append(f"rows {first} and {n} have the same key ({', '.join(key)})")
        rows.append(row)
    if errors:
        raise CsvRejected(errors)
    return header, rows, key_fields
