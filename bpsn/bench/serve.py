"""The servers under test: a bare FastAPI app (the baseline) and the two simulators.

`server(kind, fill)` runs one on a free loopback port, in a subprocess (its own core and GIL:
the numbers are the server's, not the client's) or, for --quick and tests, in a thread.
`python -m bpsn.bench.serve KIND PORT [FILL]` is the subprocess side.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import uvicorn
from fastapi import Body, FastAPI

from bpsn.base.serving import tune_gc
from bpsn.load.processes import free_port

from .data import fill_incidents

Kind = Literal["bare", "servicenow", "bigpanda"]
HOST = "127.0.0.1"
READY_PATH = {"bare": "/bare/item/ready", "servicenow": "/_sim/health", "bigpanda": "/_sim/health"}


def bare_app() -> FastAPI:
    """The baseline: the same framework and server, no work behind the routes."""
    app = FastAPI()

    @app.get("/bare/item/{item_id}")
    async def get_item(item_id: str) -> dict[str, Any]:
        return {"result": {"sys_id": item_id, "number": "INC0010001", "active": "true"}}

    @app.post("/bare/item", status_code=201)
    async def post_item(body: dict[str, Any]) -> dict[str, Any]:
        return {"result": {"sys_id": "0" * 32, "fields": len(body)}}

    @app.post("/data/v2/alerts", status_code=201)
    async def post_alerts(body: Any = Body(...)) -> dict[str, Any]:
        return {"status": "created", "alerts": len(body.get("alerts", [])) if isinstance(body, dict) else 1}

    return app


def build_app(kind: Kind, fill: int = 0) -> FastAPI:
    if kind == "bare":
        return bare_app()
    if kind == "servicenow":
        from bpsn.simulator.servicenow.app import create_app
        from bpsn.simulator.servicenow.backend import ServiceNowBackend
        from bpsn.simulator.servicenow.settings import ServiceNowSettings
        sn = ServiceNowBackend(ServiceNowSettings(journal_max_entries=1_000))
        fill_incidents(sn, fill)
        return create_app(sn)
    from bpsn.simulator.bigpanda.app import create_app as create_bp
    from bpsn.simulator.bigpanda.backend import BigPandaBackend
    from bpsn.simulator.bigpanda.settings import BigPandaSettings
    bp = BigPandaBackend(BigPandaSettings(journal_max_entries=1_000))
    disable_rate_limits(bp)
    return create_bp(bp)


def disable_rate_limits(backend: Any) -> None:
    """The 5 requests/s per token limit would measure the limiter, not the simulator."""
    for org in backend.orgs.values():
        limits = getattr(org, "rate_limits", None)
        if limits is not None and hasattr(limits, "enabled"):
            limits.enabled = False


def _config(app: FastAPI, port: int, tls: tuple[str, str] | None = None) -> uvicorn.Config:
    files = {"ssl_certfile": tls[0], "ssl_keyfile": tls[1]} if tls else {}
    return uvicorn.Config(app, host=HOST, port=port, log_level="warning", access_log=False, lifespan="off", **files)


def _wait_ready(url: str, alive: Any, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"the server for {url} stopped during start-up")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2, verify=False).status_code == 200:  # a test's self-signed certificate
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout:.0f} s")


@dataclass(frozen=True)
class Served:
    url: str
    pid: int | None = None  # the server's own process, when it has one (its CPU time is read)


@contextlib.contextmanager
def threaded(app: FastAPI, ready_path: str = "/_sim/health", *, port: int | None = None,
             tls: tuple[str, str] | None = None) -> Iterator[str]:
    """Serve an app from a thread of this process (shares the GIL with the client), over HTTPS
    with tls = (certfile, keyfile); until the block ends."""
    port = port or free_port(HOST)
    base = f"{'https' if tls else 'http'}://{HOST}:{port}"
    srv = uvicorn.Server(_config(app, port, tls))
    thread = threading.Thread(target=srv.run, daemon=True, name=f"bench-{port}")
    thread.start()
    try:
        _wait_ready(base + ready_path, thread.is_alive)
        yield base
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@contextlib.contextmanager
def server(kind: Kind, fill: int = 0, *, inproc: bool = False, tree: str | None = None) -> Iterator[Served]:
    """A running server of that kind (with `fill` incidents for servicenow); with `tree`, the
    bpsn of that source tree (another commit, unpacked), run from there, instead of this one."""
    if inproc and tree is not None:
        raise ValueError("another source tree runs in its own process: inproc and tree do not combine")
    if inproc:
        with threaded(build_app(kind, fill), READY_PATH[kind]) as base:
            yield Served(base)
        return
    port = free_port(HOST)
    base = f"http://{HOST}:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "bpsn.bench.serve", kind, str(port), str(fill)],
                            cwd=tree)  # `-m` puts the working directory first on sys.path
    try:
        _wait_ready(base + READY_PATH[kind], lambda: proc.poll() is None)
        yield Served(base, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv: list[str]) -> None:
    kind, port, fill = argv[0], int(argv[1]), int(argv[2]) if len(argv) > 2 else 0
    if kind not in READY_PATH:
        raise SystemExit(f"unknown server kind {kind!r}")
    app = build_app(kind, fill)
    tune_gc()  # as `bpsn sim` and `bpsn up` do
    uvicorn.Server(_config(app, port)).run()  # type: ignore[arg-type]


if __name__ == "__main__":
    main(sys.argv[1:])
