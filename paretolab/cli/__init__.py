"""``paretolab`` command line: thin wrappers that parse, call one function, and print.

:mod:`.app` holds the application and what every command shares; the commands live in
:mod:`.study` (validate, schema, run), :mod:`.results` (report, status, balancers, version,
pick, verify, train), :mod:`.compare` (compare), :mod:`.worker` (worker) and :mod:`.submit`
(submit), registered on import in that order (the order of ``paretolab --help``).
"""

from __future__ import annotations

# isort: off
# importing a command module registers its commands, in the order of `paretolab --help`
from paretolab.cli import study  # noqa: F401
from paretolab.cli import results  # noqa: F401
from paretolab.cli import compare  # noqa: F401
from paretolab.cli import worker  # noqa: F401
from paretolab.cli import submit  # noqa: F401
# isort: on
from paretolab.cli.app import app

__all__ = ["app", "main"]


def main() -> None:  # pragma: no cover - console script entry
    app()
