"""End-to-end studies: real training trials, failures, NaN, resume, reproducibility, tables."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from typer.testing import CliRunner

from paretolab.cli import app
from paretolab.dominance import nondominated_mask
from paretolab.records import StudyMeta, trial_attrs
from paretolab.search_space import TrialConfig, trial_seed
from paretolab.spec import load_spec
from paretolab.spec.checks import check_study
from paretolab.storage import open_storage
from paretolab.trainer import train

from conftest import README, write
from conftest import cli as run_cli

runner = CliRunner()


def load(study_dir: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=open_storage(f"sqlite:///{study_dir}/study.db"))


def check_tables(study_dir: Path, objectives: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """front.csv is exactly the non-dominated feasible complete trials of trials.csv."""
    trials = pd.read_csv(study_dir / "trials.csv")
    front = pd.read_csv(study_dir / "front.csv")
    complete = trials[trials["state"] == "COMPLETE"]
    names, directions = list(objectives), list(objectives.values())
    values = complete[names].to_numpy(float)
    violation = complete["total_violation"].to_numpy(float)
    mask = nondominated_mask(values, directions, violation)
    assert sorted(complete["trial"][mask]) == sorted(front["trial"])
    # brute force: no front row is dominated by a feasible complete trial
    signs = np.array([1 if d == "minimize" else -1 for d in directions])
    feasible = complete[complete["total_violation"] == 0][names].to_numpy(float) * signs
    for row in front[names].to_numpy(float) * signs:
        dominated = np.all(feasible <= row, axis=1) & np.any(feasible < row, axis=1)
        assert not dominated.any() or (front["total_violation"] > 0).all()
    for col in names:
        merged = front.merge(trials, on="trial", suffixes=("", "_t"))
        assert np.allclose(merged[col], merged[f"{col}_t"])
    return trials, front


@pytest.mark.slow
@pytest.mark.parametrize("task,objectives,extra", [
    ("toy", {"loss1": "minimize", "loss2": "minimize"}, "task: {ref: toy, params: {start: [0.0, 0.0]}}\n"
     "train: {lr: 0.05}\nbudget: {trials: 8, steps: 60}\n"),
    ("digits", {"error": "minimize", "sparsity": "maximize"}, "task: digits\nconstraints: ['ece <= 0.1']\n"
     "budget: {trials: 6, steps: 40}\n"),
    ("multitask_regression", {"task0": "minimize", "task1": "minimize"},
     "task: {ref: multitask_regression, params: {n_train: 256, n_val: 128}}\nbudget: {trials: 6, steps: 40}\n"),
])
def test_end_to_end_study_on_each_builtin_task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               task: str, objectives: dict[str, str], extra: str) -> None:
    monkeypatch.chdir(tmp_path)
    objs = "".join(f"  - {{name: {k}, direction: {v}}}\n" for k, v in objectives.items())
    path = write(tmp_path, f"name: e2e-{task}\n{extra}objectives:\n{objs}seed: 1\n")
    output = run_cli("run", str(path), "--no-progress")
    study_dir = tmp_path / "reports" / f"e2e-{task}"
    assert (study_dir / "study.db").is_file()
    assert "Pareto front of" in output and "trials.csv" in output
    trials, front = check_tables(study_dir, objectives)
    assert len(trials) == load_spec(path).budget.trials
    assert (trials["state"] == "COMPLETE").all(), trials["failure"].tolist()
    assert len(front) >= 1
    weights = trials[[c for c in trials.columns if c.startswith("w:")]]
    assert np.allclose(weights.sum(axis=1), 1.0)  # simplex
    assert weights.nunique().min() > 1  # actually sampled
    study = load(study_dir, f"e2e-{task}")
    t = study.trials[0]
    assert trial_attrs(t)["device"] == "cpu" and trial_attrs(t)["wall_time_s"] > 0
    curves = trial_attrs(t)["curves"]
    assert curves["step"][-1] == load_spec(path).budget.steps
    for name in objectives:
        assert len(curves[name]) == len(curves["step"])
        assert curves[name][-1] == pytest.approx(trial_attrs(t)["metrics"][name])


def test_training_really_moves_toward_the_pareto_set_on_toy(tmp_path: Path) -> None:
    """The trials are real optimisation runs: the toy from (0, 0) gets close to the Pareto set."""
    spec = load_spec(write(tmp_path, """\
        name: toy-train
        task: {ref: toy, params: {start: [0.0, 0.0]}}
        objectives: [loss1, loss2]
        train: {lr: 0.1}
        budget: {trials: 1, steps: 1000}
    """))
    checked = check_study(spec)
    config = TrialConfig(weights={"loss1": 0.5, "loss2": 0.5}, balancer={"method": "static", "settings": {}},
                         train=spec.train.model_dump(), task="toy", task_params={"start": [0.0, 0.0]},
                         loss_groups=checked.loss_groups, seed=5, steps=1000, eval_every=100)
    result = train(config, "cpu")
    assert result.curves["pareto_distance"][0] > result.metrics["pareto_distance"]
    assert result.metrics["pareto_distance"] < 0.5


@pytest.mark.slow
def test_same_trial_number_and_seed_reproduce_the_same_result(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    text = """\
        name: {name}
        task: digits
        objectives: [error, {{sparsity: maximize}}]
        search: {{params: {{lr: {{low: 1.0e-3, high: 1.0e-2, log: true}}}}}}
        budget: {{trials: 3, steps: 30}}
        seed: 7
    """
    for name in ("rep-a", "rep-b"):
        run_cli("run", str(write(tmp_path, text.format(name=name), f"{name}.yaml")), "--no-progress")
    a = load(tmp_path / "reports" / "rep-a", "rep-a").trials
    b = load(tmp_path / "reports" / "rep-b", "rep-b").trials
    for ta, tb in zip(a, b):
        assert ta.params == tb.params
        assert ta.values == tb.values
        assert trial_attrs(ta)["config"]["seed"] == trial_seed(7, ta.number)
    # and one trial re-run by itself from its stored config gives the same metrics
    config = TrialConfig.from_dict(trial_attrs(a[1])["config"])
    assert train(config, "cpu").metrics == trial_attrs(a[1])["metrics"]


USER_TASKS = """\
import math
import torch
from torch import nn
from paretolab.tasks.toy import ToyTask


class Raises(ToyTask):
    def compute_losses(self, model, batch):
        raise RuntimeError("my data loader broke")


class Explodes(ToyTask):
    def __init__(self, at: int = 3, **kw):
        super().__init__(**kw)
        self.at, self.calls = at, 0

    def compute_losses(self, model, batch):
        self.calls += 1
        losses = super().compute_losses(model, batch)
        if self.calls >= self.at:
            losses["loss2"] = losses["loss2"] * math.nan
        return losses
"""


def test_a_task_that_raises_fails_its_trial_and_the_study_goes_on(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tasks.py").write_text(USER_TASKS)
    path = write(tmp_path, """\
        name: raises
        task: tasks.py:Raises
        objectives: [loss1, loss2]
        budget: {trials: 3, steps: 5}
    """)
    result = runner.invoke(app, ["run", str(path), "--no-progress"])
    output = result.output
    assert "3 failed" in output and "RuntimeError: my data loader broke" in output
    assert result.exit_code == 1 and "no trial completed" in output  # nothing to pick: not a success
    trials = pd.read_csv(tmp_path / "reports" / "raises" / "trials.csv")
    assert (trials["state"] == "FAIL").all() and len(trials) == 3
    assert trials["failure"].str.contains("my data loader broke").all()


def test_nan_loss_fails_the_trial_with_the_loss_name_and_step(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tasks.py").write_text(USER_TASKS)
    path = write(tmp_path, """\
        name: nan
        task: {ref: tasks.py:Explodes, params: {at: 4}}
        objectives: [loss1, loss2]
        budget: {trials: 2, steps: 10}
    """)
    assert runner.invoke(app, ["run", str(path), "--no-progress"]).exit_code == 1  # none completed
    trials = pd.read_csv(tmp_path / "reports" / "nan" / "trials.csv")
    assert (trials["failure"] == "loss loss2 became NaN at step 4").all()


def test_user_task_from_the_readme_runs_from_a_file_path(tmp_path: Path, monkeypatch) -> None:
    code = re.search(r"```python\n(# mytask.py.*?)```", README.read_text(), re.S).group(1)
    assert len(code.splitlines()) < 40
    sub = tmp_path / "project"
    sub.mkdir()
    (sub / "mytask.py").write_text(code)
    path = write(sub, """\
        name: readme-task
        task: mytask.py:Regression
        objectives: [mse, roughness]
        budget: {trials: 3, steps: 30}
    """)
    monkeypatch.chdir(tmp_path)  # the task path resolves against the study file, not the cwd
    run_cli("run", str(path), "--no-progress")
    trials = pd.read_csv(tmp_path / "reports" / "readme-task" / "trials.csv")
    assert (trials["state"] == "COMPLETE").all()


@pytest.mark.slow
def test_resume_after_interruption_continues_to_the_budget(tmp_path: Path, monkeypatch) -> None:
    """Ctrl-C in the middle of a trial: no trial stays RUNNING; the next run finishes the budget."""
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, """\
        name: resume
        task: toy
        objectives: [loss1, loss2]
        budget: {trials: 5, steps: 20}
    """)
    import paretolab.kinds.task as kinds_task

    real_train = kinds_task.train
    calls = {"n": 0}

    def interrupt_third(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_train(*args, **kwargs)

    monkeypatch.setattr(kinds_task, "train", interrupt_third)
    result = runner.invoke(app, ["run", str(path), "--no-progress"])
    assert result.exit_code == 130 and "resume" in result.output
    study = load(tmp_path / "reports" / "resume", "resume")
    states = [t.state.name for t in study.trials]
    assert states == ["COMPLETE", "COMPLETE", "FAIL"]
    assert trial_attrs(study.trials[2])["interrupted"] is True
    assert (tmp_path / "reports" / "resume" / "trials.csv").is_file()  # tables written on Ctrl-C

    monkeypatch.setattr(kinds_task, "train", real_train)
    run_cli("run", str(path), "--no-progress")
    study = load(tmp_path / "reports" / "resume", "resume")
    states = [t.state.name for t in study.trials]
    assert states.count("COMPLETE") == 5 and "RUNNING" not in states
    first_values = [t.values for t in study.trials[:2]]
    run_cli("run", str(path), "--no-progress")  # budget reached: nothing new
    study = load(tmp_path / "reports" / "resume", "resume")
    assert len(study.trials) == 6 and [t.values for t in study.trials[:2]] == first_values


def test_changing_objectives_of_a_stored_study_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, "name: same\ntask: toy\nobjectives: [loss1, loss2]\nbudget: {trials: 1, steps: 3}\n")
    run_cli("run", str(path), "--no-progress")
    path.write_text("name: same\ntask: toy\nobjectives: [loss1]\nbudget: {trials: 1, steps: 3}\n")
    result = runner.invoke(app, ["run", str(path), "--no-progress"])
    assert result.exit_code == 2 and "objectives" in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_constraints_are_optuna_constraints_and_infeasible_trials_are_kept(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, """\
        name: constrained
        task: {ref: toy, params: {start: [0.0, 0.0]}}
        objectives: [loss1, loss2]
        constraints: ['pareto_distance <= 0.0']
        budget: {trials: 4, steps: 5}
    """)
    run_cli("run", str(path), "--no-progress")
    study = load(tmp_path / "reports" / "constrained", "constrained")
    assert all(t.constraints["pareto_distance <= 0"] > 0 for t in study.trials)
    assert study.best_trials == []  # Optuna sees them as infeasible
    meta = StudyMeta.from_study(study)
    assert meta.constraints == ["pareto_distance <= 0"]
    trials, front = check_tables(tmp_path / "reports" / "constrained", {"loss1": "minimize", "loss2": "minimize"})
    assert len(trials) == 4 and not trials["feasible"].any()
    assert len(front) >= 1  # the least-violating trials are still shown


@pytest.mark.slow
def test_groups_sum_terms_before_the_balancer(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, """\
        name: grouped
        task: digits
        losses: {terms: [ce, l1, confidence], groups: {fit: {ce: 1.0, confidence: 0.5}}}
        objectives: [error]
        budget: {trials: 2, steps: 10}
    """)
    run_cli("run", str(path), "--no-progress")
    trials = pd.read_csv(tmp_path / "reports" / "grouped" / "trials.csv")
    assert sorted(c for c in trials.columns if c.startswith("w:")) == ["w:fit", "w:l1"]
    study = load(tmp_path / "reports" / "grouped", "grouped")
    assert trial_attrs(study.trials[0])["config"]["loss_groups"]["fit"] == {"ce": 1.0, "confidence": 0.5}
    assert "loss:fit" in trial_attrs(study.trials[0])["curves"]


@pytest.mark.slow
def test_balancers_are_searched_with_conditional_settings_and_record_conflict(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, """\
        name: balancers
        task: {ref: multitask_regression, params: {n_tasks: 3, n_train: 128, n_val: 64}}
        objectives: [task0, task1, task2]
        search:
          balancer: [static, upgrad, mgda_ub, {method: rgb, lambd: [0.1, 10.0]}]
        budget: {trials: 12, steps: 12, eval_every: 4}
        sampler: random
    """)
    run_cli("run", str(path), "--no-progress")
    study = load(tmp_path / "reports" / "balancers", "balancers")
    assert all(t.state.name == "COMPLETE" for t in study.trials)
    methods = {trial_attrs(t)["config"]["balancer"]["method"] for t in study.trials}
    assert len(methods) >= 3
    for t in study.trials:
        method = trial_attrs(t)["config"]["balancer"]["method"]
        assert ("rgb.lambd" in t.params) == (method == "rgb")  # conditional parameter
        if method == "rgb":
            assert trial_attrs(t)["config"]["balancer"]["settings"]["lambd"] == t.params["rgb.lambd"]
        conflict = trial_attrs(t).get("conflict")
        if method in ("upgrad", "rgb"):  # gradient level: recorded for free at each evaluation
            assert conflict["step"] == [4, 8, 12]
            assert set(conflict) == {"step", "cos:task0|task1", "cos:task0|task2", "cos:task1|task2"}
            assert all(-1 <= c <= 1 for c in conflict["cos:task0|task1"])
        else:  # loss level and MGDA-UB: off by default (it would cost an extra pass)
            assert conflict is None
