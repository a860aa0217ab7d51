"""Preference-weight parameterisations: the log-ratio spread (default) and the uniform simplex."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest

from paretolab.errors import SpecError
from paretolab.search_space import suggest_weights
from paretolab.spec import parse_spec


def spec_with(weights: str):
    return parse_spec(f"name: s\ntask: toy\nobjectives: [loss1, loss2]\nsearch: {{weights: {weights}}}\n")


def sampled(weights: str, names: list[str], n: int) -> tuple[np.ndarray, list[dict]]:
    """n weight vectors from a seeded random sampler, and the params that produced them."""
    spec = spec_with(weights)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    rows, params = [], []
    for _ in range(n):
        trial = study.ask()
        w = suggest_weights(trial, spec, names)
        rows.append([w[k] for k in names])
        params.append(trial.params)
        study.tell(trial, 0.0)
    return np.array(rows), params


def test_default_spread_is_the_log_ratio_to_the_first_loss() -> None:
    spec = spec_with("simplex")
    assert spec.search.weights.spread == "log" and spec.search.weights.max_ratio == 100
    w = suggest_weights(optuna.trial.FixedTrial({"r.b": math.log(50.0)}), spec, ["a", "b"])
    assert w["b"] / w["a"] == pytest.approx(50.0) and sum(w.values()) == pytest.approx(1.0)
    w3 = suggest_weights(optuna.trial.FixedTrial({"r.b": 0.0, "r.c": -math.log(4.0)}), spec, ["a", "b", "c"])
    assert [w3["a"], w3["b"], w3["c"]] == pytest.approx([4 / 9, 4 / 9, 1 / 9])


def test_log_spread_samples_one_parameter_per_loss_but_the_first_within_max_ratio() -> None:
    weights, params = sampled("{spread: log, max_ratio: 100}", ["a", "b", "c"], 400)
    assert all(set(p) == {"r.b", "r.c"} for p in params)
    assert np.allclose(weights.sum(axis=1), 1.0) and (weights > 0).all()
    ratios = weights[:, 1:] / weights[:, :1]
    assert ratios.min() >= 1 / 100 - 1e-12 and ratios.max() <= 100 + 1e-9
    # log-uniform on [1/100, 100]: a quarter of the ratios above 10, a quarter below 1/10
    assert 0.18 < (ratios > 10).mean() < 0.32 and 0.18 < (ratios < 0.1).mean() < 0.32


def test_log_spread_reaches_extreme_trade_offs_the_uniform_simplex_rarely_does() -> None:
    log_w, _ = sampled("simplex", ["a", "b"], 500)
    uni_w, uni_params = sampled("{mode: simplex, spread: uniform}", ["a", "b"], 500)
    assert all(set(p) == {"u.a", "u.b"} for p in uni_params)
    assert np.allclose(uni_w.sum(axis=1), 1.0)
    extreme = lambda w: (np.minimum(w[:, 0], w[:, 1]) < 0.05).mean()  # noqa: E731 - beyond ~1:19
    # uniform on the simplex: P(min weight < 0.05) = 0.1; log-uniform ratio up to 100: 0.36
    assert extreme(uni_w) < 0.15 and extreme(log_w) > 0.28


def test_spread_belongs_to_the_simplex_mode() -> None:
    with pytest.raises(SpecError, match="spread"):
        spec_with("{mode: fixed, fixed: {loss1: 1, loss2: 1}, spread: log}")
    with pytest.raises(SpecError, match="max_ratio"):
        spec_with("{max_ratio: 1}")
    assert spec_with("{spread: uniform}").search.weights.mode == "simplex"
