"""The stored trial format: every key paretolab writes into Optuna storage, with typed records.

This module is the only writer (and, through :mod:`paretolab.records.view`, the only reader)
of a trial's user and system attributes. Storage is the single source of truth:
a trial writes

* ``start`` once, before training: :class:`TrialStart` (configuration, worker, host), plus one
  float user attribute ``w.<loss>`` per preference weight so that optuna-dashboard shows the
  weights themselves (and can plot them), not only the sampled log-ratios;
* ``rung:<steps>`` at every pruning rung it reaches: :class:`RungRecord`;
* ``result`` once, when it ends (complete or pruned): :class:`TrialResult`;
* on failure ``failure`` / ``traceback`` / ``interrupted``: :class:`FailureRecord`;
* in a study with ``one_run``: :class:`OneRunRecord` under ``one_run``, on the run trial (the
  training) and on each trial it adds, one per evaluated preference (:func:`point_trial`);
* for a repeat of another trial's configuration with a fresh seed (``paretolab verify``),
  ``repeat`` at enqueue time: :class:`RepeatRecord`;
* its constraint violations as Optuna 5 constraints (system attributes ``constraints:<name>``,
  read by Optuna's samplers and ``study.best_trials``) and, for optuna-dashboard 0.21, which reads
  only Optuna 4's list under the system attribute ``constraints``, the same values as that list
  (:func:`write_constraints`).

Studies written before the bundling into ``start`` / ``result`` stored one user attribute per
key (``config``, ``knobs``, ``metrics``, ...); the readers accept both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import optuna

from paretolab._compat.optuna_internals import trial_id

START_KEY = "start"
RESULT_KEY = "result"
FAILURE_KEY = "failure"
TRACEBACK_KEY = "traceback"
INTERRUPTED_KEY = "interrupted"
KNOBS_KEY = "knobs"  # per-key format only; derived from the params otherwise
RUNG_PREFIX = "rung:"
REPEAT_KEY = "repeat"
ONE_RUN_KEY = "one_run"
WEIGHT_ATTR_PREFIX = "w."  # user attribute: a preference weight as trained

# Optuna's constraint storage: ``constraints:<name>`` (5.x, one system attribute per constraint)
# and ``constraints`` (4.x, one list; optuna-dashboard 0.21 reads only this one).
CONSTRAINT_PREFIX = "constraints:"
CONSTRAINT_LIST_KEY = "constraints"

# --- params: which trial params are preference weights ------------------------------------------
UNIFORM_PARAM = "u."  # u_k ~ U(0, 1), weights -log(u_k) normalised (spread: uniform)
LOG_RATIO_PARAM = "r."  # log(w_k / w_1) (spread: log)
RANGE_PARAM = "w."  # the weight itself, from its range (weights: {ranges: ...})
WEIGHT_PARAM_PREFIXES = (UNIFORM_PARAM, LOG_RATIO_PARAM, RANGE_PARAM)


def weight_param(prefix: str, loss: str) -> str:
    """The param name of ``loss``'s weight in the parameterisation ``prefix`` (one of
    :data:`WEIGHT_PARAM_PREFIXES`)."""
    if prefix not in WEIGHT_PARAM_PREFIXES:
        raise ValueError(f"unknown weight parameterisation {prefix!r}")
    return f"{prefix}{loss}"


def is_weight_param(name: str) -> bool:
    """Is this trial param one of the preference weights (not a searched setting)?"""
    return name.startswith(WEIGHT_PARAM_PREFIXES)


def knobs(params: Mapping[str, Any]) -> dict[str, Any]:
    """A trial's searched settings: its params other than the preference weights."""
    return {k: v for k, v in params.items() if not is_weight_param(k)}


# --- start ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrialStart:
    """What a trial is about to train: written once before training."""

    config: dict[str, Any]
    worker: int | str = 0
    host: str | None = None

    def to_attr(self) -> dict[str, Any]:
        out: dict[str, Any] = {"config": self.config, "worker": self.worker}
        if self.host:
            out["host"] = self.host
        return out

    def write(self, trial: optuna.Trial) -> None:
        """The ``start`` bundle, then one ``w.<loss>`` attribute per weight (for the dashboard)."""
        trial.set_user_attr(START_KEY, self.to_attr())
        for loss, weight in (self.config.get("weights") or {}).items():
            trial.set_user_attr(f"{WEIGHT_ATTR_PREFIX}{loss}", float(weight))

    @classmethod
    def read(cls, trial: optuna.Trial | optuna.trial.FrozenTrial) -> TrialStart | None:
        """The trial's start record (``None`` before it is written); the per-key format too."""
        attrs = trial.user_attrs
        data = attrs.get(START_KEY)
        if not isinstance(data, Mapping):
            data = attrs if isinstance(attrs.get("config"), Mapping) else None
        if data is None or not isinstance(data.get("config"), Mapping):
            return None
        return cls(config=dict(data["config"]), worker=data.get("worker", 0), host=data.get("host"))

    @property
    def seed(self) -> int | None:
        seed = self.config.get("seed")
        return int(seed) if seed is not None else None


# --- result --------------------------------------------------------------------------------------
_SERIES = ("conflict", "grad_norm_ratio", "balancer_stats")


@dataclass
class TrialResult:
    """What a trial measured: written once when it ends, complete or pruned."""

    metrics: dict[str, float] = field(default_factory=dict)
    curves: dict[str, list[Any]] = field(default_factory=dict)
    steps: int | None = None
    wall_time_s: float | None = None
    device: str | None = None
    conflict: dict[str, list[Any]] = field(default_factory=dict)  # "step", "cos:a|b"
    grad_norm_ratio: dict[str, list[Any]] = field(default_factory=dict)  # "step", "ratio:a|b"
    balancer_stats: dict[str, list[Any]] = field(default_factory=dict)  # "step", method numbers
    pruned_at: int | None = None  # the rung step (pruned trials only)
    prune_decision: dict[str, Any] | None = None  # position, n, n_keep, rank, agreement
    # with budget.repeats > 1: one {"seed", "metrics"} per seed (``metrics`` above: their means)
    seeds: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_training(cls, result: Any) -> TrialResult:
        """From a :class:`paretolab.trainer.TrainResult`."""
        return cls(metrics=dict(result.metrics), curves=result.curves, steps=result.steps,
                   wall_time_s=result.wall_time_s, device=result.device, conflict=result.conflict,
                   grad_norm_ratio=result.norm_ratio, balancer_stats=result.balancer_stats)

    def to_attr(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.pruned_at is not None:
            out["pruned_at"] = int(self.pruned_at)
            out["prune_decision"] = self.prune_decision
        out.update(metrics=self.metrics, curves=self.curves, steps=self.steps,
                   wall_time_s=self.wall_time_s)
        if self.device is not None:
            out["device"] = self.device
        if self.seeds:
            out["seeds"] = self.seeds
        for key in _SERIES:
            if getattr(self, key):
                out[key] = getattr(self, key)
        return out

    def write(self, trial: optuna.Trial) -> None:
        trial.set_user_attr(RESULT_KEY, self.to_attr())

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> TrialResult:
        """From a trial's user attributes (the ``result`` bundle, or the per-key format)."""
        data = attrs.get(RESULT_KEY)
        if not isinstance(data, Mapping):
            data = attrs
        return cls(metrics=dict(data.get("metrics") or {}), curves=dict(data.get("curves") or {}),
                   steps=data.get("steps"), wall_time_s=data.get("wall_time_s"),
                   device=data.get("device"), pruned_at=data.get("pruned_at"),
                   prune_decision=data.get("prune_decision"), seeds=list(data.get("seeds") or []),
                   **{key: dict(data.get(key) or {}) for key in _SERIES})

    @classmethod
    def read(cls, trial: optuna.Trial | optuna.trial.FrozenTrial) -> TrialResult:
        """The trial's result (empty fields while it has none)."""
        return cls.from_attrs(trial.user_attrs)


# --- rungs ---------------------------------------------------------------------------------------
def rung_key(step: int) -> str:
    """The trial user attribute holding a trial's record at rung ``step``."""
    return f"{RUNG_PREFIX}{int(step)}"


@dataclass(frozen=True)
class RungRecord:
    """A trial's standing at one pruning rung (:mod:`paretolab.pruning`)."""

    values: tuple[float, ...]  # the objective vector at the rung
    violation: float = 0.0  # total constraint violation at the rung
    step: int | None = None  # the evaluation step it was judged at
    metrics: dict[str, float] = field(default_factory=dict)
    exposed: bool = False  # the rung could prune it there (records without the flag: not)
    # each constraint's signed value at the rung (feasible when <= 0), by its text; records
    # written before it existed have none
    violations: dict[str, float] = field(default_factory=dict)

    def write(self, trial: optuna.Trial, rung: int) -> None:
        data: dict[str, Any] = {
            "values": [float(v) for v in self.values], "violation": float(self.violation),
            "step": None if self.step is None else int(self.step), "metrics": dict(self.metrics),
            "exposed": bool(self.exposed)}
        if self.violations:
            data["violations"] = {str(k): float(v) for k, v in self.violations.items()}
        trial.set_user_attr(rung_key(rung), data)

    @classmethod
    def read(cls, trial: optuna.Trial | optuna.trial.FrozenTrial, rung: int) -> RungRecord | None:
        """The trial's record at rung ``rung``, or ``None`` when it has none."""
        data = trial.user_attrs.get(rung_key(rung))
        if not data:
            return None
        return cls(values=tuple(float(v) for v in data["values"]),
                   violation=float(data.get("violation", 0.0)), step=data.get("step"),
                   metrics=dict(data.get("metrics") or {}), exposed=bool(data.get("exposed", False)),
                   violations={str(k): float(v) for k, v in (data.get("violations") or {}).items()})


def read_rungs(trial: optuna.Trial | optuna.trial.FrozenTrial) -> dict[int, RungRecord]:
    """Every rung record of the trial, by rung step (empty without pruning)."""
    steps = sorted(int(key[len(RUNG_PREFIX):]) for key in trial.user_attrs
                   if key.startswith(RUNG_PREFIX) and key[len(RUNG_PREFIX):].isdigit())
    return {step: rec for step in steps if (rec := RungRecord.read(trial, step)) is not None}


# --- repeats -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RepeatRecord:
    """This trial retrains trial ``of``'s configuration with another ``seed`` (``paretolab
    verify``). Written when the repeat is enqueued, so a worker that picks it up trains that seed;
    a repeat never counts toward the budget nor enters the raw front."""

    of: int
    seed: int

    def to_attr(self) -> dict[str, int]:
        return {"of": int(self.of), "seed": int(self.seed)}

    def write(self, trial: optuna.Trial) -> None:
        trial.set_user_attr(REPEAT_KEY, self.to_attr())

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> RepeatRecord | None:
        data = attrs.get(REPEAT_KEY)
        if not isinstance(data, Mapping) or "of" not in data or "seed" not in data:
            return None
        return cls(of=int(data["of"]), seed=int(data["seed"]))

    @classmethod
    def read(cls, trial: optuna.Trial | optuna.trial.FrozenTrial) -> RepeatRecord | None:
        return cls.from_attrs(trial.user_attrs)


# --- one-run studies -----------------------------------------------------------------------------
@dataclass(frozen=True)
class OneRunRecord:
    """A trial of a ``one_run`` study (:mod:`paretolab.one_run`): either the ``run`` (the one
    training of a Pareto manifold, which counts toward the budget but never enters the front) or
    a ``point`` it added (its model ``theta(preference)`` evaluated; enters the front only when
    its run completed, so the points of an interrupted or lost run are ignored and the redone
    run adds its own; never counts toward the budget).

    ``run``: the run trial's number. A run also keeps ``points`` (the numbers it added), where
    its anchors were saved (``anchors``), its evaluation time and the points' preferences count.
    """

    role: str  # "run" or "point"
    run: int
    preference: dict[str, float] = field(default_factory=dict)  # points only
    points: tuple[int, ...] = ()  # runs only
    anchors: str | None = None  # runs only: the saved anchors (a file of the run's machine)
    train_steps: int | None = None
    eval_time_s: float | None = None

    def to_attr(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role, "run": int(self.run)}
        if self.preference:
            out["preference"] = {k: float(v) for k, v in self.preference.items()}
        if self.points:
            out["points"] = [int(n) for n in self.points]
        for key in ("anchors", "train_steps", "eval_time_s"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    def write(self, trial: optuna.Trial) -> None:
        trial.set_user_attr(ONE_RUN_KEY, self.to_attr())

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> OneRunRecord | None:
        data = attrs.get(ONE_RUN_KEY)
        if not isinstance(data, Mapping) or data.get("role") not in ("run", "point"):
            return None
        return cls(role=str(data["role"]), run=int(data["run"]),
                   preference={str(k): float(v) for k, v in (data.get("preference") or {}).items()},
                   points=tuple(int(n) for n in data.get("points") or ()),
                   anchors=data.get("anchors"), train_steps=data.get("train_steps"),
                   eval_time_s=data.get("eval_time_s"))

    @classmethod
    def read(cls, trial: optuna.Trial | optuna.trial.FrozenTrial) -> OneRunRecord | None:
        return cls.from_attrs(trial.user_attrs)


def point_trial(values: list[float], start: TrialStart, result: TrialResult, link: OneRunRecord,
                violations: Mapping[str, float], *, params: Mapping[str, Any],
                distributions: Mapping[str, Any], dashboard: bool) -> optuna.trial.FrozenTrial:
    """A finished trial for one evaluated preference of a run, for ``study.add_trial``: the
    run's params (what the sampler learns from), the point's own configuration (its weights: the
    preference), result, link to its run and constraints, in the same format as a trained trial."""
    user_attrs: dict[str, Any] = {START_KEY: start.to_attr(), RESULT_KEY: result.to_attr(),
                                  ONE_RUN_KEY: link.to_attr()}
    for loss, weight in (start.config.get("weights") or {}).items():
        user_attrs[f"{WEIGHT_ATTR_PREFIX}{loss}"] = float(weight)
    system_attrs: dict[str, Any] = {}
    if dashboard and violations:
        system_attrs[CONSTRAINT_LIST_KEY] = [float(v) for v in violations.values()]
    return optuna.trial.create_trial(
        values=[float(v) for v in values], params=dict(params), distributions=dict(distributions),
        user_attrs=user_attrs, system_attrs=system_attrs,
        constraints={k: float(v) for k, v in violations.items()} or None)


# --- failures ------------------------------------------------------------------------------------
INTERRUPTED_REASON = "interrupted (Ctrl-C); redone on resume"


@dataclass(frozen=True)
class FailureRecord:
    """Why a trial failed. A failure with a reason counts toward the budget; an interrupted one
    (Ctrl-C, a stopped worker) is redone on resume."""

    reason: str | None
    traceback: str | None = None
    interrupted: bool = False

    def write(self, trial: optuna.Trial) -> None:
        if self.interrupted:
            trial.set_user_attr(INTERRUPTED_KEY, True)
        if self.reason is not None:
            trial.set_user_attr(FAILURE_KEY, self.reason)
        if self.traceback is not None:
            trial.set_user_attr(TRACEBACK_KEY, self.traceback[-4000:])

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> FailureRecord | None:
        if FAILURE_KEY not in attrs and not attrs.get(INTERRUPTED_KEY):
            return None
        reason = attrs.get(FAILURE_KEY)
        return cls(reason=None if reason is None else str(reason), traceback=attrs.get(TRACEBACK_KEY),
                   interrupted=bool(attrs.get(INTERRUPTED_KEY)))

    @classmethod
    def read(cls, trial: optuna.Trial | optuna.trial.FrozenTrial) -> FailureRecord | None:
        return cls.from_attrs(trial.user_attrs)


def interrupted(signum: int = 2) -> FailureRecord:
    """The record of a trial stopped by Ctrl-C (SIGINT, 2) or SIGTERM (15), naming the signal."""
    how = "Ctrl-C" if signum == 2 else "SIGTERM" if signum == 15 else f"signal {signum}"
    return FailureRecord(f"interrupted ({how}); redone on resume", interrupted=True)


def counts_toward_budget(state: str, user_attrs: Mapping[str, Any]) -> bool:
    """COMPLETE and PRUNED count. A FAIL counts when the trial itself failed (it recorded why);
    one interrupted by Ctrl-C, or lost with its worker (no reason recorded), is redone.
    A repeat (:class:`RepeatRecord`) never counts: the budget is the study's configurations;
    nor does a point added by a one-run trial (:class:`OneRunRecord`): the budget is its runs."""
    if REPEAT_KEY in user_attrs:
        return False
    link = user_attrs.get(ONE_RUN_KEY)
    if isinstance(link, Mapping) and link.get("role") == "point":  # its run is what counts
        return False
    if state in ("COMPLETE", "PRUNED"):
        return True
    return state == "FAIL" and FAILURE_KEY in user_attrs and not user_attrs.get(INTERRUPTED_KEY)


# --- constraints ---------------------------------------------------------------------------------
def dashboard_constraints(study: optuna.Study) -> bool:
    """Also store the constraints as Optuna 4's list (what optuna-dashboard 0.21 reads)?

    Optuna reads both forms and merges them, so a trial then carries each value twice (under its
    name and under its index). Feasibility and the violation sums TPE and NSGA-II compare keep
    their order; the GP sampler models every constraint separately (a duplicate would count its
    feasibility twice) and needs the same constraint names in every trial (a resumed study
    written before the list existed would not have them): GP studies keep Optuna 5's form only.
    """
    return not isinstance(study.sampler, optuna.samplers.GPSampler)


def write_constraints(trial: optuna.Trial, violations: Mapping[str, float], *, dashboard: bool) -> None:
    """A trial's constraint violations (feasible when <= 0), in the order of the study file."""
    for name, value in violations.items():
        trial.set_constraint(name, float(value))
    if dashboard and violations:
        trial.storage.set_trial_system_attr(trial_id(trial), CONSTRAINT_LIST_KEY,
                                            [float(v) for v in violations.values()])


def read_violations(trial: optuna.trial.FrozenTrial) -> dict[str, float]:
    """The trial's constraint violations by constraint name: Optuna 5's named form when present
    (the dashboard's list then repeats it), else whatever Optuna reads (a list stored by others:
    by index)."""
    system = trial.system_attrs
    named = {k[len(CONSTRAINT_PREFIX):]: float(v) for k, v in system.items()
             if k.startswith(CONSTRAINT_PREFIX)}
    if named:
        return named
    return {k: float(v) for k, v in (getattr(trial, "constraints", None) or {}).items()}

