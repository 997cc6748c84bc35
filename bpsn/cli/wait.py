"""`bpsn wait`: block until both simulators say they are ready, for a CI job that starts
`bpsn up` in the background."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

console = Console()


def wait(bigpanda_url: Annotated[str, typer.Option(help="The BigPanda simulator.")] = "http://127.0.0.1:8001",
         servicenow_url: Annotated[str, typer.Option(help="The ServiceNow simulator.")] = "http://127.0.0.1:8002",
         timeout: Annotated[float, typer.Option(help="Seconds to wait at most.")] = 60.0) -> None:
    """Block until both simulators say they are ready (seeded), for CI: `bpsn up &` then `bpsn wait`."""
    import time

    import httpx

    deadline = time.monotonic() + timeout
    waiting = {"BigPanda": bigpanda_url.rstrip("/"), "ServiceNow": servicenow_url.rstrip("/")}
    # One client for every poll: httpx.get() builds a client and an SSL context per call (~30 ms of CPU).
    with httpx.Client(timeout=2) as client:
        while waiting:
            for name, url in list(waiting.items()):
                try:
                    if client.get(f"{url}/_sim/health").status_code == 200:
                        del waiting[name]
                except httpx.HTTPError:
                    pass
            if waiting and time.monotonic() > deadline:
                names = ", ".join(f"{n} at {u}" for n, u in waiting.items())
                sys.stderr.write(f"bpsn wait: {names} not ready after {timeout:g} s\n")
                raise typer.Exit(1)
            if waiting:
                time.sleep(0.2)
    console.print(f"ready: BigPanda {bigpanda_url}, ServiceNow {servicenow_url}")
