"""The ``paretolab`` application: its options, the exit codes, the consoles, and the helpers
every command shares (user errors as one line, exit 2; loading and checking a study file)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperCommand, TyperGroup

from paretolab import __version__
from paretolab.errors import UserError

EXIT_CODES = ("Exit codes: 0 done; 1 no trial completed, or an output file could not be written; "
              "2 an error you can fix (study file, task, storage); 130 Ctrl-C and 143 SIGTERM "
              "(run the same command again to resume). See README, 'Faults and exit codes'.")


class _FlagsAsFlags:
    """Help shows a boolean flag as a flag, with no ``<bool>`` type column.

    Typer 0.29 prints every option's type in ``--help``, flags included (``--no-progress
    <bool>``, even ``--help <bool>``), which reads as if the flag took a value. An empty metavar
    makes that column blank for flags only; parsing is unchanged.
    """

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""
            if param.param_type_name == "argument" and param.nargs == -1:  # not <list[str]>
                shown = f"<{_VARIADIC.get(param.name, 'value')}>..."
                param.display_type_rich = lambda ctx, shown=shown: shown
        return params


_VARIADIC = {"overrides": "key=value", "targets": "study"}  # the type column of variadic arguments


class Command(_FlagsAsFlags, TyperCommand):
    """Every ``paretolab`` command (see :class:`_FlagsAsFlags`)."""


class Group(_FlagsAsFlags, TyperGroup):
    """The ``paretolab`` command group (see :class:`_FlagsAsFlags`)."""


app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  cls=Group, help="Find the trade-off front between competing training objectives.")
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"paretolab {__version__}")
        raise typer.Exit()


@app.callback(epilog=EXIT_CODES)
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="print the version and exit")] = False,
) -> None:
    """Find the trade-off front between competing training objectives."""


def user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """A user's mistake prints one message and exits 2: no traceback, nothing half-written."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except UserError as exc:
            typer.echo(f"error: {exc.render()}", err=True)
            raise typer.Exit(code=exc.exit_code) from None

    return wrapper


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


OVERRIDES_HELP = ("study-file fields to set, dotted.key=value (values read as YAML), e.g. "
                  "budget.trials=60 sampler=tpe search.params.lr.high=0.1")


def _check(path: Path, overrides: list[str] | None = None, **updates: Any) -> Any:
    """Load and check a study file with command-line ``overrides`` (``key=value``); ``updates``
    (e.g. ``storage`` from a flag) replace fields."""
    return _check_keeping_url(path, overrides, **updates)[0]


def _check_keeping_url(path: Path, overrides: list[str] | None = None, **updates: Any) -> tuple[Any, str]:
    """:func:`_check`, and the storage URL the file itself names (read in the same, one parse)."""
    from paretolab.spec import check_study, load_spec

    spec = load_spec(path, overrides or ())
    file_storage_url = spec.storage_url
    updates = {k: v for k, v in updates.items() if v is not None}
    if updates:
        spec = spec.model_copy(update=updates)
    return check_study(spec), file_storage_url


