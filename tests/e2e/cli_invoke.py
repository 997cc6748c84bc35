"""typer's CliRunner.invoke, on the app's click command built once per test process.

typer's CliRunner builds the whole click command tree of the app it is given on every invoke
(each command's signature, type hints and options: ~28 ms of CPU for `bpsn`, three quarters of a
refusal's cost), and the e2e tests invoke the same app dozens of times. The tree is what the
console script builds (`app()` -> `typer.main.get_command`), and click commands are made to be
invoked again; typer's CliRunner is click's CliRunner given that tree, so this is the same invoke.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import click
import click.testing
import typer
import typer.main


@functools.cache
def _command(app: typer.Typer) -> click.Command:
    return typer.main.get_command(app)


def invoke(app: typer.Typer, args: Sequence[str], **kwargs: Any) -> click.testing.Result:
    """`typer.testing.CliRunner().invoke(app, args, **kwargs)`, on the command built once for `app`."""
    return click.testing.CliRunner().invoke(_command(app), list(args), **kwargs)
