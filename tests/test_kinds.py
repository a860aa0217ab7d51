"""The trial-kind seam (:mod:`paretolab.kinds`): every study file reaches its kind, a stored
configuration reaches the kind that reproduces it, and a new kind is one registration away."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from paretolab import kinds
from paretolab.kinds import registry
from paretolab.kinds.repeat import Repeated
from paretolab.objective import Objective
from paretolab.records import RepeatRecord, TrialResult, load_records
from paretolab.search_space import TrialBalancer, TrialConfig
from paretolab.spec import parse_spec
from paretolab.spec.checks import check_study

optuna.logging.set_verbosity(optuna.logging.WARNING)

BASE = "name: k\nobjectives: [loss1, loss2]\nbudget: {trials: 2, steps: 5}\n"


@pytest.mark.parametrize(("text", "kind"), [
    ("task: toy\n", "task"),
    ("losses: [a, b]\ntrainer: {function: fns.py:train}\n", "function"),
    ("losses: [a, b]\ntrainer: {command: [python, t.py]}\n", "command"),
    ("task: toy\none_run: {preferences: 3}\n", "one_run"),
])
def test_each_study_file_reaches_its_kind(text: str, kind: str) -> None:
    spec = parse_spec(BASE + text)
    assert kinds.for_spec(spec).name == kind
    assert kinds.for_trial(spec).name == kind


def test_repeats_and_verify_repeats_wrap_the_study_kind() -> None:
    spec = parse_spec(BASE.replace("steps: 5", "steps: 5, repeats: 3") + "task: toy\n")
    kind = kinds.for_trial(spec)
    assert isinstance(kind, Repeated) and kind.seeds == 3 and kind.inner.name == "task"
    plain = parse_spec(BASE + "task: toy\n")
    again = kinds.for_trial(plain, RepeatRecord(of=0, seed=11))
    assert isinstance(again, Repeated) and again.seeds == 1 and again.repeat == RepeatRecord(0, 11)


def _config(**extra: object) -> TrialConfig:
    return TrialConfig(weights={"a": 0.5, "b": 0.5}, balancer={"method": "static", "settings": {}},
                       train={}, task="toy", task_params={}, loss_groups={"a": {"a": 1.0}, "b": {"b": 1.0}},
                       seed=1, steps=5, eval_every=5, extra=dict(extra))


def test_a_stored_config_reaches_the_kind_that_reproduces_it() -> None:
    assert kinds.for_config(_config()).name == "task"
    assert kinds.for_config(_config(trainer={"function": "/x/fns.py:train"})).name == "function"
    assert kinds.for_config(_config(trainer={"command": ["python", "t.py"]})).name == "command"
    assert kinds.for_config(_config(one_run={"run": 3, "preference": {"a": 1.0}})).name == "one_run"


def test_the_balancer_is_typed_and_stored_as_before() -> None:
    config = _config()
    assert config.balancer == TrialBalancer("static", {})
    assert config.to_dict()["balancer"] == {"method": "static", "settings": {}}
    assert TrialConfig.from_dict(config.to_dict()) == config
    assert config.balancer["method"] == "static"  # as the stored dict read


class _Constant:
    """A kind added by registration alone: every trial measures the same two losses."""

    name = "constant"
    uses_folder = False

    def applies(self, spec) -> bool:
        return spec.name == "constant"

    def stored(self, config) -> bool:
        return "constant" in config.extra

    def build_config(self, trial, checked):
        config = registry.TaskKind().build_config(trial, checked)
        config.extra["constant"] = True
        return config

    def run(self, trial, config, ctx):
        return TrialResult(metrics={"loss1": 1.0, "loss2": 2.0}, steps=0), [1.0, 2.0], {}

    def pick_fields(self, record, config):
        return {}

    def reproduce(self, config, **kw):
        raise NotImplementedError


def test_a_registered_kind_runs_the_trials_of_its_studies(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(registry, "_KINDS", list(registry._KINDS))  # registered for this test only
    kinds.register(_Constant())
    spec = parse_spec(BASE.replace("name: k", "name: constant") + "task: toy\n",
                      source=str(tmp_path / "study.yaml"))
    checked = check_study(spec, check_storage_reachable=False)
    study = optuna.create_study(directions=spec.directions)
    study.optimize(Objective(checked, "cpu"), n_trials=2)
    records = load_records(study)
    assert [r.values for r in records] == [[1.0, 2.0], [1.0, 2.0]]
    assert all(r.config["extra"]["constant"] is True and r.metrics == {"loss1": 1.0, "loss2": 2.0}
               for r in records)
