"""What ``sampler: auto`` means: multivariate TPE, and qLogNEHVI where it was measured ahead.

The rule, from the sample-efficiency benchmark (``benchmarks/RESULTS.md``, "Choosing auto";
issue 21), decided again at every trial from what the study file sets and what this process
measured, never from wall-clock seconds (a loaded machine would switch samplers):

- the first ``max(5, trials // 5)`` *configurations* (complete or pruned, as TPE counts) come
  from random sampling, multivariate TPE's start-up (a one-run study's points are not
  configurations: only its runs count, here and in the rule; nor do ``paretolab verify``'s
  repeats); multivariate TPE goes on until as many are complete;
- after them, where the study searches **two or more dimensions** (the params every complete
  trial has: the simplex log-ratios of three or more losses, a balancer choice, searched
  params) and its budget is **at most** :data:`MODEL_MAX_TRIALS` trials, proposals come from
  qLogNEHVI (:class:`paretolab.samplers.ehvi.BoTorchEHVISampler`, ``sampler: botorch``), as
  long as a proposal costs at most :data:`MAX_PROPOSAL_SHARE` of a trial in **CPU time**:
  the median CPU seconds of the trials this process ran (the process's own and its child
  processes', so command trials count) against the median CPU seconds of its qLogNEHVI
  proposals (:data:`PROPOSAL_CPU_PRIOR` before the first). CPU time is what the work costs,
  whatever else the machine runs; a GPU trial counts the CPU time of launching and waiting;
- everywhere else multivariate TPE goes on.

A qLogNEHVI proposal that runs past :data:`PROPOSAL_TIME_LIMIT` seconds is abandoned and TPE
proposes that trial (one log line says so). The log says which sampler proposes from which
trial on, and why.

The evidence: with 2 searched dimensions (``digits``, three losses) qLogNEHVI reached 95% of the
reference hypervolume first at budgets of 40 and 80 trials, with and without pruning; with one
(``toy`` and ``multitask_regression``) TPE did, and qLogNEHVI was far behind on ``toy``, whose
outcome is chaotic in the weight. Above 80 trials nothing was measured, and a Gaussian process
costs more per proposal as the study grows: TPE there.
"""

from __future__ import annotations

import importlib.util
import logging
import resource
import statistics
import time
import warnings
from collections.abc import Mapping
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from paretolab.samplers.ehvi import BoTorchEHVISampler, ProposalTimeout

MODEL_MIN_DIMENSIONS = 2
MODEL_MAX_TRIALS = 100
MAX_PROPOSAL_SHARE = 0.25  # a proposal may cost up to a quarter of a trial's CPU time
PROPOSAL_CPU_PRIOR = 2.0  # CPU seconds per qLogNEHVI proposal until one is measured
PROPOSAL_TIME_LIMIT = 30.0  # seconds: past it, TPE proposes the trial
_log = logging.getLogger(__name__)


def startup_trials(n_trials: int) -> int:
    """TPE's random start-up under ``auto``: max(5, trials // 5)."""
    return max(5, n_trials // 5)


def is_configuration(attrs: Mapping[str, Any]) -> bool:
    """Is a trial (by its user attributes) a configuration the study chose? Not a one-run
    study's point (its run is), nor a repeat of ``paretolab verify``."""
    from paretolab.records import ONE_RUN_KEY, REPEAT_KEY

    link = attrs.get(ONE_RUN_KEY)
    return REPEAT_KEY not in attrs and not (isinstance(link, Mapping) and link.get("role") == "point")


def _cpu_seconds() -> float:
    """CPU seconds of this process and of its children that ended so far."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


class AutoSampler(optuna.samplers.BaseSampler):
    """``sampler: auto``: the rule in this module's docstring, decided again at every trial.

    ``max_proposal_share`` (default :data:`MAX_PROPOSAL_SHARE`) bounds a proposal's CPU time
    as a share of a trial's; the benchmark sets it to ``None`` to measure the rule as it runs
    on long trials (its trials take a fraction of a second). ``time_limit`` (default
    :data:`PROPOSAL_TIME_LIMIT`) caps one qLogNEHVI proposal. ``n_startup_trials`` overrides
    the start-up (Optuna's sampler battery runs with a short one).
    """

    def __init__(self, *, seed: int | None = None, n_trials: int,
                 max_proposal_share: float | None = MAX_PROPOSAL_SHARE,
                 time_limit: float | None = PROPOSAL_TIME_LIMIT, n_startup_trials: int | None = None) -> None:
        self._startup = startup_trials(n_trials) if n_startup_trials is None else int(n_startup_trials)
        self._n_trials = n_trials
        with warnings.catch_warnings():  # multivariate/group are marked experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            # the start-up is counted here, over configurations only (not one-run points)
            self._tpe = optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, n_startup_trials=0)
        self._random = optuna.samplers.RandomSampler(seed=seed)  # the start-up, as TPE's own
        self._model: BoTorchEHVISampler | None = None
        if n_trials <= MODEL_MAX_TRIALS and importlib.util.find_spec("botorch") is not None:
            self._model = BoTorchEHVISampler(seed=seed, n_startup_trials=0, time_limit=time_limit)
        self._share = max_proposal_share
        self._by_trial: dict[int, optuna.samplers.BaseSampler] = {}
        self._said: str | None = None
        self._trial_cpu: list[float] = []  # CPU seconds of the trials this process ran
        self._proposal_cpu: list[float] = []  # CPU seconds of this process's qLogNEHVI proposals
        self._started: dict[int, float] = {}
        self._proposing: dict[int, float] = {}  # CPU seconds a trial's own proposal took

    def decide(self, study: optuna.Study) -> tuple[str, str]:
        """(``"random"``, ``"tpe"`` or ``"botorch"``, why): who proposes the next trial."""
        ended = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
                 if is_configuration(t.user_attrs)]
        if len(ended) < self._startup:  # TPE's own start-up counts complete and pruned trials
            return "random", f"start-up: {len(ended)} of {self._startup} configurations done"
        complete = [t for t in ended if t.state == TrialState.COMPLETE]
        if len(complete) < self._startup:
            return "tpe", f"{len(complete)} of {self._startup} configurations complete (the model's start)"
        if self._model is None:
            return "tpe", (f"a budget of {self._n_trials} trials (the model: up to {MODEL_MAX_TRIALS})"
                           if self._n_trials > MODEL_MAX_TRIALS else "BoTorch is not installed")
        d = len(self._model.model_space(study))
        if d < MODEL_MIN_DIMENSIONS:
            return "tpe", f"{d} searched dimension(s) (the model: {MODEL_MIN_DIMENSIONS} or more)"
        if self._share is not None:
            proposal = statistics.median(self._proposal_cpu) if self._proposal_cpu else PROPOSAL_CPU_PRIOR
            if not self._trial_cpu:
                return "tpe", "no trial's CPU time measured in this process yet"
            trial = statistics.median(self._trial_cpu)
            if proposal > self._share * trial:
                return "tpe", (f"a qLogNEHVI proposal ({proposal:.2g} CPU s) costs more than "
                               f"{self._share:g} of a trial ({trial:.2g} CPU s)")
        return "botorch", f"{d} searched dimensions, a budget of {self._n_trials} trials"

    def choose(self, study: optuna.Study) -> str:
        """``"tpe"`` or ``"botorch"``: who proposes the next trial of ``study`` (the start-up's
        random sampling is TPE's)."""
        name = self.decide(study)[0]
        return "tpe" if name == "random" else name

    def _sampler(self, trial: FrozenTrial) -> optuna.samplers.BaseSampler:
        return self._by_trial.get(trial.number, self._tpe)

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        name, why = self.decide(study)
        if name != self._said:
            label = {"botorch": "qLogNEHVI (BoTorch)", "tpe": "multivariate TPE",
                     "random": "random sampling (TPE's start-up)"}[name]
            _log.info("sampler auto: %s proposes from trial %d on (%s)", label, trial.number, why)
            self._said = name
        sampler = {"botorch": self._model, "random": self._random}.get(name) or self._tpe
        self._by_trial[trial.number] = sampler
        return sampler.infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        if trial.number not in self._by_trial:  # asked without inferring the space first
            self.infer_relative_search_space(study, trial)
        sampler = self._sampler(trial)
        if sampler is not self._model:
            return sampler.sample_relative(study, trial, search_space)
        start = time.process_time()
        try:
            return sampler.sample_relative(study, trial, search_space)
        except ProposalTimeout as exc:
            _log.warning("sampler auto: trial %d proposed by multivariate TPE instead: %s", trial.number, exc)
            self._by_trial[trial.number] = self._tpe
            return self._tpe.sample_relative(study, trial, self._tpe.infer_relative_search_space(study, trial))
        finally:
            self._proposing[trial.number] = time.process_time() - start
            self._proposal_cpu.append(self._proposing[trial.number])

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self._sampler(trial).sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._started[trial.number] = _cpu_seconds()
        self._tpe.before_trial(study, trial)
        if self._model is not None:
            self._model.before_trial(study, trial)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Any) -> None:
        started = self._started.pop(trial.number, None)
        proposing = self._proposing.pop(trial.number, 0.0)
        if started is not None and state == TrialState.COMPLETE:
            self._trial_cpu.append(_cpu_seconds() - started - proposing)
        self._by_trial.pop(trial.number, None)
        self._tpe.after_trial(study, trial, state, values)
        if self._model is not None:
            self._model.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._tpe.reseed_rng()
        self._random.reseed_rng()
        if self._model is not None:
            self._model.reseed_rng()
