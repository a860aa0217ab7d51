"""The objective: a trial that cannot produce its objectives fails with its reason and counts
toward the budget (issue 13.1: such trials were counted as lost and redone without end)."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import optuna
import pytest

from paretolab import runner
from paretolab.records import count_done, load_records
from paretolab.spec import parse_spec
from paretolab.spec.checks import check_study
from paretolab.storage import open_storage

FORGETFUL = """\
from paretolab.tasks.toy import ToyTask


class Forgetful(ToyTask):
    \"\"\"Declares loss2 among its metrics, but evaluate() leaves it out.\"\"\"

    def evaluate(self, model, device):
        metrics = super().evaluate(model, device)
        del metrics["loss2"]
        return metrics
"""


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, task: str,
         extra: str = "") -> optuna.Study:
    """Run a 2-trial study in this process. The timeout only bounds a runaway (it fails the
    assertions instead of hanging the suite)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tasks.py").write_text(FORGETFUL)
    text = textwrap.dedent(f"""\
        name: {name}
        task: {task}
        objectives: [loss1, loss2]
        budget: {{trials: 2, steps: 3, timeout: 20}}
        workers: 1
        """) + extra
    path = tmp_path / "study.yaml"
    path.write_text(text)
    spec = parse_spec(text, filename=str(path), source=str(path))
    runner.run_study(check_study(spec), workers=1, progress=False)
    return optuna.load_study(study_name=name, storage=open_storage(spec.storage_url))


def _assert_two_failures(study: optuna.Study, reason: str) -> None:
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["FAIL", "FAIL"]
    assert count_done(study) == 2
    for record in load_records(study):
        assert record.failure is not None and record.failure.reason == reason
        assert record.counts_toward_budget


@pytest.mark.slow  # over 0.9 s
def test_a_missing_metric_fails_the_trial_with_its_reason_and_counts(tmp_path, monkeypatch) -> None:
    study = _run(tmp_path, monkeypatch, "forgetful", "tasks.py:Forgetful")
    _assert_two_failures(study, "evaluate() returned no metric 'loss2'; it returned [loss1, pareto_distance]")


def test_a_missing_constraint_metric_fails_the_trial(tmp_path, monkeypatch) -> None:
    study = _run(tmp_path, monkeypatch, "forgetful-constraint", "tasks.py:Forgetful",
                 "constraints: ['loss2 <= 1']\n")
    _assert_two_failures(study, "evaluate() returned no metric 'loss2'; it returned [loss1, pareto_distance]")


def test_a_non_finite_objective_fails_the_trial_with_its_reason_and_counts(tmp_path, monkeypatch) -> None:
    """A trainer (or, later, a user's own trial function) that hands back an infinite or NaN
    objective: Optuna alone would fail the trial without a reason, which counts as lost."""
    import paretolab.kinds.task as kinds_task

    real_train = kinds_task.train

    def infinite(*args, **kwargs):
        result = real_train(*args, **kwargs)
        result.metrics["loss2"] = math.inf
        return result

    monkeypatch.setattr(kinds_task, "train", infinite)
    study = _run(tmp_path, monkeypatch, "infinite", "toy")
    _assert_two_failures(study, "objective 'loss2' is not finite (inf)")


def test_rungs_reach_the_trainer_as_eval_steps(tmp_path) -> None:
    """Interface I3: the objective passes the rungs to ``train(eval_steps=...)``, so a trial is
    judged exactly at each rung even when ``eval_every`` does not fall there."""
    from paretolab.objective import Objective
    from paretolab.records import RungRecord

    spec = parse_spec(textwrap.dedent("""\
        name: rungs
        task: {ref: toy, params: {start: [0.0, 0.0]}}
        objectives: [loss1, loss2]
        budget: {trials: 1, steps: 40, eval_every: 40}
        pruning: {method: moasha, min_steps: 7, eta: 2, min_agreement: null}
        """), filename=str(tmp_path / "study.yaml"))
    checked = check_study(spec, check_storage_reachable=False)
    study = optuna.create_study(directions=spec.directions)
    study.optimize(Objective(checked, "cpu"), n_trials=1)
    trial = study.trials[0]
    assert trial.state.name == "COMPLETE"
    assert [RungRecord.read(trial, r).step for r in (7, 14, 28)] == [7, 14, 28]
