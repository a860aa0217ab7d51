"""Optuna samplers by short name, with their options checked against the constructor.

``botorch`` is :class:`paretolab.samplers.ehvi.BoTorchEHVISampler` (qLogNEHVI; needs the ``bo``
extra); the others are Optuna's own.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import optuna

from paretolab.errors import SpecError
from paretolab.samplers.ehvi import BoTorchEHVISampler, require_botorch

SAMPLER_CLASSES: dict[str, type[optuna.samplers.BaseSampler]] = {
    "tpe": optuna.samplers.TPESampler,
    "nsga2": optuna.samplers.NSGAIISampler,
    "nsga3": optuna.samplers.NSGAIIISampler,
    "gp": optuna.samplers.GPSampler,
    "random": optuna.samplers.RandomSampler,
    "qmc": optuna.samplers.QMCSampler,
    "botorch": BoTorchEHVISampler,
}

# What `auto` means: multivariate TPE (models the preference weights jointly, which
# independent TPE does not), with a few random start-up trials scaled to the budget, at every
# budget and dimension. The rule is to switch (per budget or number of searched dimensions)
# only to a sampler measured to reach 95% of the reference hypervolume in fewer training steps
# on the benchmark tasks; `botorch` (qLogNEHVI) was measured against it on 2026-12-04
# (benchmarks/RESULTS.md, "Noisy EHVI"; one seed, 80 trials, digits and multitask_regression):
# later to 95% than auto on both tasks, mixed with pruning, and seconds per proposal instead
# of milliseconds, so auto stays TPE; `sampler: botorch` is there to choose for long trials.
AUTO_DESCRIPTION = "TPE, multivariate, n_startup_trials = max(5, trials // 5)"


def _valid_options(klass: type) -> list[str]:
    params = inspect.signature(klass.__init__).parameters
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
        with warnings.catch_warnings():  # multivariate/group are marked experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True,
                                              n_startup_trials=max(5, n_trials // 5))
    klass = SAMPLER_CLASSES[name]
    if klass is BoTorchEHVISampler:
        require_botorch()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return klass(seed=seed, **options)
    except (TypeError, ValueError) as exc:
        raise SpecError(f"{klass.__name__} rejected the options: {exc}", where="sampler.options") from None
