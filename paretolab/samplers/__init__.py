"""Optuna samplers by short name, with their options checked against the constructor.

``auto`` is :class:`paretolab.samplers.auto.AutoSampler` (multivariate TPE, qLogNEHVI where the
benchmark measured it ahead; the rule is in its module); ``botorch`` is
:class:`paretolab.samplers.ehvi.BoTorchEHVISampler` (qLogNEHVI on BoTorch); the others are
Optuna's own.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any, assert_never

import optuna

from paretolab.errors import SpecError
from paretolab.samplers.auto import MAX_PROPOSAL_SHARE, MODEL_MAX_TRIALS, MODEL_MIN_DIMENSIONS, AutoSampler
from paretolab.samplers.ehvi import BoTorchEHVISampler, require_botorch
from paretolab.spec.base import SAMPLERS, SamplerName


def _sampler_class(name: SamplerName) -> type[optuna.samplers.BaseSampler]:
    """The class of each sampler name of the study file (the one list: ``spec.SamplerName``);
    a name added there without a class here fails the type check and this module's import."""
    match name:
        case "auto":
            return AutoSampler
        case "tpe":
            return optuna.samplers.TPESampler
        case "nsga2":
            return optuna.samplers.NSGAIISampler
        case "nsga3":
            return optuna.samplers.NSGAIIISampler
        case "gp":
            return optuna.samplers.GPSampler
        case "random":
            return optuna.samplers.RandomSampler
        case "qmc":
            return optuna.samplers.QMCSampler
        case "botorch":
            return BoTorchEHVISampler
        case _:
            assert_never(name)


SAMPLER_CLASSES: dict[str, type[optuna.samplers.BaseSampler]] = {
    name: _sampler_class(name) for name in SAMPLERS if name != "auto"}
"""The samplers a study file may name besides ``auto``, by name (derived from ``spec.SAMPLERS``)."""

# What `auto` means is decided by AutoSampler from the benchmark's evidence (samplers/auto.py).
AUTO_DESCRIPTION = (f"TPE, multivariate, n_startup_trials = max(5, trials // 5) configurations; then "
                    f"qLogNEHVI (botorch) where {MODEL_MIN_DIMENSIONS}+ dimensions are searched, the budget "
                    f"is at most {MODEL_MAX_TRIALS} trials and a proposal costs at most "
                    f"{MAX_PROPOSAL_SHARE:g} of a trial's CPU time")


def _valid_options(klass: type) -> list[str]:
    params = inspect.signature(klass).parameters
    return [n for n, p in params.items() if n != "self" and p.kind is not p.VAR_KEYWORD]


def check_sampler_options(name: str, options: dict[str, Any]) -> None:
    """Raise a SpecError for options the sampler's constructor does not take."""
    if name == "auto":
        if options:
            raise SpecError("sampler 'auto' takes no options", where="sampler.options",
                            hint="name a sampler (tpe, nsga2, ...) to set its options")
        return
    klass = SAMPLER_CLASSES[name]
    valid = _valid_options(klass)
    bad = [k for k in options if k not in valid or k == "seed"]
    if bad:
        raise SpecError(f"{klass.__name__} has no option {bad[0]!r}" if bad[0] != "seed"
                        else "the sampler seed comes from the study's 'seed'",
                        where=f"sampler.options.{bad[0]}",
                        hint=f"valid options: {', '.join(v for v in valid if v != 'seed')}")


def make_sampler(name: str, options: dict[str, Any], seed: int, n_trials: int) -> optuna.samplers.BaseSampler:
    """Build the sampler a study file names; ``seed`` makes the sequence reproducible."""
    check_sampler_options(name, options)
    if name == "auto":
        return AutoSampler(seed=seed, n_trials=n_trials)
    klass = SAMPLER_CLASSES[name]
    if klass is BoTorchEHVISampler:
        require_botorch()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return klass(seed=seed, **options)  # type: ignore[call-arg]  # every named sampler takes a seed
    except (TypeError, ValueError) as exc:
        raise SpecError(f"{klass.__name__} rejected the options: {exc}", where="sampler.options") from None
