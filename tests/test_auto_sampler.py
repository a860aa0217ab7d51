"""``sampler: auto``: multivariate TPE, and qLogNEHVI only where the benchmark measured it ahead
(2+ searched dimensions, a budget of at most 100 trials, a proposal's CPU time a small share of a
trial's)."""

from __future__ import annotations

import datetime
import importlib.util
import logging
import math
import warnings

import numpy as np
import optuna
import pytest

import paretolab.samplers.auto as auto
from paretolab.samplers import AUTO_DESCRIPTION, make_sampler
from paretolab.samplers.auto import MODEL_MAX_TRIALS, AutoSampler
from paretolab.samplers.ehvi import ProposalTimeout

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
    auto = run(one_dim, AutoSampler(seed=4, n_trials=20, max_proposal_share=None), 12)
    assert [t.params for t in auto.trials] == [t.params for t in plain.trials]
    assert model_calls == []


@needs_botorch
def test_two_dimensions_hand_over_to_the_model_after_the_start_up(model_calls):
    sampler = AutoSampler(seed=0, n_trials=20, max_proposal_share=None)  # start-up: 5 trials
    study = run(two_dims, sampler, 8)
    assert model_calls == [5, 6, 7]  # trials 5, 6, 7 proposed from the complete ones before them
    assert all(t.params["r.b"] == pytest.approx(0.0, abs=1e-9) for t in study.trials[5:])
    assert sampler.choose(study) == "botorch"


@needs_botorch
def test_short_trials_large_budgets_and_no_botorch_keep_tpe(model_calls, monkeypatch):
    assert AutoSampler(seed=0, n_trials=20).choose(run(two_dims, AutoSampler(seed=0, n_trials=20), 8)) == "tpe"
    assert model_calls == []  # these trials take microseconds of CPU: a proposal would cost more
    big = AutoSampler(seed=0, n_trials=MODEL_MAX_TRIALS + 1, max_proposal_share=None)
    study = run(two_dims, big, 25)  # start-up of 20, then still TPE: a budget above the rule's
    assert model_calls == [] and big.choose(study) == "tpe"
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    assert AutoSampler(seed=0, n_trials=20, max_proposal_share=None).choose(study) == "tpe"


@needs_botorch
def test_the_same_seed_gives_the_same_trials_across_the_hand_over(model_calls):
    first = run(two_dims, AutoSampler(seed=9, n_trials=20, max_proposal_share=None), 7)
    again = run(two_dims, AutoSampler(seed=9, n_trials=20, max_proposal_share=None), 7)
    assert [t.params for t in first.trials] == [t.params for t in again.trials]


@pytest.fixture
def cpu_clock(monkeypatch):
    """A fake CPU clock for the trials: ``clock[0]`` seconds, advanced by the objectives."""
    clock = [0.0]
    monkeypatch.setattr(auto, "_cpu_seconds", lambda: clock[0])
    return clock


def _history(durations_s: float, n: int, points: int = 0) -> optuna.Study:
    """``n`` complete two-dimensional trials that each took ``durations_s`` wall-clock seconds
    (as on a loaded machine), and ``points`` one-run points of 0 s."""
    study = optuna.create_study(directions=["minimize", "minimize"])
    dist = optuna.distributions.FloatDistribution(-BOUND, BOUND)
    t0 = datetime.datetime(2026, 1, 1)
    for i in range(n + points):
        seconds = durations_s if i < n else 0.0
        study.add_trial(optuna.trial.FrozenTrial(
            number=i, trial_id=i, state=optuna.trial.TrialState.COMPLETE, value=None, values=[float(i), float(-i)],
            params={"r.b": 0.1 * i, "r.c": -0.1 * i}, distributions={"r.b": dist, "r.c": dist},
            datetime_start=t0, datetime_complete=t0 + datetime.timedelta(seconds=seconds),
            user_attrs={} if i < n else {"one_run": {"role": "point", "run": 0}}, system_attrs={},
            intermediate_values={}))
    return study


@needs_botorch
def test_wall_clock_seconds_do_not_decide(model_calls, cpu_clock):
    """Trials that took a minute of wall-clock time each (a loaded machine) but whose CPU time
    this process did not measure leave auto on TPE: the old rule switched on their durations."""
    sampler = AutoSampler(seed=0, n_trials=20)
    assert sampler.choose(_history(60.0, 8)) == "tpe"
    assert sampler.decide(_history(60.0, 8)) == ("tpe", "no trial's CPU time measured in this process yet")


@needs_botorch
def test_trials_long_in_cpu_time_hand_over_and_short_ones_do_not(model_calls, cpu_clock, caplog):
    def costly(trial: optuna.Trial) -> tuple[float, float]:
        cpu_clock[0] += 20.0  # 20 CPU seconds of training, 10x the proposal's prior cost
        return two_dims(trial)

    sampler = AutoSampler(seed=0, n_trials=20)
    with caplog.at_level(logging.INFO, logger="paretolab.samplers.auto"):
        run(costly, sampler, 7)
    assert model_calls == [5, 6]
    said = [r.getMessage() for r in caplog.records]
    assert any("random sampling (TPE's start-up) proposes from trial 0 on" in m for m in said)
    assert any("qLogNEHVI (BoTorch) proposes from trial 5 on (2 searched dimensions, a budget of 20 trials)"
               in m for m in said)

    def cheap(trial: optuna.Trial) -> tuple[float, float]:
        cpu_clock[0] += 1.0  # a proposal (2 CPU s) would cost twice a trial
        return two_dims(trial)

    short = AutoSampler(seed=0, n_trials=20)
    study = run(cheap, short, 7)
    name, why = short.decide(study)
    assert name == "tpe" and "costs more than 0.25 of a trial" in why


@needs_botorch
def test_a_proposal_past_its_time_limit_falls_back_to_tpe_for_that_trial(monkeypatch, cpu_clock, caplog):
    import paretolab.samplers.ehvi as ehvi

    def too_slow(*args, **kwargs):
        raise ProposalTimeout("the GP fit took over 30 s")

    monkeypatch.setattr(ehvi, "propose", too_slow)

    def costly(trial: optuna.Trial) -> tuple[float, float]:
        cpu_clock[0] += 20.0
        return two_dims(trial)

    with caplog.at_level(logging.INFO, logger="paretolab.samplers.auto"):
        study = run(costly, AutoSampler(seed=0, n_trials=20), 7)
    assert all(t.state.name == "COMPLETE" for t in study.trials)
    fell = [r.getMessage() for r in caplog.records if "instead" in r.getMessage()]
    assert fell == [f"sampler auto: trial {n} proposed by multivariate TPE instead: the GP fit took over 30 s"
                    for n in (5, 6)]


@needs_botorch
def test_one_run_points_count_neither_in_the_start_up_nor_in_the_rule(model_calls, cpu_clock):
    """Three runs and forty 0 s points: still the start-up (5 configurations). Eight runs of
    60 CPU seconds, each adding five points of 0 s: qLogNEHVI, as without the points."""
    sampler = AutoSampler(seed=0, n_trials=20)
    assert sampler.decide(_history(60.0, 3, points=40))[0] == "random"

    def one_run(trial: optuna.Trial) -> tuple[float, float]:
        cpu_clock[0] += 60.0
        values = two_dims(trial)
        dist = optuna.distributions.FloatDistribution(-BOUND, BOUND)
        for k in range(5):  # the run's points: its params, their own values, 0 s
            trial.study.add_trial(optuna.trial.create_trial(
                state=optuna.trial.TrialState.COMPLETE, values=[values[0] + k, values[1] - k],
                params=dict(trial.params), distributions={p: dist for p in trial.params},
                user_attrs={"one_run": {"role": "point", "run": trial.number}}))
        return values

    sampler = AutoSampler(seed=0, n_trials=20)
    study = run(one_run, sampler, 8)
    assert sampler.decide(study)[0] == "botorch"
    runs = [t for t in study.trials if "one_run" not in t.user_attrs]
    assert len(runs) == 8 and len(study.trials) == 48
