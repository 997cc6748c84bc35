"""One line on stderr, and exit 2, for what the operator got wrong: a flag, a port, an environment value.

Click's usage box and a traceback through uvicorn or pydantic run to dozens of lines and name a
Python field; the operator needs the flag or the variable and what is wrong with it.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from .helptext import FullSummaries

if TYPE_CHECKING:
    from pydantic import ValidationError
    from pydantic_settings import BaseSettings

try:  # typer vendors click; only the current context (for the command's name) is not public
    from typer._click.globals import get_current_context
except ImportError:  # pragma: no cover - a typer without the vendored click
    def get_current_context(silent: bool = True) -> Any:
        return None

PROG = "bpsn"
PORT_RANGE: dict[str, int] = {"min": 0, "max": 65535}  # typer.Option(**PORT_RANGE): click names flag and range


class OneLineErrors(FullSummaries):
    """The root command: usage errors and bad settings end as one line on stderr, not a box or a traceback."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.TyperException as exc:  # click's UsageError, BadParameter, ...
            _exit_with(exc)
        except typer.Abort:
            typer.echo("Aborted!", err=True)
            sys.exit(1)
        except Exception as exc:
            problem = settings_problem(exc) if _is_validation_error(exc) else None
            if problem is None:
                raise
            say(PROG, problem)
            sys.exit(2)
        sys.exit(code if isinstance(code, int) else 0)


def _exit_with(exc: typer.TyperException) -> NoReturn:
    if type(exc).__name__ == "NoArgsIsHelpError":  # `bpsn sim` alone: the help, as before
        typer.echo(exc.format_message())
        sys.exit(exc.exit_code)
    ctx = getattr(exc, "ctx", None)
    _name_the_variable(exc, ctx)
    say(ctx.command_path if ctx is not None else PROG, exc.format_message())
    sys.exit(exc.exit_code)


def _name_the_variable(exc: typer.TyperException, ctx: Any) -> None:
    """A bad value read from an option's environment variable (`envvar=`): the error names the
    variable, which is what the operator set, not the flag they never typed."""
    param = getattr(exc, "param", None)
    if ctx is None or param is None or getattr(exc, "param_hint", None) is not None:
        return
    try:
        from typer._click.core import ParameterSource
    except ImportError:  # pragma: no cover - a typer that uses click itself
        from click.core import ParameterSource
    if param.name and ctx.get_parameter_source(param.name) == ParameterSource.ENVIRONMENT:
        raw, variable = param.resolve_envvar_value(ctx), param.envvar
        if isinstance(variable, str):  # only options that are not secrets read a variable through click
            exc.param_hint = f"{variable}={raw!r}"  # type: ignore[attr-defined]


def say(command: str, message: str) -> None:
    """`bpsn up: error: ...` on one line, whatever the message held."""
    typer.echo(f"{command}: error: {' '.join(message.split())}", err=True)


def bad_flag(flag: str, message: str) -> typer.BadParameter:
    """Raise it: `Invalid value for '--port': ...`, exit 2."""
    return typer.BadParameter(message, ctx=get_current_context(silent=True), param_hint=f"'{flag}'")


def positive(value: float | None) -> float | None:
    """An option callback: seconds must be a finite number above 0."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise typer.BadParameter(f"{value:g} is not a number of seconds above 0")
    return value


def settings_problem(exc: ValidationError) -> str | None:
    """The environment variables behind a settings class's ValidationError; None for any other model."""
    cls = _settings_class(exc.title)
    if cls is None:
        return None
    prefix = str(cls.model_config.get("env_prefix") or "")
    return "; ".join(_describe(cls, prefix, error) for error in exc.errors())


def is_settings_error(exc: BaseException) -> bool:
    """A bad BPSN_* value (a ValueError too): leave it to the root command's one line."""
    return _is_validation_error(exc) and _settings_class(exc.title) is not None  # type: ignore[attr-defined]


def _is_validation_error(exc: BaseException) -> bool:
    # Whatever raised a ValidationError has imported pydantic: this module never imports it itself,
    # so the commands that use no settings (help, usage errors) start without it.
    core = sys.modules.get("pydantic_core")
    return core is not None and isinstance(exc, core.ValidationError)


def _settings_class(name: str) -> type[BaseSettings] | None:
    from pydantic_settings import BaseSettings

    pending: list[type[BaseSettings]] = list(BaseSettings.__subclasses__())
    while pending:
        cls = pending.pop()
        if cls.__name__ == name:
            return cls
        pending.extend(cls.__subclasses__())
    return None


def _describe(cls: type[BaseSettings], prefix: str, error: Any) -> str:
    field = str(error["loc"][0]) if error["loc"] else ""
    name = (prefix + field).upper()
    value = next((v for k, v in os.environ.items() if k.upper() == name), None)
    if value is None or _secret(cls, field):
        return f"{name}: {error['msg']}"
    return f"{name}={value!r}: {error['msg']}"


def _secret(cls: type[BaseSettings], field: str) -> bool:
    info = cls.model_fields.get(field)
    kind = str(info.annotation) if info is not None else ""
    return "Secret" in kind or any(word in field for word in ("password", "secret", "token", "key"))
