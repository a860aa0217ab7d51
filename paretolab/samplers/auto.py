"""What ``sampler: auto`` means: multivariate TPE, and qLogNEHVI where it was measured ahead.

The rule, from the sample-efficiency benchmark (``benchmarks/RESULTS.md``, "Choosing auto";
issue 21), per budget and number of searched dimensions:

- the first ``max(5, trials // 5)`` complete trials come from multivariate TPE's random start-up
  (Optuna's ``TPESampler(multivariate=True, group=True)``);
- after them, where the study searches **two or more dimensions** (Optuna's intersection search
  space: the simplex log-ratios of three or more losses, a balancer choice, searched params), its
  budget is **at most** :data:`MODEL_MAX_TRIALS` trials and its complete trials took at least
  :data:`MODEL_MIN_TRIAL_SECONDS` seconds (median), proposals come from qLogNEHVI
  (:class:`paretolab.samplers.ehvi.BoTorchEHVISampler`, ``sampler: botorch``);
- everywhere else multivariate TPE goes on.

The evidence: with 2 searched dimensions (``digits``, three losses) qLogNEHVI reached 95% of the
reference hypervolume first at budgets of 40 and 80 trials, with and without pruning; with one
(``toy`` and ``multitask_regression``) TPE did, and qLogNEHVI was far behind on ``toy``, whose
outcome is chaotic in the weight. Above 80 trials nothing was measured, and a Gaussian process
costs more per proposal as the study grows: TPE there. A proposal by qLogNEHVI costs 1-3 s of
CPU, so trials shorter than the threshold keep TPE, whose proposals take milliseconds.
"""

from __future__ import annotations

import importlib.util
import logging
import statistics
import warnings
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from paretolab.samplers.ehvi import BoTorchEHVISampler

MODEL_MIN_DIMENSIONS = 2
MODEL_MAX_TRIALS = 100
MODEL_MIN_TRIAL_SECONDS = 10.0
_log = logging.getLogger(__name__)


def startup_trials(n_trials: int) -> int:
    """TPE's random start-up under ``auto``: max(5, trials // 5)."""
    return max(5, n_trials // 5)


class AutoSampler(optuna.samplers.BaseSampler):
    """``sampler: auto``: the rule in this module's docstring, decided again at every trial.

    ``min_trial_seconds`` (default :data:`MODEL_MIN_TRIAL_SECONDS`) is the trial length below
    which TPE stays; the benchmark sets it to 0 to measure the rule as it runs on long trials.
    """

    def __init__(self, *, seed: int | None = None, n_trials: int,
                 min_trial_seconds: float = MODEL_MIN_TRIAL_SECONDS) -> None:
        self._startup = startup_trials(n_trials)
        with warnings.catch_warnings():  # multivariate/group are marked experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self._tpe = optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True,
                                                   n_startup_trials=self._startup)
        self._model: BoTorchEHVISampler | None = None
        if n_trials <= MODEL_MAX_TRIALS and importlib.util.find_spec("botorch") is not None:
            self._model = BoTorchEHVISampler(seed=seed, n_startup_trials=0)
        self._min_seconds = float(min_trial_seconds)
        self._by_trial: dict[int, optuna.samplers.BaseSampler] = {}
        self._said: str | None = None

    def choose(self, study: optuna.Study) -> str:
        """``"tpe"`` or ``"botorch"``: who proposes the next trial of ``study``."""
        if self._model is None:
            return "tpe"
        complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if len(complete) < self._startup:
            return "tpe"
        if len(self._model.model_space(study)) < MODEL_MIN_DIMENSIONS:
            return "tpe"
        if self._min_seconds > 0:
            seconds = [t.duration.total_seconds() for t in complete if t.duration is not None]
            if not seconds or statistics.median(seconds) < self._min_seconds:
                return "tpe"
        return "botorch"

    def _sampler(self, trial: FrozenTrial) -> optuna.samplers.BaseSampler:
        return self._by_trial.get(trial.number, self._tpe)

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        name = self.choose(study)
        if name != self._said:
            _log.info("sampler auto: %s proposes from trial %d on", "qLogNEHVI (BoTorch)" if name == "botorch"
                      else "multivariate TPE", trial.number)
            self._said = name
        sampler = self._model if name == "botorch" and self._model is not None else self._tpe
        self._by_trial[trial.number] = sampler
        return sampler.infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return self._sampler(trial).sample_relative(study, trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self._sampler(trial).sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._tpe.before_trial(study, trial)
        if self._model is not None:
            self._model.before_trial(study, trial)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Any) -> None:
        self._by_trial.pop(trial.number, None)
        self._tpe.after_trial(study, trial, state, values)
        if self._model is not None:
            self._model.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._tpe.reseed_rng()
        if self._model is not None:
            self._model.reseed_rng()
