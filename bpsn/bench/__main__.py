"""`python -m bpsn.bench [--quick] [--out DIR]`: run the simulator benchmarks, print, save."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console

from .common import Sizes
from .report import show, write
from .run import run_all


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bpsn.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, servers in threads: a few seconds")
    parser.add_argument("--out", type=Path, default=Path("results/bench"), help="where the JSON and Markdown go")
    args = parser.parse_args(argv)
    console = Console()
    started = time.perf_counter()
    results = run_all(Sizes.tiny() if args.quick else Sizes(),
                      lambda step: console.print(f"[dim]{time.perf_counter() - started:6.1f} s[/] {step}"))
    show(results, console)
    js, md = write(results, args.out)
    console.print(f"Wrote {js} and {md} ({results['runtime_s']:.0f} s)")


if __name__ == "__main__":
    main()
