"""What every measurement shares: sizes, medians, timers, an HTTP load driver, machine facts."""

from __future__ import annotations

import asyncio
import gc
import os
import platform
import sqlite3
import statistics
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from typing import Any, TypeVar

import httpx

# (method, path, httpx keyword arguments)
Request = tuple[str, str, dict[str, Any]]
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Sizes:
    quick: bool = False
    repeats: int = 3  # every figure is the median of this many runs (HTTP) or of many calls
    http_requests: int = 500
    concurrency: int = 12
    bp_batches: int = 120  # batches of 100 alerts per repetition
    small: int = 1_000
    large: int = 100_000
    lookup_reps: int = 400  # in-process calls per operation, fewer once `budget` s are spent
    page_reps: int = 15
    http_query_reps: int = 25
    budget: float = 2.5  # seconds per operation and table size, at most (after >= 1 call a round)
    bp_new: int = 2_000
    bp_updates: int = 2_000
    bp_shared_large: int = 10_000  # the correlated-incident case grows quadratically to fill
    inproc_servers: bool = False

    @classmethod
    def tiny(cls) -> Sizes:
        return cls(quick=True, repeats=1, http_requests=20, concurrency=2, bp_batches=3, small=100,
                   large=300, lookup_reps=10, page_reps=3, http_query_reps=3,
                   bp_new=30, bp_updates=30, bp_shared_large=300, budget=0.2, inproc_servers=True)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b else float("inf")


def time_calls(fn: Callable[[int], object], reps: int, budget: float = float("inf"),
               min_reps: int = 3) -> list[float]:
    """Seconds per call of fn(i), i = 0, 1, ...: reps calls, or fewer (>= min_reps) once
    `budget` seconds are spent. One timer around each call."""
    gc.collect()
    out: list[float] = []
    spent = 0.0
    for i in range(reps):
        if spent > budget and len(out) >= min_reps:
            break
        t = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t)
        spent += out[-1]
    return out


def interleaved(fns: dict[K, Callable[[int], object]], reps: int, rounds: int,
                budget: float = float("inf")) -> dict[K, list[float]]:
    """time_calls for each function, in `rounds` alternating rounds of ceil(reps/rounds) calls
    (fn(i), i counting on across rounds), so a slow spell of the machine hits every case alike."""
    per = -(-reps // rounds)
    out: dict[K, list[float]] = {k: [] for k in fns}
    for r in range(rounds):
        for k, fn in fns.items():
            out[k] += time_calls(lambda i, fn=fn, r=r: fn(r * per + i), per, budget / rounds, min_reps=1)  # type: ignore[misc]
    return out


def warmup_count(n: int, concurrency: int) -> int:
    return max(concurrency * 3, n // 20)


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of a process, from /proc/PID/stat (Linux), else None."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Rate:
    per_s: float
    server_cpu_s: float | None  # the server process's CPU seconds per request, when it has its own


def request_rate(base: str, make: Callable[[int], Request], n: int, concurrency: int,
                 start: int = 0, pid: int | None = None) -> Rate:
    """n requests make(i), `concurrency` in flight (one keep-alive connection each), after an
    untimed warm-up; i runs from start to start + warmup_count(n, concurrency) + n."""
    return asyncio.run(_rate(base, make, n, concurrency, start, pid))


async def _rate(base: str, make: Callable[[int], Request], n: int, concurrency: int, start: int,
                pid: int | None) -> Rate:
    # One client per worker: httpx's shared pool gets slower as connections are added.
    one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients = [httpx.AsyncClient(base_url=base, limits=one, timeout=300) for _ in range(concurrency)]
    try:
        async def run(indices: range) -> None:
            it = iter(indices)

            async def worker(client: httpx.AsyncClient) -> None:
                for i in it:  # one iterator shared by the workers: each index is sent once
                    method, path, kwargs = make(i)
                    resp = await client.request(method, path, **kwargs)
                    if resp.status_code >= 300:
                        raise RuntimeError(f"{method} {path}: {resp.status_code} {resp.text[:300]}")

            await asyncio.gather(*(worker(c) for c in clients))

        warm = warmup_count(n, concurrency)  # open the connections, warm the server's caches
        await run(range(start, start + warm))
        cpu, t = cpu_seconds(pid), time.perf_counter()
        await run(range(start + warm, start + warm + n))
        elapsed, cpu_after = time.perf_counter() - t, cpu_seconds(pid)
    finally:
        for c in clients:
            await c.aclose()
    per_request = None if cpu is None or cpu_after is None else (cpu_after - cpu) / n
    return Rate(n / elapsed, per_request)


def rate_summary(samples: list[Rate]) -> dict[str, Any]:
    cpu = [r.server_cpu_s for r in samples if r.server_cpu_s is not None]
    return {"per_s": round(median([r.per_s for r in samples]), 1), "samples": [round(r.per_s, 1) for r in samples],
            "server_cpu_ms": round(median(cpu) * 1e3, 3) if cpu else None}


def compare(out: dict[str, Any], case: str, bare: str) -> None:
    """Throughput ratio to the bare app, and, when measured, server CPU per request ratio."""
    out[case]["ratio_to_bare"] = ratio(out[case]["per_s"], out[bare]["per_s"])
    cpu, cpu_bare = out[case]["server_cpu_ms"], out[bare]["server_cpu_ms"]
    out[case]["cpu_ratio_to_bare"] = ratio(cpu, cpu_bare) if cpu and cpu_bare else None


class Sender:
    """A synchronous client that sends one request at a time and fails on an error status."""

    def __init__(self, base: str) -> None:
        self.client = httpx.Client(base_url=base, timeout=300)

    def __call__(self, req: Request) -> httpx.Response:
        method, path, kwargs = req
        resp = self.client.request(method, path, **kwargs)
        if resp.status_code >= 300:
            raise RuntimeError(f"{method} {path}: {resp.status_code} {resp.text[:300]}")
        return resp

    def close(self) -> None:
        self.client.close()


def rss_bytes() -> int:
    """This process's resident set size, from /proc (Linux), else ru_maxrss."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def machine_facts() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    versions = {}
    for lib in ("fastapi", "starlette", "uvicorn", "httpx", "pydantic"):
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            versions[lib] = "?"
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "implementation": platform.python_implementation(), "platform": platform.platform(),
            "sqlite": sqlite3.sqlite_version, **versions}
