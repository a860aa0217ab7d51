"""Function trials (``trainer: {function: ...}``): the user's own loop gets a TrialContext, its
returned metrics are the trial's, its reports the curves, and pruning reaches it (issue 16)."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import optuna
import pytest

import paretolab
from paretolab import runner
from paretolab.errors import SpecError
from paretolab.records import load_records
from paretolab.spec import parse_spec
from paretolab.spec.checks import check_study
from paretolab.storage import open_storage

ROOT = Path(__file__).resolve().parents[1]

TRAINERS = """\
import json, math
from pathlib import Path


def train(trial):
    # a "loop" without torch: the objectives follow the weights, so trials trade off
    for step in range(1, trial.steps + 1):
        trial.report(step, loss1=trial.weights["b"] + 1.0 / step, loss2=trial.weights["a"])
    (trial.dir / "seen.json").write_text(json.dumps({
        "weights": trial.weights, "params": trial.params, "seed": trial.seed, "device": trial.device,
        "balancer": type(trial.balancer()).__name__}))
    return {"loss1": trial.weights["b"], "loss2": trial.weights["a"], "extra": 1.0}


def forgetful(trial):
    return {"loss1": 1.0}


def crashing(trial):
    raise ValueError("my loop broke")


def infinite(trial):
    return {"loss1": math.inf, "loss2": 0.0}


def worse_each_trial(trial):
    try:
        for step in range(1, trial.steps + 1):
            trial.report(step, loss1=float(trial.number), loss2=float(trial.number))
    except paretolab.TrialPruned:
        (trial.dir / "pruned").write_text(str(step))
        raise
    return {"loss1": float(trial.number), "loss2": float(trial.number)}
"""


def _study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, attr: str, extra: str = "",
           trials: int = 2, steps: int = 4) -> tuple[optuna.Study, object]:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fns.py").write_text("import paretolab\n" + TRAINERS)
    text = textwrap.dedent(f"""\
        name: fn-{attr}
        trainer: {{function: fns.py:{attr}, params: {{width: 3}}}}
        losses: [a, b]
        objectives: [loss1, loss2]
        search:
          params:
            lr: {{low: 0.001, high: 0.1, log: true}}
        budget: {{trials: {trials}, steps: {steps}, timeout: 60}}
        """) + extra
    path = tmp_path / "study.yaml"
    path.write_text(text)
    spec = parse_spec(text, filename=str(path), source=str(path))
    runner.run_study(check_study(spec), workers=1, progress=False)
    return optuna.load_study(study_name=spec.name, storage=open_storage(spec.storage_url)), spec


@pytest.mark.slow  # the first run study of the file: imports torch and plotly (~9 s here)
def test_a_function_trial_runs_with_its_context_and_records_reports_as_curves(tmp_path, monkeypatch):
    study, spec = _study(tmp_path, monkeypatch, "train")
    records = load_records(study)
    assert [r.state for r in records] == ["COMPLETE", "COMPLETE"]
    for r in records:
        weights = r.config["weights"]
        assert r.values == pytest.approx([weights["b"], weights["a"]])
        assert r.result.curves["step"] == [1, 2, 3, 4]
        assert r.result.curves["loss1"][0] == pytest.approx(weights["b"] + 1.0)
        assert r.metrics["extra"] == 1.0
        seen = (tmp_path / "reports" / spec.slug / "trials" / str(r.number) / "seen.json").read_text()
        assert '"width": 3' in seen and '"lr": ' in seen and '"balancer": "Static' in seen
        assert f'"seed": {r.config["seed"]}' in seen


@pytest.mark.parametrize("attr,reason", [
    ("forgetful", "the trainer function"),
    ("crashing", "ValueError: my loop broke"),
    ("infinite", "objective 'loss1' is not finite"),
])
def test_a_function_trial_that_cannot_give_its_objectives_fails_with_the_reason(
        tmp_path, monkeypatch, attr, reason):
    study, _ = _study(tmp_path, monkeypatch, attr)
    records = load_records(study)
    assert [r.state for r in records] == ["FAIL", "FAIL"]
    for r in records:
        assert r.failure is not None and reason in r.failure.reason
        assert r.counts_toward_budget
    if attr == "forgetful":
        assert "no metric 'loss2'" in records[0].failure.reason


def test_mo_asha_prunes_a_function_trial_through_report(tmp_path, monkeypatch):
    study, spec = _study(tmp_path, monkeypatch, "worse_each_trial", trials=3, steps=8, extra=(
        "pruning: {method: moasha, min_steps: 2, eta: 2, min_trials: 1, min_agreement: null, "
        "control_share: 0}\n"))
    records = load_records(study)
    assert [r.state for r in records] == ["COMPLETE", "PRUNED", "PRUNED"]
    folder = tmp_path / "reports" / spec.slug / "trials"
    assert (folder / "1" / "pruned").read_text() == "2"  # the user's loop saw TrialPruned at the rung
    assert records[1].result.pruned_at == 2
    assert records[1].result.curves["step"] == [1, 2]


def test_the_spec_takes_exactly_one_of_task_and_trainer():
    base = "name: x\nlosses: [a]\nobjectives: [m]\n"
    with pytest.raises(SpecError, match="exactly one of 'task'"):
        parse_spec(base)
    with pytest.raises(SpecError, match="exactly one of 'task'"):
        parse_spec(base + "task: toy\ntrainer: {function: f.py:train}\n")
    with pytest.raises(SpecError, match="'losses' must name"):
        parse_spec("name: x\nobjectives: [m]\ntrainer: {function: f.py:train}\n")
    spec = parse_spec(base + "trainer: {function: f.py:train}\nsearch: {params: {hidden: [8, 16]}}\n")
    assert spec.trainer.kind == "function"  # any param name is fine for your own code


def test_trial_context_and_trial_pruned_are_exported():
    assert paretolab.TrialContext.__name__ == "TrialContext"
    from paretolab.pruning import RungPruned

    assert issubclass(RungPruned, paretolab.TrialPruned)


@pytest.mark.slow
def test_the_own_loop_example_runs_end_to_end(tmp_path, monkeypatch):
    """examples/own_loop.py (a plain PyTorch loop) with a tiny budget."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    (tmp_path / "studies").mkdir()
    text = (ROOT / "studies" / "own_loop.yaml").read_text()
    text = text.replace("trials: 6", "trials: 2").replace("steps: 100", "steps: 20")
    path = tmp_path / "studies" / "own_loop.yaml"
    path.write_text(text)
    monkeypatch.chdir(tmp_path)
    spec = parse_spec(text, filename=str(path), source=str(path))
    runner.run_study(check_study(spec), workers=1, progress=False)
    study = optuna.load_study(study_name=spec.name, storage=open_storage(spec.storage_url))
    records = load_records(study)
    assert [r.state for r in records] == ["COMPLETE", "COMPLETE"]
    assert records[0].result.curves["step"] == [10, 20]
    assert (tmp_path / "reports" / "own_loop" / "trials" / "0" / "model.pt").is_file()
