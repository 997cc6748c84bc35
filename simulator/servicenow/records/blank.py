"""Blank records: a new dict of names, each "", copied from one kept per key for as long as the
names come as the same object (a field map or a column order, replaced whenever it changes).
Copying costs a tenth of building it, and a record insert makes one or two."""

from __future__ import annotations

from collections.abc import Collection


class BlankDicts:
    def __init__(self) -> None:
        self._kept: dict[str, tuple[Collection[str], dict[str, str]]] = {}

    def of(self, key: str, names: Collection[str]) -> dict[str, str]:
        """dict.fromkeys(names, ""), a new dict."""
        known = self._kept.get(key)
        if known is None or known[0] is not names:
            known = self._kept[key] = (names, dict.fromkeys(names, ""))
        return known[1].copy()
