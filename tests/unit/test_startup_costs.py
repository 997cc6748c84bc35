"""What a `bpsn` process leaves out at start-up is still there when asked for.

Each check runs in a fresh interpreter: what a module imports is per process."""

from __future__ import annotations

import subprocess
import sys


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_importing_the_cli_package_leaves_the_command_for_later() -> None:
    out = _run("import sys, bpsn.cli; print('bpsn.cli.main' in sys.modules); "
               "from bpsn.cli import app; print(type(app).__name__)")
    assert out.split() == ["False", "Typer"]


def test_a_stack_without_a_core_imports_no_core() -> None:
    out = _run("import sys, bpsn.stack; print(sorted(m for m in sys.modules if m.startswith('bpsn.integration.')));"
               "print(bpsn.stack.CORE_NOTIFY_URL)")
    modules, url = out.splitlines()
    assert "factory" not in modules and "runner" not in modules
    assert url == "http://core.inprocess/api/bpsn/notifications"
