"""Every measurement, in order, with the facts needed to read and reproduce them."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bpsn.bench import bigpanda, cmdb, core_requests, fixtures, rules, servicenow

from .common import Sizes, machine_facts


def run_all(sizes: Sizes, progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    flag = " --quick" if sizes.quick else ""
    results: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": sizes.quick, "sizes": sizes.as_dict(), "machine": machine_facts(),
        "command": {"make": "make bench" if not flag else f".venv/bin/python -m bpsn.bench{flag}",
                    "direct": f"{sys.executable} -m bpsn.bench{flag}"},
    }
    t = time.perf_counter()
    results["servicenow"] = servicenow.run(sizes, progress)
    results["bigpanda"] = bigpanda.run(sizes, progress)
    results["cmdb"] = cmdb.run(sizes, progress)
    results["rules"] = rules.run(sizes, progress)
    results["core_requests"] = core_requests.run(sizes, progress)
    results["fixtures"] = fixtures.run(sizes, progress)
    results["runtime_s"] = round(time.perf_counter() - t, 1)
    return results
