"""The sample-efficiency benchmark's reading: the per-budget winner and the generation timer."""

from __future__ import annotations

import math

import numpy as np
import optuna

from benchmarks.bench_sample_efficiency import Timed, first_to_95, hv_curve


def _run(fracs: list[float], steps: int = 100) -> dict:
    """A run whose hypervolume after trial k is fracs[k] (one objective, minimised, reference point 0)."""
    return {"rows": [{"state": "COMPLETE", "steps": steps, "values": [-f]} for f in fracs]}


def test_the_first_to_95_is_read_within_each_budget():
    # fast reaches 95% after 2 trials (200 steps), slow after 6 (600 steps)
    fast = [_run([0.5, 0.96, 0.96, 0.96, 0.96, 0.96])]
    slow = [_run([0.5, 0.6, 0.7, 0.8, 0.9, 0.97])]
    curves = {m: [hv_curve(r["rows"], ["minimize"], np.array([0.0]), 1.0) for r in runs]
              for m, runs in {"fast": fast, "slow": slow}.items()}
    lines = first_to_95(curves, 100, [4, 6])
    assert lines[0].startswith("- budget 4 trials (400 steps): fast 200 (1/1) · slow not reached (0/1)")
    assert lines[0].endswith("first: fast")
    assert "slow 600 (1/1)" in lines[1]


def test_timed_adds_up_generation_seconds_per_trial_and_keeps_the_sampler_behaviour():
    def objective(trial: optuna.Trial) -> float:
        return trial.suggest_float("x", 0, 1) ** 2

    plain = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=3))
    plain.optimize(objective, n_trials=12)
    timed = Timed(optuna.samplers.TPESampler(seed=3))
    study = optuna.create_study(sampler=timed)
    study.optimize(objective, n_trials=12)
    assert [t.params for t in study.trials] == [t.params for t in plain.trials]
    assert sorted(timed.generation_seconds) == list(range(12))
    assert all(0 < s < 5 and math.isfinite(s) for s in timed.generation_seconds.values())
