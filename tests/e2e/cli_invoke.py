"""typer's CliRunner.invoke, on the app's click command built once per test process.

typer's CliRunner builds the whole click command tree of the app it is given on every invoke
(each command's signature, type hints and options: ~28 ms of CPU for `bpsn`, three quarters of a
refusal's cost), and the e2e tests invoke the same app dozens of times. The tree is what the
console script builds (`app()` -> `typer.main.get_command`), and click commands are made to be
invoked again; typer's CliRunner is click's CliRunner given that tree, so this is the same invoke.

On it: `as_console_script` runs `bpsn ARGS` as the console script does and answers as
subprocess.run would; `refusal` does so for a command that is to refuse, given up after a timeout.
"""

from __future__ import annotations

import contextlib
import functools
import signal
import subprocess
import threading
import traceback
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import click
import click.testing
import typer
import typer.main

from bpsn.cli.errors import PROG
from bpsn.cli.main import app as bpsn_app


@functools.cache
def _command(app: typer.Typer) -> click.Command:
    return typer.main.get_command(app)


def invoke(app: typer.Typer, args: Sequence[str], **kwargs: Any) -> click.testing.Result:
    """`typer.testing.CliRunner().invoke(app, args, **kwargs)`, on the command built once for `app`."""
    return click.testing.CliRunner().invoke(_command(app), list(args), **kwargs)


def as_console_script(args: Sequence[str], *, env: Mapping[str, str | None] | None = None,
                      input: str | None = None) -> subprocess.CompletedProcess[str]:
    """`bpsn ARGS` in this process, as the console script runs it (the root command's main, which
    ends in SystemExit): exit status, stdout and stderr apart, as subprocess.run gives them. An
    exception that escaped the root command is printed into stderr as the console script would
    print it (exit 1), so "Traceback" checks still see it."""
    result = invoke(bpsn_app, list(args), env=env, input=input, prog_name=PROG)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
        return subprocess.CompletedProcess(["bpsn", *args], 1, result.stdout, stderr)
    return subprocess.CompletedProcess(["bpsn", *args], result.exit_code, result.stdout, stderr)


class RefusalTimeout(Exception):
    """A command that was to refuse ran on instead."""


@contextlib.contextmanager
def alarm(seconds: float) -> Iterator[None]:
    """In the main thread, SIGALRM ends a command that never refuses (it would serve forever), as
    subprocess.run's timeout does for `bpsn`. Elsewhere (no signals there) the test simply waits."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def ring(_signum: int, _frame: Any) -> None:
        raise RefusalTimeout(f"no refusal within {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def refusal(*args: str, env: Mapping[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`bpsn ARGS` that is to refuse, in this process (as_console_script), given up after `timeout`."""
    with alarm(timeout):
        return as_console_script(args, env=env)
