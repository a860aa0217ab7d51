"""paretolab.integrations.hf (issue 28): a TrainerCallback that reports a transformers Trainer's
logs to a trial, stops training when MO-ASHA prunes it, and lets the trial end pruned.

The callback's decisions are checked first without transformers (a stand-in ``TrainerCallback``
base: importing transformers' Trainer takes 10-25 s on a busy 2-core machine); the slow tests run
it on a real ``transformers.Trainer``, alone and in a study."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
import textwrap
import types
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest

from paretolab import client, runner
from paretolab.errors import UserError
from paretolab.pruning import RungDecision, RungPruned
from paretolab.records import TrialResult, load_records
from paretolab.spec import parse_spec
from paretolab.spec.checks import check_study
from paretolab.storage import open_storage
from paretolab.trials.context import ReportLog, TrialContext

HAVE_HF = importlib.util.find_spec("transformers") is not None and importlib.util.find_spec("accelerate") is not None
REQUIRED = os.environ.get("PARETOLAB_REQUIRE_SYSTEM") == "1"
needs_hf = pytest.mark.skipif(not HAVE_HF and not REQUIRED,
                              reason="transformers is not installed (pip install 'paretolab[hf]')")


def _hf_module(monkeypatch: pytest.MonkeyPatch, transformers: object) -> types.ModuleType:
    """paretolab.integrations.hf imported afresh against ``transformers`` (a module, or None:
    not installed); the real modules come back after the test."""
    import paretolab.integrations as package

    monkeypatch.setitem(sys.modules, "transformers", transformers)
    # whatever the import below leaves in sys.modules and on the package is undone after the test
    monkeypatch.setitem(sys.modules, "paretolab.integrations.hf", None)
    monkeypatch.setattr(package, "hf", None, raising=False)
    del sys.modules["paretolab.integrations.hf"]
    return importlib.import_module("paretolab.integrations.hf")


@pytest.fixture
def hf_light(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """The module over a stand-in transformers whose TrainerCallback is a plain base class."""
    return _hf_module(monkeypatch, types.SimpleNamespace(TrainerCallback=object))


def _context(tmp_path: Path, objectives: list[str], on_eval=None) -> TrialContext:
    return TrialContext(weights={}, params={}, seed=0, device="cpu", dir=tmp_path, steps=10,
                        log=ReportLog(objectives, on_eval))


def _prune_at(rung: int):
    """An on_eval hook that stops the trial at ``rung``, as MO-ASHA's does."""
    def on_eval(step: int, metrics: dict[str, float]) -> None:
        if step >= rung:
            raise RungPruned(rung, RungDecision(False, 1, 2, 1, 1),
                             TrialResult(metrics=dict(metrics), curves={}, steps=step, pruned_at=rung))
    return on_eval


def _state(step: int, main: bool = True) -> SimpleNamespace:
    return SimpleNamespace(global_step=step, is_world_process_zero=main)


def test_without_transformers_the_import_says_which_extra_to_install(monkeypatch):
    with pytest.raises(UserError) as caught:
        _hf_module(monkeypatch, None)
    assert "needs transformers, which is not installed" in str(caught.value)
    assert caught.value.hint == "pip install 'paretolab[hf]'"


def test_each_log_becomes_a_curve_point_under_the_study_names(hf_light, tmp_path):
    trial = _context(tmp_path, ["brevity", "kl"])
    callback = hf_light.ParetolabCallback(trial, metrics={"brevity": "rewards/brevity/mean", "kl": "kl"})
    control = SimpleNamespace(should_training_stop=False)
    callback.on_log(None, _state(1), control, logs={"rewards/brevity/mean": 0.5, "kl": 0.1, "loss": 3.0})
    callback.on_log(None, _state(2), control, logs={"rewards/brevity/mean": None, "kl": 0.2})  # TRL: no value
    callback.on_log(None, _state(2), control, logs={"train_runtime": 9.0, "train_loss": 2.0})  # the summary
    callback.on_log(None, _state(3), control, logs={"kl": 0.3})
    callback.on_log(None, _state(3, main=False), control, logs={"kl": 9.9})  # another rank: not reported
    callback.on_log(None, _state(3), control, logs={"rewards/brevity/mean": 0.7})  # an evaluation log
    # a step's second log is reported with its first one's values
    assert trial.log.curves == {"step": [1, 2, 3, 3], "brevity": [0.5, None, None, 0.7],
                                "kl": [0.1, 0.2, 0.3, 0.3]}
    assert callback.latest == {"brevity": 0.7, "kl": 0.3}
    assert not control.should_training_stop


def test_without_a_selection_every_logged_number_is_reported(hf_light, tmp_path):
    trial = _context(tmp_path, [])
    callback = hf_light.ParetolabCallback(trial)
    callback.on_log(None, _state(4), SimpleNamespace(), logs={"loss": 1.5, "epoch": 0.5, "note": "x",
                                                               "flag": True})
    assert trial.log.curves == {"step": [4], "loss": [1.5], "epoch": [0.5]}


def test_a_pruned_report_stops_training_and_run_raises_it_after_train_returns(hf_light, tmp_path):
    trial = _context(tmp_path, ["loss"], on_eval=_prune_at(3))

    class FakeTrainer:  # logs a loss each step, stops when a callback asks, as Trainer.train does
        def __init__(self):
            self.callbacks, self.steps_run = [], 0

        def add_callback(self, cb):
            self.callbacks.append(cb)

        def remove_callback(self, cb):
            self.callbacks.remove(cb)

        def train(self):
            control = SimpleNamespace(should_training_stop=False)
            for step in range(1, 11):
                self.steps_run = step
                for cb in self.callbacks:
                    cb.on_step_end(None, _state(step), control)
                    cb.on_log(None, _state(step), control, logs={"loss": 1.0 / step})
                if control.should_training_stop:
                    break

    trainer = FakeTrainer()
    with pytest.raises(optuna.TrialPruned) as caught:
        hf_light.run(trainer, trial)
    assert isinstance(caught.value, RungPruned) and caught.value.rung == 3
    assert trainer.steps_run == 3  # training ended after the pruned step, normally
    assert trainer.callbacks == []
    assert caught.value.result.curves["step"] == [1, 2, 3]  # the partial result carries the curve


def test_in_a_command_trial_the_callback_reports_with_the_client_and_stops_on_request(
        hf_light, tmp_path, monkeypatch):
    monkeypatch.setenv("PARETOLAB_TRIAL_DIR", str(tmp_path))
    monkeypatch.setenv("PARETOLAB_METRICS", str(tmp_path / "metrics.jsonl"))
    callback = hf_light.ParetolabCallback(client, metrics=["kl"])
    control = SimpleNamespace(should_training_stop=False)
    callback.on_log(None, _state(1), control, logs={"kl": 0.25, "loss": 1.0})
    callback.on_step_end(None, _state(1), control)
    assert not control.should_training_stop
    (tmp_path / "stop").touch()  # paretolab asks the program to stop (pruned or timed out)
    callback.on_step_end(None, _state(2), control)
    assert control.should_training_stop
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [{"step": 1, "kl": 0.25}]


# --- a real transformers.Trainer -------------------------------------------------------------

PLAIN_TRAINER = """\
import torch
from torch import nn
from transformers import Trainer, TrainerCallback, TrainingArguments

import paretolab
from paretolab.integrations import hf


class Line(nn.Module):
    def __init__(self, offset):
        super().__init__()
        self.linear, self.offset = nn.Linear(2, 1), offset

    def forward(self, x, y):
        return {"loss": ((self.linear(x).squeeze(-1) - y) ** 2).mean() + self.offset}


def data(n=32):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 2, generator=g)
    return [{"x": x[i], "y": x[i].sum()} for i in range(n)]


def make_trainer(folder, steps, offset=0.0, lr=0.05, seed=0):
    args = TrainingArguments(output_dir=str(folder), max_steps=steps, logging_steps=1, eval_strategy="steps",
                             eval_steps=2, per_device_train_batch_size=4, label_names=["y"], learning_rate=lr,
                             seed=seed, report_to="none", save_strategy="no", use_cpu=True, disable_tqdm=True)
    return Trainer(model=Line(offset), args=args, train_dataset=data(), eval_dataset=data(8))


class Ended(TrainerCallback):  # Trainer.train ran to its end (callbacks' on_train_end included)
    def __init__(self, folder):
        self.folder = folder

    def on_train_end(self, args, state, control, **kwargs):
        (self.folder / "train_end").write_text(str(state.global_step))


def train(trial):
    # each later trial's losses are worse by its number: MO-ASHA prunes it at the first rung
    trainer = make_trainer(trial.dir, trial.steps, offset=float(trial.number), lr=trial.params["lr"],
                           seed=trial.seed)
    trainer.add_callback(Ended(trial.dir))
    try:
        return hf.run(trainer, trial, metrics={"train_loss": "loss", "val_loss": "eval_loss"})
    finally:
        (trial.dir / "steps_run").write_text(str(trainer.state.global_step))
"""


@pytest.mark.slow  # imports transformers' Trainer (10-25 s on a busy 2-core machine)
@needs_hf
def test_a_plain_trainer_reports_its_training_and_evaluation_logs(tmp_path, monkeypatch):
    (tmp_path / "plain.py").write_text(PLAIN_TRAINER)
    monkeypatch.syspath_prepend(str(tmp_path))
    plain = importlib.import_module("plain")
    from paretolab.integrations import hf

    trial = _context(tmp_path, ["loss", "eval_loss"])
    final = hf.run(plain.make_trainer(tmp_path / "out", steps=4), trial)
    curves = trial.log.curves
    # a training log at every step, an evaluation log at steps 2 and 4 (reported with the step's
    # training loss, so that one report holds both); not the end-of-train summary
    assert curves["step"] == [1, 2, 2, 3, 4, 4]
    assert [v is not None for v in curves["eval_loss"]] == [False, False, True, False, False, True]
    assert curves["loss"][2] == curves["loss"][1] and curves["loss"][5] == curves["loss"][4]
    assert "train_runtime" not in curves
    assert final["loss"] == curves["loss"][5] and final["eval_loss"] == curves["eval_loss"][5]
    assert curves["eval_loss"][5] < curves["eval_loss"][2]  # it trained


@pytest.mark.slow
@needs_hf
def test_mo_asha_stops_a_plain_trainer_cleanly_and_the_trial_ends_pruned(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plain.py").write_text(PLAIN_TRAINER)
    text = textwrap.dedent("""\
        name: hf-plain
        trainer: {function: plain.py:train}
        losses: [a]
        objectives: [train_loss, val_loss]
        search:
          params:
            lr: {low: 0.01, high: 0.05, log: true}
        pruning: {method: moasha, min_steps: 2, eta: 2, min_trials: 1, min_agreement: null, control_share: 0}
        budget: {trials: 3, steps: 6}
        """)
    path = tmp_path / "study.yaml"
    path.write_text(text)
    spec = parse_spec(text, filename=str(path), source=str(path))
    runner.run_study(check_study(spec), workers=1, progress=False)
    study = optuna.load_study(study_name=spec.name, storage=open_storage(spec.storage_url))
    records = load_records(study)
    assert [r.state for r in records] == ["COMPLETE", "PRUNED", "PRUNED"], [r.failure for r in records]
    folder = tmp_path / "reports" / spec.slug / "trials"
    assert (folder / "0" / "steps_run").read_text() == "6"
    for r in records[1:]:
        # the Trainer finished the rung's step and ended as usual; the trial is pruned at the rung
        assert (folder / str(r.number) / "steps_run").read_text() == "2"
        assert (folder / str(r.number) / "train_end").read_text() == "2"
        assert r.result.pruned_at == 2
        assert r.result.curves["step"][-1] == 2
    assert records[0].metrics["val_loss"] == records[0].result.curves["val_loss"][-1]
