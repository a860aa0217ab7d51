"""Refining a one-run front with per-weight trials (``one_run: {..., then: sampler}``).

The first trial of such a study is the run (a soup or a manifold, :mod:`paretolab.one_run.trial`);
every later one is an ordinary per-weight trial of the study's sampler. The run's points carry
their preference as the sampler's own weight params (``r.<loss>`` = the log-ratio to the first
loss, clipped to the searched range; ``u.<loss>`` = ``exp(-w)``, which the uniform spread maps
back to ``w``), so the sampler models them like the trials it proposed and puts the next ones
where the interpolated front is dominated or sparse.

Which trial is the run, with several workers: a trial is the run while no run has completed and
no live trial numbered below it is (or may yet become) the run; a re-run of a lost trial keeps
its role. So exactly one run completes however many workers start together; a failed run is
redone by the next trial.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, FloatDistribution

from paretolab.one_run.outcome import ONE_RUN_EXTRA
from paretolab.records import LOG_RATIO_PARAM, UNIFORM_PARAM, OneRunRecord, TrialStart, weight_param
from paretolab.spec import StudySpec

U_LOW = 1e-9  # the uniform spread's lower bound (paretolab.search_space)


def _is_run_config(start: TrialStart | None) -> bool | None:
    """True/False from a trial's start record; None while it has none (its role is undecided)."""
    if start is None:
        return None
    return isinstance((start.config.get("extra") or {}).get(ONE_RUN_EXTRA), Mapping)


def is_run(trial: optuna.Trial, spec: StudySpec) -> bool:
    """Does this trial train the study's one run (True in every one_run study without ``then``)?"""
    if spec.one_run is None:
        return False
    if spec.one_run.then is None:
        return True
    own = _is_run_config(TrialStart.read(trial))  # a re-run of a lost attempt keeps its role
    if own is not None:
        return own
    for other in trial.study.get_trials(deepcopy=False):
        if other.number == trial.number:
            continue
        link = OneRunRecord.read(other)
        if other.state == optuna.trial.TrialState.COMPLETE and link is not None and link.role == "run":
            return False
        if other.state == optuna.trial.TrialState.RUNNING and other.number < trial.number \
                and _is_run_config(TrialStart.read(other)) is not False:
            return False
    return True


def weight_params(spec: StudySpec, weights: Mapping[str, float], names: list[str]
                  ) -> tuple[dict[str, float], dict[str, BaseDistribution]]:
    """The sampler's weight params (and their distributions) standing for ``weights``."""
    w = spec.search.weights
    params: dict[str, float] = {}
    dists: dict[str, BaseDistribution] = {}
    if len(names) < 2:
        return params, dists
    total = sum(max(0.0, float(weights[n])) for n in names) or 1.0
    share = {n: max(0.0, float(weights[n])) / total for n in names}
    if w.spread == "log":
        bound = math.log(w.max_ratio)
        for n in names[1:]:
            ratio = math.log(max(share[n], 1e-300)) - math.log(max(share[names[0]], 1e-300))
            key = weight_param(LOG_RATIO_PARAM, n)
            params[key], dists[key] = min(bound, max(-bound, ratio)), FloatDistribution(-bound, bound)
    else:
        for n in names:
            key = weight_param(UNIFORM_PARAM, n)
            params[key] = min(1.0, max(U_LOW, math.exp(-share[n])))
            dists[key] = FloatDistribution(U_LOW, 1.0)
    return params, dists


def point_params(trial: optuna.Trial, spec: StudySpec, preference: Mapping[str, float]
                 ) -> tuple[dict[str, Any], dict[str, BaseDistribution]]:
    """A point's params: its run's, plus (with ``then: sampler``) its preference as weight params."""
    params: dict[str, Any] = dict(trial.params)
    dists: dict[str, BaseDistribution] = dict(trial.distributions)
    if spec.one_run is not None and spec.one_run.then == "sampler":
        extra, extra_dists = weight_params(spec, preference, list(preference))
        params.update(extra)
        dists.update(extra_dists)
    return params, dists
