"""The order test files start in: files marked `slow(seconds=N)` (long runs of subprocesses and
servers) first, the longest first. Under pytest-xdist (`--dist loadfile --no-loadscope-reorder`,
as `make test` runs) each file stays on one worker and files are handed out in this order, so the
long ones start while the short ones can still fill the other worker, instead of one worker
finishing alone on them. N is only a scheduling hint: the file's wall time alone on an idle core.
"""

from __future__ import annotations

import pytest


def _start_order(item: pytest.Item) -> float:
    slow = item.get_closest_marker("slow")
    return -float(slow.kwargs.get("seconds", 1)) if slow is not None else 0.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # a stable sort: within a file, and among the files that are not slow, the collection order holds
    items.sort(key=_start_order)
