"""Command trials run in their own folder and a param value is never shell code (issue 26,
items 3 and 9)."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import optuna
import pytest

from paretolab import runner
from paretolab.records import load_records
from paretolab.spec import parse_spec
from paretolab.spec.checks import check_study
from paretolab.storage import open_storage
from paretolab.trials.command import fill, run_command
from paretolab.trials.context import ReportLog

ROOT = Path(__file__).resolve().parents[1]

APPENDS = """\
import json, os
from paretolab import client

with open("out.txt", "a") as f:  # a relative output: the trial's own
    f.write("one trial\\n")
client.report(1, loss1=float(len(open("out.txt").read().splitlines())), loss2=0.0)
"""


@pytest.mark.slow  # runs a study of two command trials
def test_two_command_trials_writing_a_relative_file_do_not_collide(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    (tmp_path / "appends.py").write_text(APPENDS)
    text = textwrap.dedent("""\
        name: cwd
        trainer: {command: ["{python}", appends.py]}
        losses: [a, b]
        objectives: [loss1, loss2]
        budget: {trials: 2, steps: 1}
        """)
    path = tmp_path / "study.yaml"
    path.write_text(text)
    spec = parse_spec(text, filename=str(path), source=str(path))
    runner.run_study(check_study(spec), workers=1, progress=False)
    study = optuna.load_study(study_name=spec.name, storage=open_storage(spec.storage_url))
    records = load_records(study)
    assert [r.state for r in records] == ["COMPLETE", "COMPLETE"]
    assert [r.values[0] for r in records] == [1.0, 1.0]  # each trial saw only its own line
    assert not (tmp_path / "out.txt").exists()
    for r in records:
        folder = tmp_path / "reports" / spec.slug / "trials" / str(r.number)
        assert (folder / "out.txt").read_text() == "one trial\n"


HOSTILE = ["; touch pwned-semicolon", "$(touch pwned-subst)", "`touch pwned-backtick`",
           "x && touch pwned-and", "x' ; touch pwned-quote ; '"]


@pytest.mark.slow  # starts a shell per value
@pytest.mark.parametrize("value", HOSTILE)
def test_a_param_value_in_a_shell_script_runs_nothing(tmp_path, value):
    trial_dir = tmp_path / "trial"
    config = {"params": {"name": value}, "weights": {"a": 0.5}, "steps": 1, "seed": 0}
    script = f'echo {{name}} > seen.txt; "{sys.executable}" -c "from paretolab import client; ' \
             'client.report(1, loss1=1.0)"'
    old = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = str(ROOT) + os.pathsep + old
    try:
        result = run_command(["sh", "-c", script], config, trial_dir, ReportLog(), cwd=tmp_path, grace=0.5)
    finally:
        os.environ["PYTHONPATH"] = old
    assert result.metrics == {"loss1": 1.0}
    assert not list(tmp_path.rglob("pwned-*")), "a param value ran as shell code"
    assert (trial_dir / "seen.txt").read_text() == value + "\n"  # the value arrived as text


def test_placeholders_are_quoted_only_inside_a_shell_script_and_study_paths_resolve(tmp_path):
    (tmp_path / "train.py").write_text("")
    values = {"name": "a b; c", "study_dir": str(tmp_path)}
    assert fill(["bash", "-lc", "run {name}"], values) == ["bash", "-lc", "run 'a b; c'"]
    assert fill(["prog", "--name={name}", "{name}"], values) == ["prog", "--name=a b; c", "a b; c"]
    assert fill(["python", "train.py", "ok", "missing.py"], values, tmp_path) == \
        ["python", str(tmp_path / "train.py"), "ok", "missing.py"]
