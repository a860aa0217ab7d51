"""What several test modules share: paths, writing a study file, running the CLI, system tests.

Test modules import the helpers by name (``from conftest import cli, write``): pytest puts this
directory on ``sys.path`` (the tests are not a package), and a module is clearer with the names
it uses visible at its top than with extra fixture arguments.

Markers (``pyproject.toml``): ``slow`` for a test over about 1.5 s or one that starts processes,
``system`` for one that needs a real server or browser. ``make test-fast`` runs neither.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import NoReturn

import pytest
from typer.testing import CliRunner

from paretolab.cli import app

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"

_runner = CliRunner()


def write(tmp_path: Path, text: str, name: str = "study.yaml") -> Path:
    """Write ``text`` (dedented) to ``tmp_path / name`` and return the path."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def cli(*args: str, code: int = 0) -> str:
    """Run ``paretolab ARGS`` in this process; assert its exit code and return its output."""
    result = _runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def system_missing(what: str) -> NoReturn:
    """Skip a system test whose server or browser is missing; under PARETOLAB_REQUIRE_SYSTEM=1
    (CI, which installs them) fail instead, so that a broken set-up cannot pass as skipped."""
    if os.environ.get("PARETOLAB_REQUIRE_SYSTEM") == "1":
        pytest.fail(f"PARETOLAB_REQUIRE_SYSTEM=1 but {what}")
    pytest.skip(what)


@pytest.fixture
def posttrain_standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``posttrain`` cache folder (``PARETOLAB_POSTTRAIN_CACHE``) in which the starting checkpoint
    of ``studies/posttrain.yaml`` is a stand-in pre-trained for 3 steps instead of 1,500 (same
    architecture, saved under the study's hash): validating the shipped study runs its one batch
    without minutes of pre-training, and a test never writes the user's cache."""
    import dataclasses

    import torch
    import yaml

    from paretolab.tasks import make_task
    from paretolab.tasks.posttrain.pretrain import CACHE_ENV, checkpoint_path, pretrain

    folder = tmp_path / "posttrain-cache"
    monkeypatch.setenv(CACHE_ENV, str(folder))
    params = yaml.safe_load((REPO / "studies" / "posttrain.yaml").read_text())["task"]["params"]
    config = make_task("posttrain", params).pretrain_config
    state, _ = pretrain(dataclasses.replace(config, steps=3))
    path = checkpoint_path(config)
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    return folder
