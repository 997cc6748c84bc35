"""The `bpsn` command (console script) and `python -m bpsn.cli`."""

from __future__ import annotations

import sys


def main() -> None:
    # A bpsn process never runs under trio, yet httpcore imports trio at start-up whenever it is
    # installed (bpsn[test] brings it with selenium): 0.17 s of CPU on every `bpsn` start. None in
    # sys.modules makes that import fail at once, as if trio were absent. Only processes started as
    # the command do this: importing bpsn.cli (typer's CliRunner, a user's tests) leaves trio alone.
    sys.modules.setdefault("trio", None)  # type: ignore[arg-type]
    # Likewise httpx's own command-line client (httpx._main: click, pygments, rich.progress), which
    # `import httpx` loads when present and no bpsn command calls: httpx falls back to a stub `main`.
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    from bpsn.base.serving import quiet_gc_for_startup

    quiet_gc_for_startup()  # before the imports below: see serving.py
    from bpsn.cli.main import app

    app()


if __name__ == "__main__":
    main()
