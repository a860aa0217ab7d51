"""The search space: what one trial samples, turned into a plain :class:`TrialConfig`.

Preference weights on the simplex come in two spreads, and every sampler sees a box:

- ``log`` (default): the additive log-ratio parameterisation of compositional data (Aitchison
  1986): ``r_k = log(w_k / w_1) ~ U(-log R, log R)`` for every loss but the first (parameter
  ``r.<loss>``), ``w = softmax(0, r_2, ..., r_K)``. The ratio to the first loss is log-uniform
  up to ``R = max_ratio`` (default 100); with two losses the single parameter is the trade-off
  itself. Losses of different scales put much of their front at ratios like 1:10 to 1:100,
  where a uniform simplex rarely samples (RESULTS.md, "Sample efficiency": the default was
  chosen there among uniform and R = 10, 100, 1000, 10^4).
- ``uniform``: ``u_k ~ U(0, 1)`` per loss (parameter ``u.<loss>``) mapped by
  ``w_k = -log(u_k) / sum_j -log(u_j)``: i.i.d. exponentials normalised are uniform on the
  simplex (Dirichlet(1, ..., 1); Rubin 1981, the "Bayesian bootstrap").

The weight params' names (``r.``, ``u.``, and ``w.`` for ``weights: {ranges: ...}``) are part of
the stored trial format, defined in :mod:`paretolab.records`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from paretolab.balancers import Setting, get_balancer_class
from paretolab.errors import SpecError, UserError
from paretolab.records import LOG_RATIO_PARAM, RANGE_PARAM, UNIFORM_PARAM, weight_param
from paretolab.records.config import TrialBalancer, TrialConfig
from paretolab.spec import BalancerChoice, Choice, FloatRange, IntRange, StudySpec

_U_LOW = 1e-9  # keeps -log(u) finite


def mixed_seed(*parts: int) -> int:
    """A well-mixed 31-bit seed from integers (NumPy's ``SeedSequence``): same parts, same seed."""
    return int(np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts]).generate_state(1)[0] & 0x7FFFFFFF)


def trial_seed(study_seed: int, trial_number: int) -> int:
    """A well-mixed per-trial seed: same study seed and trial number, same seed."""
    return mixed_seed(study_seed, trial_number)


def _suggest_knob(trial: optuna.Trial, name: str, knob: FloatRange | IntRange | Choice) -> Any:
    if isinstance(knob, FloatRange):
        return trial.suggest_float(name, knob.low, knob.high, log=knob.log, step=knob.step)
    if isinstance(knob, IntRange):
        return trial.suggest_int(name, knob.low, knob.high, log=knob.log, step=knob.step)
    return trial.suggest_categorical(name, knob.choices)


def setting_knob(method: str, key: str, setting: Setting, value: Any) -> Any:
    """Turn a balancer setting's study value into a fixed value or a knob to search.

    ``search`` -> the method's default range; a list -> choices (categorical settings) or
    [low, high] (numeric ones); a mapping -> a full knob; anything else -> fixed.
    """
    where = f"search.balancer.{method}.{key}"
    if value == "search":
        if setting.kind == "categorical":
            return Choice(choices=list(setting.choices or (True, False)))
        if not setting.searchable:
            raise SpecError(f"setting {key!r} of {method} is not searched", where=where,
                            hint="give it a fixed value")
        assert setting.low is not None and setting.high is not None  # a searched number has both
        if setting.kind == "int":
            return IntRange(type="int", low=int(setting.low), high=int(setting.high), log=setting.log)
        return FloatRange(low=setting.low, high=setting.high, log=setting.log)
    try:
        if isinstance(value, list):
            if setting.kind == "categorical":
                return Choice(choices=value)
            if len(value) != 2:
                raise SpecError(f"a range for {key!r} is [low, high], got {value!r}", where=where)
            if setting.kind == "int":
                return IntRange(type="int", low=int(value[0]), high=int(value[1]), log=setting.log)
            return FloatRange(low=float(value[0]), high=float(value[1]),
                              log=setting.log and value[0] > 0)
        if isinstance(value, dict):
            if setting.kind == "categorical":
                return Choice(**value)
            if setting.kind == "int":
                return IntRange(**{"type": "int", **value})
            return FloatRange(**value)
    except (ValueError, TypeError) as exc:
        if isinstance(exc, SpecError):
            raise
        raise SpecError(f"bad range for {key!r}: {exc}", where=where) from None
    return value


def balancer_space(choice: BalancerChoice, base_dir: Path | None = None) -> dict[str, Any]:
    """setting -> fixed value or knob, for one balancer choice (validated against the method).

    ``choice.method`` is a registered name or a reference to the user's own class
    (``pkg.module:Class``, ``path/to/file.py:Class`` relative to ``base_dir``, the study file's
    folder; the current directory when None).
    """
    try:
        klass = get_balancer_class(choice.method, base_dir)
    except UserError as exc:
        raise SpecError(exc.message, where="search.balancer", hint=exc.hint) from None
    except KeyError as exc:
        raise SpecError(str(exc.args[0]), where="search.balancer",
                        hint="run 'paretolab balancers' to list the methods") from None
    unknown = [k for k in choice.settings if k not in klass.settings]
    if unknown:
        valid = ", ".join(sorted(klass.settings)) or "(none)"
        raise SpecError(f"balancer {choice.method!r} has no setting {unknown[0]!r}",
                        where=f"search.balancer.{choice.method}", hint=f"valid settings: {valid}")
    space: dict[str, Any] = {}
    for key, setting in klass.settings.items():
        if key in choice.settings:
            space[key] = setting_knob(choice.method, key, setting, choice.settings[key])
        elif choice.search == "all" and setting.searchable:
            space[key] = setting_knob(choice.method, key, setting, "search")
        else:
            space[key] = setting.default
    return space


def suggest_weights(trial: optuna.Trial, spec: StudySpec, names: list[str]) -> dict[str, float]:
    """Sample (or fix) the preference weights over the balanced loss names."""
    w = spec.search.weights
    if len(names) == 1:
        return {names[0]: 1.0}
    if w.mode == "fixed":
        return {n: float(w.fixed.get(n, 0.0)) for n in names}
    if w.mode == "ranges":
        return {n: float(_suggest_knob(trial, weight_param(RANGE_PARAM, n), w.ranges[n]))
                if n in w.ranges else 1.0 for n in names}
    if w.spread == "log":
        bound = math.log(w.max_ratio)
        logs = [0.0] + [trial.suggest_float(weight_param(LOG_RATIO_PARAM, n), -bound, bound)
                        for n in names[1:]]
        top = max(logs)
        raw = {n: math.exp(v - top) for n, v in zip(names, logs)}
    else:
        raw = {n: -math.log(trial.suggest_float(weight_param(UNIFORM_PARAM, n), _U_LOW, 1.0)) for n in names}
    total = sum(raw.values())
    return {n: v / total for n, v in raw.items()}


def suggest_config(trial: optuna.Trial, spec: StudySpec, balanced_names: list[str],
                   loss_groups: dict[str, dict[str, float]]) -> TrialConfig:
    """Sample one trial's configuration from the study's search space."""
    weights = suggest_weights(trial, spec, balanced_names)
    choices = {c.method: c for c in spec.search.balancer}
    if len(choices) == 1:
        method = next(iter(choices))
    else:
        method = trial.suggest_categorical("balancer", list(choices))
    settings = {}
    for key, value in balancer_space(choices[method], spec.base_dir).items():
        if isinstance(value, (FloatRange, IntRange, Choice)):
            settings[key] = _suggest_knob(trial, f"{method}.{key}", value)
        else:
            settings[key] = value
    train = spec.train.model_dump()
    trainer = spec.trainer
    if trainer is None:
        assert spec.task is not None  # a study has a task or a trainer (checked when parsed)
        task_ref, task_params = spec.task.ref, dict(spec.task.params)
    else:
        task_ref, task_params = trainer.kind, dict(trainer.params)
    for key, knob in spec.search.params.items():
        value = _suggest_knob(trial, key, knob)
        if key.startswith("task.") or (trainer is not None and key not in train):
            task_params[key.removeprefix("task.")] = value
        else:
            train[key] = value
    return TrialConfig(
        weights=weights,
        balancer=TrialBalancer(method, settings),
        train=train,
        task=task_ref,
        task_params=task_params,
        loss_groups=loss_groups,
        seed=trial_seed(spec.seed, trial.number),
        steps=spec.budget.steps,
        eval_every=spec.eval_every,
    )
