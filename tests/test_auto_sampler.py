"""``sampler: auto``: multivariate TPE, and qLogNEHVI only where the benchmark measured it ahead
(2+ searched dimensions, a budget of at most 100 trials, trials of 10 s or more)."""

from __future__ import annotations

import importlib.util
import math
import warnings

import numpy as np
import optuna
import pytest

from paretolab.samplers import AUTO_DESCRIPTION, make_sampler
from paretolab.samplers.auto import MODEL_MAX_TRIALS, AutoSampler

BOUND = math.log(100)
needs_botorch = pytest.mark.skipif(importlib.util.find_spec("botorch") is None,
                                   reason="the model half of auto needs BoTorch")


def one_dim(trial: optuna.Trial) -> tuple[float, float]:
    a = trial.suggest_float("r.b", -BOUND, BOUND)
    return (a - 1) ** 2, (a + 1) ** 2


def two_dims(trial: optuna.Trial) -> tuple[float, float]:
    a = trial.suggest_float("r.b", -BOUND, BOUND)
    b = trial.suggest_float("r.c", -BOUND, BOUND)
    return (a - 1) ** 2 + b ** 2, (a + 1) ** 2 + b ** 2


@pytest.fixture
def model_calls(monkeypatch):
    """Replace the GP fit and acquisition by a spy that proposes the cube's centre."""
    import paretolab.samplers.ehvi as ehvi
    calls: list[int] = []

    def spy(x, y, con, pending, **kw):
        calls.append(len(x))
        return np.full(x.shape[1], 0.5)

    monkeypatch.setattr(ehvi, "propose", spy)
    return calls


def run(objective, sampler: optuna.samplers.BaseSampler, n: int) -> optuna.Study:
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    study.optimize(objective, n_trials=n)
    return study


def test_auto_is_the_rule_sampler():
    assert isinstance(make_sampler("auto", {}, 0, 40), AutoSampler)
    assert "qLogNEHVI" in AUTO_DESCRIPTION and "max(5, trials // 5)" in AUTO_DESCRIPTION


def test_one_searched_dimension_is_multivariate_tpe_trial_for_trial(model_calls):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        tpe = optuna.samplers.TPESampler(seed=4, multivariate=True, group=True, n_startup_trials=5)
    plain = run(one_dim, tpe, 12)
    auto = run(one_dim, AutoSampler(seed=4, n_trials=20, min_trial_seconds=0.0), 12)
    assert [t.params for t in auto.trials] == [t.params for t in plain.trials]
    assert model_calls == []


@needs_botorch
def test_two_dimensions_hand_over_to_the_model_after_the_start_up(model_calls):
    sampler = AutoSampler(seed=0, n_trials=20, min_trial_seconds=0.0)  # start-up: 5 trials
    study = run(two_dims, sampler, 8)
    assert model_calls == [5, 6, 7]  # trials 5, 6, 7 proposed from the complete ones before them
    assert all(t.params["r.b"] == pytest.approx(0.0, abs=1e-9) for t in study.trials[5:])
    assert sampler.choose(study) == "botorch"


@needs_botorch
def test_short_trials_large_budgets_and_no_botorch_keep_tpe(model_calls, monkeypatch):
    assert AutoSampler(seed=0, n_trials=20).choose(run(two_dims, AutoSampler(seed=0, n_trials=20), 8)) == "tpe"
    assert model_calls == []  # these trials take microseconds, under the 10 s threshold
    big = AutoSampler(seed=0, n_trials=MODEL_MAX_TRIALS + 1, min_trial_seconds=0.0)
    study = run(two_dims, big, 25)  # start-up of 20, then still TPE: a budget above the rule's
    assert model_calls == [] and big.choose(study) == "tpe"
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    assert AutoSampler(seed=0, n_trials=20, min_trial_seconds=0.0).choose(study) == "tpe"


@needs_botorch
def test_the_same_seed_gives_the_same_trials_across_the_hand_over(model_calls):
    first = run(two_dims, AutoSampler(seed=9, n_trials=20, min_trial_seconds=0.0), 7)
    again = run(two_dims, AutoSampler(seed=9, n_trials=20, min_trial_seconds=0.0), 7)
    assert [t.params for t in first.trials] == [t.params for t in again.trials]
