"""Noisy expected hypervolume improvement (qLogNEHVI) on BoTorch, as an Optuna sampler.

Follows Daulton, Balandat and Bakshy, "Parallel Bayesian Optimization of Multiple Noisy
Objectives with Expected Hypervolume Improvement" (NeurIPS 2021) for the acquisition, in the
log form of Ament et al., "Unexpected Improvements to Expected Improvement for Bayesian
Optimization" (NeurIPS 2023), which keeps its gradients usable where the improvement is tiny.
BoTorch does the modelling and the optimisation; this module only decides what the model sees:

- **Warm-up**: scrambled Sobol points (Optuna's ``QMCSampler``) until ``n_startup_trials``
  trials are complete (default ``max(5, 2 * d)`` for ``d`` searched dimensions, the rule Ax's
  default strategy uses).
- **Search space**: the params every complete trial has (Optuna's intersection search space),
  scaled to the unit cube (log-scaled params in log space, a categorical one-hot); the
  simplex log-ratio weights ``r.<loss>`` are plain boxes there. A param the model cannot see,
  a balancer setting that exists only for one balancer, is drawn by an independent
  (univariate) TPE sampler.
- **Model**: one Gaussian process per objective and per constraint (BoTorch's ``SingleTaskGP``,
  noise inferred, outcomes standardised), on COMPLETE trials only: the full-length results.
  Values far on the bad side of the observed front are clipped to a bound (the front's worst
  value minus its range per objective), so a diverged trial does not flatten the model.
- **Constraints**: each constraint violation (feasible when ``<= 0``, paretolab's stored
  form, read through :func:`paretolab.records.read_violations`) is modelled and weights the
  improvement by the probability of feasibility (qLogNEHVI's ``constraints``); the reference
  point comes from the feasible front.
- **Pending points**: a RUNNING trial of another worker, and a PRUNED or FAILED trial, enters
  as a pending point (``X_pending``): its outcome is integrated over, so the acquisition does
  not propose it again. Without this a pruned trial, which adds no data, would leave the model
  as it was and the same point would come back. A pruned trial counts as a configuration
  tried whose full-length outcome is unknown, not as a bad outcome (the rung judged it against
  the trials of that moment, not against the front); only the latest :data:`PENDING_LIMIT`
  pruned or failed trials stay pending (every running one does), so the set, and the joint
  posterior each proposal integrates over, stays bounded as the study grows: the recent ones
  are where the acquisition was last drawn to.
- **Optimisation effort**: the acquisition is maximised from ``raw_samples`` random points and
  ``num_restarts`` L-BFGS-B starts; by default both scale with the dimension ``d`` (256 d raw
  samples up to 1,024, 2 + 2 d restarts up to 10). Against a flat 512/10, on saved benchmark
  histories (digits, d = 2, and multitask_regression, d = 1; 30 and 80 trials; 3 seeds each),
  23 of 24 proposals were the same and the median time per proposal fell from 2.2 to 1.5 s.
- **Rung results** (``rung_results=True``, off by default): with pruning, each trial's
  standing at every rung it reached (:class:`paretolab.records.RungRecord`) joins the data
  with an extra input, the fidelity ``steps / full steps``, beside the full-length results at
  fidelity 1 ("fidelity as a feature", one ARD kernel over both). The acquisition is qLogNEHVI
  at fidelity 1 (BoTorch's ``FixedFeatureAcquisitionFunction``); a pruned trial is then no
  longer a pending point but a baseline point whose full-length outcome the model predicts from
  its rung values. With constraints, the model sees each constraint's signed value at every
  rung (as at full length; a clipped total violation is 0 everywhere feasible, and the model
  could not tell a clearly feasible point from a marginal one). Rung records written before
  they carried the signed values fall back to the total violation.
- **Start points**: the acquisition is evaluated at the raw samples ``init_batch_limit``
  (default 64) at a time; BoTorch's default there is the L-BFGS-B batch (5), which made
  the raw-sample evaluation about half of a proposal's time (cProfile on a saved digits
  history: 103 calls of the acquisition for 512 raw samples, 3.7 of 7.2 s).
- **Warm start** (``warm_start``, on by default): the GP fit starts at the hyperparameters
  the sampler's previous fit of the same shape ended at, not at the priors' defaults: from
  one proposal to the next the data gain a point and the optimum barely moves, so L-BFGS-B
  needs fewer steps (``benchmarks/bench_proposal_cost.py`` measures it on saved histories).
- **Non-finite values**: an infinite objective value (``add_trial``, another client on the
  storage) is clipped to its objective's finite range before the fit, as Optuna's GP sampler
  does; left in, standardising the outcomes turns it into NaN and every later fit fails.
- **Time limit** (``time_limit`` seconds, none by default): a proposal that runs past it
  raises :class:`ProposalTimeout` (``sampler: auto`` then asks TPE for that trial).
- **Seeds**: each proposal runs under ``seed`` mixed with the trial number, so the same history
  and seed give the same proposal whichever worker asks.

``generation_seconds`` holds, per trial number, the seconds this process spent proposing it
(model fit and acquisition optimisation).
"""

from __future__ import annotations

import logging
import time
import warnings
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.search_space import IntersectionSearchSpace
from optuna.trial import FrozenTrial, TrialState

from paretolab.errors import UserError
from paretolab.records import TrialResult, read_rungs, read_violations

PENDING_LIMIT = 10  # the latest pruned or failed trials that stay pending points
INSTALL_HINT = "pip install 'botorch>=0.18.1,<0.19'  (a paretolab dependency: the install is incomplete)"
_log = logging.getLogger(__name__)


def require_botorch() -> None:
    """Raise a one-line UserError when BoTorch is not installed."""
    try:
        import botorch  # noqa: F401
    except ImportError:
        raise UserError("the botorch sampler needs BoTorch, which is not installed",
                        where="sampler", hint=INSTALL_HINT) from None


def _mixed(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts]).generate_state(1)[0] & 0x7FFFFFFF)


def _clip_bad_tail(y: np.ndarray, front: np.ndarray) -> np.ndarray:
    """Clip each column (larger is better) from below at the front's worst value minus its range."""
    low, high = front.min(axis=0), front.max(axis=0)
    span = np.maximum(high - low, 1e-9 * np.maximum(1.0, np.abs(high)))
    return np.maximum(y, low - span)


class ProposalTimeout(RuntimeError):
    """A proposal ran past its ``time_limit`` (``sampler: auto`` then asks TPE for that trial)."""


def finite_outcomes(y: np.ndarray) -> np.ndarray:
    """``y`` with each column's infinite values clipped to that column's finite range (as
    Optuna's GP sampler does; 0 where a column has no finite value): one trial with an
    infinite objective would otherwise make every later fit fail on NaN."""
    y = np.array(y, dtype=float)
    for j in range(y.shape[1]):
        col = y[:, j]
        ok = np.isfinite(col)
        low, high = (col[ok].min(), col[ok].max()) if ok.any() else (0.0, 0.0)
        y[:, j] = np.clip(np.nan_to_num(col, nan=low, posinf=high, neginf=low), low, high)
    return y


def _pareto_mask(y: np.ndarray) -> np.ndarray:
    """Rows of ``y`` (larger is better) no other row dominates."""
    keep = np.ones(len(y), dtype=bool)
    for i in range(len(y)):
        dominated = np.all(y >= y[i], axis=1) & np.any(y > y[i], axis=1)
        keep[i] = not dominated.any()
    return keep


def effort(d: int, num_restarts: int | None = None, raw_samples: int | None = None) -> tuple[int, int]:
    """(restarts, raw samples) of the acquisition optimisation for ``d`` dimensions; given values win."""
    return (min(10, 2 + 2 * d) if num_restarts is None else num_restarts,
            min(1024, 256 * d) if raw_samples is None else raw_samples)


def _front_of(y: np.ndarray, feasible: np.ndarray) -> np.ndarray:
    pool = y[feasible] if feasible.any() else y
    return pool[_pareto_mask(pool)]


def propose(train_x: np.ndarray, train_y: np.ndarray, train_con: np.ndarray | None,
            pending_x: np.ndarray | None, *, seed: int, fidelity: np.ndarray | None = None,
            baseline_x: np.ndarray | None = None, mc_samples: int = 128,
            num_restarts: int | None = None, raw_samples: int | None = None, init_batch_limit: int = 64,
            warm: dict[Any, Any] | None = None, time_limit: float | None = None) -> np.ndarray:
    """One candidate in the unit cube maximising qLogNEHVI (qLogNEI for one objective).

    ``train_x``: (n, d) in [0, 1]; ``train_y``: (n, m), larger is better; ``train_con``: (n, c)
    violations, feasible when <= 0; ``pending_x``: (p, d) points whose outcome is not known.
    With ``fidelity`` ((n,) in (0, 1], 1 = full length) the model takes it as an extra input
    and the candidate maximises the acquisition at fidelity 1; ``baseline_x`` ((b, d)) are then
    the configurations whose full-length outcome counts as observed (default: the rows at 1).
    ``warm``: a dict this call reads the GP hyperparameters of an earlier fit from (the fit
    starts there) and writes its own to. ``time_limit``: seconds after which the proposal is
    abandoned (:class:`ProposalTimeout`), checked after the fit and bounding the acquisition's
    optimisation.
    """
    import torch

    train_y = finite_outcomes(train_y)
    n_obj = train_y.shape[1]
    feasible = np.ones(len(train_y), dtype=bool) if train_con is None else np.all(train_con <= 0, axis=1)
    full = np.ones(len(train_y), dtype=bool) if fidelity is None else fidelity >= 1.0
    front = _front_of(train_y[full], feasible[full]) if full.any() else _front_of(train_y, feasible)
    y = train_y.copy()
    for level in ([1.0] if fidelity is None else np.unique(fidelity)):
        rows = full if fidelity is None else fidelity == level  # each length clipped by its own front
        y[rows] = _clip_bad_tail(train_y[rows], _front_of(train_y[rows], feasible[rows]))
    outcomes = y if train_con is None else np.concatenate([y, train_con], axis=1)
    d = train_x.shape[1]

    def one(a: np.ndarray) -> np.ndarray:  # at full length: the fidelity column set to 1
        return a if fidelity is None else np.concatenate([a, np.ones((len(a), 1))], axis=1)

    tx = torch.as_tensor(train_x if fidelity is None else np.concatenate([train_x, fidelity[:, None]], axis=1),
                         dtype=torch.float64)
    baseline = torch.as_tensor(one(train_x[full] if baseline_x is None else baseline_x), dtype=torch.float64)
    ty = torch.as_tensor(outcomes, dtype=torch.float64)
    pending = None if pending_x is None or len(pending_x) == 0 else torch.as_tensor(one(pending_x), dtype=torch.float64)
    n_con = 0 if train_con is None else train_con.shape[1]
    constraints = [(lambda z, i=i: z[..., n_obj + i]) for i in range(n_con)] or None
    num_restarts, raw_samples = effort(d, num_restarts, raw_samples)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a small GP: more threads only contend (10x slower on 2 busy cores)
    try:
        return _fit_and_optimise(tx, ty, baseline, pending, n_obj, n_con, constraints, front, d, seed,
                                 mc_samples, num_restarts, raw_samples, fidelity is not None,
                                 warm, time_limit, init_batch_limit)
    finally:
        torch.set_num_threads(threads)


_said_first = False


def _say_first_acquisition() -> None:
    """One log line before this process's first acquisition: BoTorch 0.18 compiles its fused
    qLogNEHVI kernel (C++, once per machine, cached under ~/.cache/torch_extensions) the first
    time one is built; cProfile caught 154 s of a first proposal there on a busy 2-core
    machine, with nothing on screen."""
    global _said_first
    if not _said_first:
        _said_first = True
        _log.info("first qLogNEHVI proposal in this process: BoTorch may compile its fused kernel "
                  "first (once per machine; minutes on a busy CPU)")


def _first_outcome(z: Any, x: Any = None) -> Any:
    return z[..., 0]


def _fit_and_optimise(tx: Any, ty: Any, baseline: Any, pending: Any, n_obj: int, n_con: int,
                      constraints: Any, front: np.ndarray, d: int, seed: int, mc_samples: int,
                      num_restarts: int, raw_samples: int, at_full_length: bool,
                      warm: dict[Any, Any] | None = None, time_limit: float | None = None,
                      init_batch_limit: int = 64) -> np.ndarray:
    import torch
    from botorch.acquisition.fixed_feature import FixedFeatureAcquisitionFunction
    from botorch.acquisition.logei import qLogNoisyExpectedImprovement
    from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
    from botorch.acquisition.multi_objective.objective import IdentityMCMultiOutputObjective
    from botorch.acquisition.objective import GenericMCObjective
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms.outcome import Standardize
    from botorch.optim import optimize_acqf
    from botorch.sampling import SobolQMCNormalSampler
    from botorch.utils.multi_objective.hypervolume import infer_reference_point
    from botorch.utils.sampling import manual_seed
    from gpytorch.mlls import ExactMarginalLogLikelihood

    start = time.perf_counter()
    with manual_seed(seed), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # BoTorch's numerical and input-scaling notes
        model = SingleTaskGP(tx, ty, outcome_transform=Standardize(m=ty.shape[1]))
        key = (tuple(tx.shape[1:]), tuple(ty.shape[1:]))
        if warm is not None and key in warm:  # start the fit at the last fit's hyperparameters
            own = model.state_dict()
            model.load_state_dict({k: v for k, v in warm[key].items() if k in own and own[k].shape == v.shape},
                                  strict=False)
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model),
                         optimizer_kwargs={"timeout_sec": time_limit} if time_limit else None)
        if warm is not None:
            warm[key] = {k: v.detach().clone() for k, v in model.state_dict().items()
                         if not k.startswith("outcome_transform")}
        if time_limit is not None and time.perf_counter() - start > time_limit:
            raise ProposalTimeout(f"the GP fit took over {time_limit:g} s")
        sampler = SobolQMCNormalSampler(sample_shape=torch.Size([mc_samples]))
        _say_first_acquisition()
        acqf: Any
        if n_obj == 1:
            acqf = qLogNoisyExpectedImprovement(
                model, X_baseline=baseline, sampler=sampler, X_pending=pending, prune_baseline=True,
                objective=GenericMCObjective(_first_outcome) if n_con else None,
                constraints=constraints)
        else:
            ref = infer_reference_point(torch.as_tensor(front, dtype=torch.float64))
            acqf = qLogNoisyExpectedHypervolumeImprovement(
                model, ref_point=ref.tolist(), X_baseline=baseline, sampler=sampler, X_pending=pending,
                prune_baseline=True, constraints=constraints,
                objective=IdentityMCMultiOutputObjective(outcomes=list(range(n_obj))) if n_con else None)
        if at_full_length:  # the extra input is the fidelity: maximise at full length
            acqf = FixedFeatureAcquisitionFunction(acqf, d=d + 1, columns=[d], values=[1.0])
        bounds = torch.stack([torch.zeros(d, dtype=torch.float64), torch.ones(d, dtype=torch.float64)])
        left = None if time_limit is None else max(0.1, time_limit - (time.perf_counter() - start))
        candidate, _ = optimize_acqf(acqf, bounds=bounds, q=1, num_restarts=num_restarts,
                                     raw_samples=raw_samples,
                                     options={"batch_limit": 5, "init_batch_limit": init_batch_limit,
                                              "maxiter": 200},
                                     timeout_sec=left)
        if time_limit is not None and time.perf_counter() - start > time_limit:
            raise ProposalTimeout(f"the proposal took over {time_limit:g} s")
    return candidate.detach().numpy().reshape(-1)


class BoTorchEHVISampler(optuna.samplers.BaseSampler):
    """Optuna sampler proposing by qLogNEHVI (Daulton et al. 2021; Ament et al. 2023); see the module."""

    def __init__(self, *, seed: int | None = None, n_startup_trials: int | None = None,
                 mc_samples: int = 128, num_restarts: int | None = None, raw_samples: int | None = None,
                 pending: bool = True, rung_results: bool = False, warm_start: bool = True,
                 time_limit: float | None = None, init_batch_limit: int = 64) -> None:
        self._seed = int(np.random.SeedSequence().generate_state(1)[0] & 0x7FFFFFFF) if seed is None else int(seed)
        self._n_startup = n_startup_trials
        self._warm_fits: dict[Any, Any] | None = {} if warm_start else None
        self._options: dict[str, Any] = {"mc_samples": mc_samples, "num_restarts": num_restarts,
                                         "raw_samples": raw_samples, "time_limit": time_limit,
                                         "init_batch_limit": init_batch_limit}
        self._pending = pending
        self._rungs = rung_results
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self._warmup = optuna.samplers.QMCSampler(
                qmc_type="sobol", scramble=True, seed=self._seed, warn_independent_sampling=False,
                independent_sampler=optuna.samplers.RandomSampler(seed=self._seed))
            self._independent = optuna.samplers.TPESampler(seed=self._seed)
        self._space = IntersectionSearchSpace()
        self._warm: dict[int, bool] = {}
        self.generation_seconds: dict[int, float] = {}

    def reseed_rng(self) -> None:
        self._seed = int(np.random.SeedSequence().generate_state(1)[0] & 0x7FFFFFFF)
        self._warmup.reseed_rng()
        self._independent.reseed_rng()

    def model_space(self, study: optuna.Study) -> dict[str, BaseDistribution]:
        """What the model sees: the params every complete trial has, less single-valued ones."""
        return {k: v for k, v in self._space.calculate(study).items() if not v.single()}

    def n_startup(self, space: dict[str, BaseDistribution]) -> int:
        """Complete trials before the model proposes: the option, else max(5, 2 * dimensions)."""
        return self._n_startup if self._n_startup is not None else max(5, 2 * len(space))

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        space = self.model_space(study) if complete else {}
        warm = not space or len(complete) < max(2, self.n_startup(space))
        self._warm[trial.number] = warm
        return self._warmup.infer_relative_search_space(study, trial) if warm else space

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        if not search_space:
            return {}
        if self._warm.get(trial.number, True):
            return self._warmup.sample_relative(study, trial, search_space)
        from optuna._transform import _SearchSpaceTransform  # what Optuna's own GP and BoTorch samplers use

        start = time.perf_counter()
        trans = _SearchSpaceTransform(search_space, transform_0_1=True)
        complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                    if all(p in t.params for p in search_space)]
        sign = np.array([1.0 if d == optuna.study.StudyDirection.MAXIMIZE else -1.0 for d in study.directions])
        x = np.array([trans.transform({p: t.params[p] for p in search_space}) for t in complete])
        y = np.array([t.values for t in complete], dtype=float) * sign
        con = self._constraints(complete)
        extra: dict[str, Any] = {}
        pending_states: tuple[TrialState, ...] = (
            (TrialState.RUNNING, TrialState.PRUNED, TrialState.FAIL) if self._pending else ())
        with_rungs = self._with_rungs(study, search_space, trans, complete, x, y, sign) if self._rungs else None
        if with_rungs is not None:
            x, y, con, extra = with_rungs
            pending_states = tuple(s for s in pending_states if s != TrialState.PRUNED)
        pend = [trans.transform({p: t.params[p] for p in search_space})
                for t in self._pending_trials(study, pending_states)
                if t.number != trial.number and all(p in t.params for p in search_space)]
        candidate = propose(x, y, con, np.array(pend) if pend else None,
                            seed=_mixed(self._seed, trial.number), warm=self._warm_fits, **extra,
                            **self._options)
        params = trans.untransform(np.clip(candidate, 0.0, 1.0))
        seconds = time.perf_counter() - start
        self.generation_seconds[trial.number] = seconds
        _log.info("trial %d proposed by qLogNEHVI from %d complete and %d pending trials in %.2f s",
                  trial.number, len(complete), len(pend), seconds)
        return params

    @staticmethod
    def _pending_trials(study: optuna.Study, states: tuple[TrialState, ...]) -> list[FrozenTrial]:
        """Every RUNNING trial of ``states``, and the latest :data:`PENDING_LIMIT` PRUNED or
        FAILED ones: the set stays bounded as the study grows."""
        trials = study.get_trials(deepcopy=False, states=states)
        running = [t for t in trials if t.state == TrialState.RUNNING]
        ended = [t for t in trials if t.state != TrialState.RUNNING]
        return running + ended[-PENDING_LIMIT:]

    @staticmethod
    def _with_rungs(study: optuna.Study, search_space: dict[str, BaseDistribution], trans: Any,
                    complete: list[FrozenTrial], x: np.ndarray, y: np.ndarray,
                    sign: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, dict[str, Any]] | None:
        """The full-length rows plus every rung record below full length, each with its
        fidelity (steps / full steps); with constraints, the total violation as one column.
        ``None`` when there is no rung record below full length (no pruning yet)."""
        full_steps = max((TrialResult.read(t).steps or 0 for t in complete), default=0)
        pruned = [t for t in study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))
                  if all(p in t.params for p in search_space)]
        rows = [read_violations(t) for t in complete]
        keys = [k for k in rows[0] if all(k in r for r in rows)] if rows else []
        records = [(t, {s: r for s, r in read_rungs(t).items() if full_steps and s < full_steps})
                   for t in complete + pruned]
        # the signed constraint values where every rung record has them (a clipped total is 0
        # everywhere feasible: the model could not tell a clearly feasible point from a marginal one)
        signed = bool(keys) and all(all(k in rec.violations for k in keys) for _, rungs in records
                                    for rec in rungs.values())
        cons: list[list[list[float]]] = [[[r[k] for k in keys] for r in rows] if signed else
                                         [[sum(max(0.0, v) for v in r.values())] for r in rows]]
        xs, ys, fid = [x], [y], [np.ones(len(x))]
        baseline = [x]
        for t, rungs in records:
            tx = trans.transform({p: t.params[p] for p in search_space})
            if t.state == TrialState.PRUNED and rungs:
                baseline.append(tx[None, :])
            for step, rec in rungs.items():
                xs.append(tx[None, :])
                ys.append(np.array([rec.values], dtype=float) * sign)
                fid.append(np.array([step / full_steps]))
                cons.append([[rec.violations[k] for k in keys] if signed else [rec.violation]])
        if len(xs) == 1:
            return None
        con = np.concatenate([np.asarray(c, dtype=float).reshape(len(c), -1) for c in cons]) if keys else None
        return (np.concatenate(xs), np.concatenate(ys), con,
                {"fidelity": np.concatenate(fid), "baseline_x": np.concatenate(baseline)})

    @staticmethod
    def _constraints(trials: list[FrozenTrial]) -> np.ndarray | None:
        """Violations of the constraints every trial carries, columns in the first trial's order."""
        rows = [read_violations(t) for t in trials]
        keys = [k for k in rows[0] if all(k in r for r in rows)] if rows else []
        return np.array([[r[k] for k in keys] for r in rows], dtype=float) if keys else None

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        if self._warm.get(trial.number, True):
            return self._warmup.sample_independent(study, trial, param_name, param_distribution)
        return self._independent.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._warmup.before_trial(study, trial)
        self._independent.before_trial(study, trial)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Any) -> None:
        self._warm.pop(trial.number, None)
        self._warmup.after_trial(study, trial, state, values)
        self._independent.after_trial(study, trial, state, values)
