"""Reading a study back from Optuna storage: the study's metadata and one record per trial.

The runner writes the study file's essentials into a study user attribute and each trial writes
its records (:mod:`paretolab.records.stored`); tables, report, pruning and ``pick`` read them here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from paretolab import dominance
from paretolab.records.config import TrialBalancer
from paretolab.records.stored import (
    KNOBS_KEY,
    RESULT_KEY,
    START_KEY,
    FailureRecord,
    OneRunRecord,
    RepeatRecord,
    TrialResult,
    TrialStart,
    counts_toward_budget,
    knobs,
    read_violations,
)

META_KEY = "paretolab"


def trial_attrs(t: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """A trial's user attributes as readers see them: one flat dict.

    A trial writes two bundled attributes (``start`` and ``result``, one storage round trip
    each, not one per key) and, on failure, ``failure`` / ``traceback`` / ``interrupted``;
    pruning adds its rung records. This view merges the bundles into top-level keys
    (``config``, ``worker``, ``host``, ``metrics``, ``curves``, ``steps``, ``wall_time_s``,
    ``device``, ...) and adds ``knobs``: the trial's searched settings (its params other than
    the weights). Studies written before the bundling, with one attribute per key, read the same.
    """
    raw = t.user_attrs
    flat = {k: v for k, v in raw.items() if k not in (START_KEY, RESULT_KEY)}
    for key in (START_KEY, RESULT_KEY):
        bundle = raw.get(key)
        if isinstance(bundle, dict):
            flat.update(bundle)
    flat.setdefault(KNOBS_KEY, knobs(t.params))
    return flat


@dataclass(frozen=True)
class StudyMeta:
    """What a reader needs to interpret a study's trials."""

    name: str
    objectives: list[str]
    directions: list[str]
    refs: list[float | None]
    constraints: list[str]
    losses: list[str]
    trials_budget: int
    spec: dict[str, Any]  # the effective study definition (the file with its overrides)
    overrides: list[str] = field(default_factory=list)  # ``key=value`` of the latest run's command line

    @classmethod
    def from_spec(cls, spec: Any, balanced_names: list[str]) -> StudyMeta:
        return cls(name=spec.name, objectives=spec.objective_names, directions=spec.directions,
                   refs=[o.ref for o in spec.objectives], constraints=[str(c) for c in spec.constraints],
                   losses=list(balanced_names), trials_budget=spec.budget.trials,
                   spec=spec.model_dump(mode="json"), overrides=list(getattr(spec, "_overrides", None) or []))

    def to_attr(self) -> dict[str, Any]:
        attr = dict(self.__dict__)
        if not attr["overrides"]:  # a study run without overrides stores what it always stored
            del attr["overrides"]
        return attr

    @classmethod
    def from_study(cls, study: optuna.Study) -> StudyMeta:
        meta = cls.read(study)
        if meta is None:
            raise KeyError(f"study {study.study_name!r} was not created by paretolab")
        return meta

    @classmethod
    def read(cls, study: optuna.Study) -> StudyMeta | None:
        """The study's metadata (``None``: the study was not created by paretolab)."""
        data = study.user_attrs.get(META_KEY)
        return None if data is None else cls(**data)

    def write(self, study: optuna.Study) -> None:
        study.set_user_attr(META_KEY, self.to_attr())


@dataclass
class TrialRecord:
    """One trial as the report and tables see it."""

    number: int
    state: str
    values: list[float] | None
    violations: dict[str, float]
    metrics: dict[str, float]
    config: dict[str, Any]
    duration_s: float | None
    user_attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def total_violation(self) -> float:
        return float(sum(max(0.0, v) for v in self.violations.values()))

    @property
    def feasible(self) -> bool:
        return self.total_violation == 0.0

    @property
    def counts_toward_budget(self) -> bool:
        """Finished trials count; interrupted ones (Ctrl-C, killed worker) are redone."""
        return counts_toward_budget(self.state, self.user_attrs)

    @property
    def start(self) -> TrialStart | None:
        """What the trial trained (``None`` for a trial lost before it wrote it)."""
        config = self.user_attrs.get("config")
        if not isinstance(config, dict):
            return None
        return TrialStart(config=config, worker=self.user_attrs.get("worker", 0),
                          host=self.user_attrs.get("host"))

    @property
    def result(self) -> TrialResult:
        """What the trial measured (empty fields for a trial without a result)."""
        return TrialResult.from_attrs(self.user_attrs)

    @property
    def failure(self) -> FailureRecord | None:
        """Why the trial failed (``None``: it did not record a failure)."""
        return FailureRecord.from_attrs(self.user_attrs)

    @property
    def repeat(self) -> RepeatRecord | None:
        """The configuration this trial repeats with another seed (``None``: an original trial)."""
        return RepeatRecord.from_attrs(self.user_attrs)

    @property
    def one_run(self) -> OneRunRecord | None:
        """In a one-run study: the run trial, or a point it added (``None``: an ordinary trial)."""
        return OneRunRecord.from_attrs(self.user_attrs)

    @property
    def weights(self) -> dict[str, float]:
        """The preference weights it trained with (empty when it stored none)."""
        return {str(k): float(v) for k, v in (self.config.get("weights") or {}).items()}

    @property
    def balancer(self) -> TrialBalancer | None:
        """Its balancer (``None`` for a trial lost before it wrote its configuration)."""
        return TrialBalancer.read(self.config.get("balancer"))

    @property
    def balancer_method(self) -> str:
        """Its balancer's method, ``?`` when unknown."""
        balancer = self.balancer
        return str(balancer.method) if balancer is not None else "?"

    @property
    def seed(self) -> int | None:
        """The seed it trained with."""
        seed = self.config.get("seed")
        return None if seed is None else int(seed)

    @property
    def steps(self) -> int | None:
        """The training steps its configuration gave."""
        steps = self.config.get("steps")
        return None if steps is None else int(steps)

    @property
    def host(self) -> str | None:
        """The machine that ran it (``None``: not recorded)."""
        host = self.user_attrs.get("host")
        return None if host is None else str(host)

    @property
    def worker(self) -> int | str | None:
        """The worker that ran it (``None``: not recorded)."""
        worker = self.user_attrs.get("worker")
        return None if worker is None else worker

    @property
    def knobs(self) -> dict[str, Any]:
        """The trial's searched settings (its params other than the preference weights)."""
        return dict(self.user_attrs.get(KNOBS_KEY) or {})


def trial_record(t: optuna.trial.FrozenTrial) -> TrialRecord:
    constraints = read_violations(t)
    attrs = trial_attrs(t)
    return TrialRecord(
        number=t.number,
        state=t.state.name,
        values=list(t.values) if t.values is not None else None,
        violations={k: float(v) for k, v in constraints.items()},
        metrics=dict(attrs.get("metrics") or {}),
        config=dict(attrs.get("config") or {}),
        duration_s=t.duration.total_seconds() if t.duration is not None else None,
        user_attrs=attrs,
    )


def load_records(study: optuna.Study) -> list[TrialRecord]:
    return [trial_record(t) for t in study.get_trials(deepcopy=False)]


def count_done(study: optuna.Study) -> int:
    states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    return sum(1 for t in study.get_trials(deepcopy=False, states=states)
               if counts_toward_budget(t.state.name, t.user_attrs))


@dataclass
class FrontSummary:
    """The constraint-aware front of the complete trials and its hypervolume."""

    numbers: list[int]  # trial numbers on the front
    complete: list[int]  # every complete trial, in order
    values: np.ndarray  # (n_complete, m)
    on_front: np.ndarray  # bool (n_complete,)
    feasible: np.ndarray  # bool (n_complete,)
    hypervolume: float
    ref_point: list[float]
    # the front's distinct points, each the trials at it (identical values and violation), in
    # trial order: a point reached by several trials is one point of the front
    points: list[list[int]] = field(default_factory=list)

    def point_of(self, number: int) -> list[int]:
        """The trials at the same front point as trial ``number`` (itself included)."""
        return next((p for p in self.points if number in p), [number])


def reference_point(meta: StudyMeta, values: np.ndarray) -> list[float]:
    """The study file's ``ref`` where given, else the documented default from the points."""
    if all(r is not None for r in meta.refs):
        return [float(r) for r in meta.refs]  # type: ignore[arg-type]
    default = dominance.default_reference_point(values, meta.directions) if len(values) else \
        np.zeros(len(meta.refs))
    return [float(r) if r is not None else float(d) for r, d in zip(meta.refs, default)]


def front_candidates(records: list[TrialRecord]) -> list[TrialRecord]:
    """The complete trials that may sit on the raw front, in trial order: not repeats (``paretolab
    verify``: their draws enter only the verified front), not one-run *runs* (their points stand
    for them), and one-run points only when their run completed (an interrupted or lost run's
    points are left out; the redone run adds its own)."""
    complete_runs = {r.number for r in records if r.state == "COMPLETE"}
    out = []
    for r in records:
        if r.state != "COMPLETE" or r.values is None or r.repeat is not None:
            continue
        link = r.one_run
        if link is not None and (link.role == "run" or link.run not in complete_runs):
            continue
        out.append(r)
    return out


def front_summary(meta: StudyMeta, records: list[TrialRecord]) -> FrontSummary:
    """The raw front among :func:`front_candidates`."""
    done = front_candidates(records)
    m = len(meta.objectives)
    values = np.array([r.values for r in done], dtype=float).reshape(len(done), m)
    violations = np.array([r.total_violation for r in done], dtype=float)
    feasible = violations == 0.0
    if not done:
        return FrontSummary([], [], values, np.zeros(0, bool), feasible, 0.0,
                            [float(r) if r is not None else float("nan") for r in meta.refs])
    mask = dominance.nondominated_mask(values, meta.directions, violations)
    ref = reference_point(meta, values)
    hv = dominance.hypervolume(values[feasible], meta.directions, ref) if feasible.any() else 0.0
    points: dict[tuple[float, ...], list[int]] = {}
    for i in np.flatnonzero(mask):
        points.setdefault((*values[i].tolist(), float(violations[i])), []).append(done[i].number)
    return FrontSummary([r.number for r, on in zip(done, mask) if on], [r.number for r in done],
                        values, mask, feasible, float(hv), ref, list(points.values()))
