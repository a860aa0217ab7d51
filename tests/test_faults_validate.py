"""``paretolab validate`` runs a trainer briefly (trial.dry_run set) and names a missing or
misnamed metric or loss with the closest name it gave (issue 26, item 10)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from paretolab.errors import TrialFailure
from paretolab.trials.context import require_metrics

from conftest import cli

TRAINERS = """\
import json
import torch


def right(trial):
    (trial.dir / "seen.json").write_text(json.dumps({"dry_run": trial.dry_run, "steps": trial.steps}))
    open("dry_run_seen", "w").write(f"{trial.dry_run} {trial.steps}")
    for step in range(1, trial.steps + 1):
        trial.report(step, err_a=0.5, err_b=0.25)
    return {"err_a": 0.5, "err_b": 0.25}


def misnamed_metric(trial):
    return {"err_a": 0.5, "error_b": 0.25}


def misnamed_loss(trial):
    w = torch.zeros(2, requires_grad=True)
    trial.balancer().backward({"a": (w[0] - 1) ** 2, "bb": (w[1] + 1) ** 2}, [w])
    return {"err_a": 0.5, "err_b": 0.25}
"""


def _study(tmp_path: Path, attr: str) -> Path:
    (tmp_path / "fns.py").write_text(TRAINERS)
    path = tmp_path / f"{attr}.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: {attr.replace('_', '-')}
        trainer: {{function: fns.py:{attr}}}
        losses: [a, b]
        objectives: [err_a, err_b]
        budget: {{trials: 2, steps: 500}}
        """))
    return path


@pytest.mark.slow  # imports torch, runs the trainer
def test_validate_runs_the_trainer_briefly_with_dry_run_set(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = cli("validate", str(_study(tmp_path, "right")))
    assert "trial run of the trainer on cpu (2 steps" in out
    assert (tmp_path / "dry_run_seen").read_text() == "True 2"
    assert not (tmp_path / "reports").exists()  # the short run leaves no study behind
    out = cli("validate", "--no-run", str(_study(tmp_path, "right")))
    assert "the trainer was not run (--no-run)" in out


@pytest.mark.slow
@pytest.mark.parametrize("attr,message", [
    ("misnamed_metric", "it gave no metric 'err_b' (objective 1); did you mean 'error_b'?"),
    ("misnamed_loss", "losses missing for the balancer: ['b']"),
])
def test_validate_names_a_misnamed_metric_or_loss(tmp_path, monkeypatch, attr, message):
    monkeypatch.chdir(tmp_path)
    out = cli("validate", str(_study(tmp_path, attr)), code=2)
    assert message in out and "Traceback" not in out
    if attr == "misnamed_loss":
        assert "did you mean 'bb'?" in out


def test_a_trial_missing_a_metric_names_the_closest_one():
    with pytest.raises(TrialFailure, match=r"gave no metric 'err_b' \(did you mean 'error_b'\?\)"):
        require_metrics({"err_a": 1.0, "error_b": 2.0}, ["err_a", "err_b"], "the trainer function")
