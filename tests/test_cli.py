"""CLI conventions: ``--version``, flags shown as flags in every ``--help``, exit codes listed."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from paretolab import __version__
from paretolab.cli import app

runner = CliRunner()
COMMANDS = sorted(c.name or c.callback.__name__ for c in app.registered_commands)


def _help(*args: str) -> str:
    result = runner.invoke(app, [*args, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    return result.output


def test_version_option_prints_the_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"paretolab {__version__}"


def test_every_command_is_covered() -> None:
    assert {"run", "report", "pick", "worker", "validate", "train", "balancers"} <= set(COMMANDS)


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_shows_flags_as_flags(command: str) -> None:
    text = _help(*([command] if command else []))
    assert "<bool>" not in text
    assert "<list[" not in text
    assert "--help" in text


def test_flags_and_lists_read_naturally() -> None:
    run = _help("run")
    line = next(ln for ln in run.splitlines() if "--no-progress" in ln)
    assert "no progress bar" in line and "<" not in line
    pick = _help("pick")
    assert "--where" in pick and "<expr>" in pick
    assert "<str>" in _help("report")  # options taking values still name their type


def test_exit_codes_are_in_the_main_help() -> None:
    text = " ".join(_help().split())
    assert "Exit codes: 0 done" in text and "130 Ctrl-C" in text and "143 SIGTERM" in text
    assert "Faults and exit codes" in text
