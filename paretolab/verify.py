"""Is the trade-off real? Retrain front configurations with fresh seeds and read the front of the means.

Short training runs are noisy: a single-seed front is partly luck. ``paretolab verify`` retrains
the raw front's configurations (and, with ``--top N``, the N best-ranked others by non-dominated
rank, then crowding distance, NSGA-II's order, Deb et al. 2002) with K fresh seeds. Each repeat
is a trial of the same study linked to its configuration (:class:`~paretolab.records.RepeatRecord`),
so a crash keeps what finished and the next ``verify`` runs only the missing repeats; repeats
never count toward the budget nor enter the raw front.

Statistics (:func:`verification`), per configuration, over its draws (the original trial's seeds,
one or ``budget.repeats``, plus one per repeat trial):

* the mean of each objective and the 95% Student t-interval ``mean +- t(0.975, n-1) s / sqrt(n)``;
* the verified front: the constraint-aware non-dominated set of the means, among the
  configurations that were repeated (n >= 2), the mean violation standing for feasibility;
* each raw front point: ``robust`` (on the verified front), ``dominated``, ``infeasible`` (its
  mean violates a constraint) or ``unverified`` (not repeated), with the probability that it is
  dominated (1 for an infeasible one when a feasible one exists), by Monte Carlo under a normal
  approximation: each repeated configuration's mean is drawn from N(mean, (s / sqrt(n))^2)
  independently per objective (4000 draws, fewer past ~100 configurations; fixed seed); the
  probability is the fraction of draws in which another feasible configuration's draw dominates it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from scipy import stats

from paretolab import dominance
from paretolab.records import StudyMeta, TrialRecord, front_summary, load_records

MC_DRAWS = 4000


@dataclass
class ConfigStats:
    """One configuration's draws, reduced: mean, t-interval half-width, standard error."""

    number: int  # the original trial
    n: int  # draws (seeds)
    repeats: int  # repeat trials that completed
    mean: np.ndarray
    ci: np.ndarray  # half-width of the 95% t-interval (nan with one draw)
    se: np.ndarray
    violation: float  # mean total constraint violation


@dataclass
class Verification:
    """What the repeats say about the raw front."""

    stats: dict[int, ConfigStats] = field(default_factory=dict)  # every original complete trial
    front: list[int] = field(default_factory=list)  # the verified front (original trial numbers)
    raw_front: list[int] = field(default_factory=list)
    labels: dict[int, str] = field(default_factory=dict)  # raw front point -> robust / dominated / unverified
    p_dominated: dict[int, float] = field(default_factory=dict)  # repeated configurations

    @property
    def verified(self) -> list[int]:
        """The configurations with at least two draws."""
        return [k for k, s in self.stats.items() if s.n >= 2]

    @property
    def any(self) -> bool:
        return bool(self.verified)


def draws(record: TrialRecord, meta: StudyMeta) -> list[list[float]]:
    """A trial's objective vectors, one per seed it trained (``budget.repeats``), else its values."""
    seeds = record.result.seeds
    rows = [[float(s["metrics"][o]) for o in meta.objectives] for s in seeds
            if all(o in (s.get("metrics") or {}) for o in meta.objectives)]
    if rows:
        return rows
    return [list(map(float, record.values))] if record.values is not None else []


def _mean_ci(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(rows)
    mean = rows.mean(axis=0)
    if n < 2:
        nan = np.full(rows.shape[1], np.nan)
        return mean, nan, nan
    se = rows.std(axis=0, ddof=1) / np.sqrt(n)
    return mean, float(stats.t.ppf(0.975, n - 1)) * se, se


def _p_dominated(mean: np.ndarray, se: np.ndarray, feasible: np.ndarray, seed: int = 0) -> np.ndarray:
    """P(each point is dominated by another feasible one), means drawn from N(mean, se^2)
    (minimisation view)."""
    rng = np.random.default_rng(seed)
    n_draws = int(min(MC_DRAWS, max(200, 20_000_000 // max(1, mean.size * len(mean)))))  # memory cap
    draw = mean[None] + rng.standard_normal((n_draws, *mean.shape)) * np.nan_to_num(se)[None]
    le = (draw[:, :, None, :] <= draw[:, None, :, :]).all(-1)  # [d, j, i]: j <= i everywhere
    lt = (draw[:, :, None, :] < draw[:, None, :, :]).any(-1)
    dom = le & lt & feasible[None, :, None]
    idx = np.arange(len(mean))
    dom[:, idx, idx] = False
    return dom.any(axis=1).mean(axis=0)


def verification(meta: StudyMeta, records: Sequence[TrialRecord]) -> Verification:
    """Group each complete original trial with its complete repeats and read the verified front."""
    done = [r for r in records if r.state == "COMPLETE" and r.values is not None]
    originals = {r.number: r for r in done if r.repeat is None}
    groups: dict[int, list[TrialRecord]] = {n: [r] for n, r in originals.items()}
    for r in done:
        rep = r.repeat
        if rep is not None and rep.of in groups:
            groups[rep.of].append(r)
    out = Verification(raw_front=front_summary(meta, list(records)).numbers)
    for number, members in groups.items():
        rows, violations = [], []
        for r in members:
            d = draws(r, meta)
            rows += d
            violations += [r.total_violation] * len(d)
        mean, ci, se = _mean_ci(np.array(rows, dtype=float))
        out.stats[number] = ConfigStats(number, len(rows), len(members) - 1, mean, ci, se,
                                        float(np.mean(violations)))
    verified = out.verified
    if not verified:
        out.labels = {n: "unverified" for n in out.raw_front}
        return out
    sign = np.array([1.0 if d == "minimize" else -1.0 for d in meta.directions])
    means = np.array([out.stats[n].mean for n in verified])
    viol = np.array([out.stats[n].violation for n in verified])
    mask = dominance.nondominated_mask(means, meta.directions, viol)
    out.front = [n for n, on in zip(verified, mask) if on]
    ses = np.array([out.stats[n].se for n in verified])
    feasible = viol == 0.0
    p = _p_dominated(means * sign, ses, feasible)
    if feasible.any():
        p = np.where(feasible, p, 1.0)
    out.p_dominated = {n: float(v) for n, v in zip(verified, p)}
    out.labels = {n: ("unverified" if n not in out.p_dominated else "robust" if n in out.front else
                      "infeasible" if out.stats[n].violation > 0 else "dominated") for n in out.raw_front}
    return out


# --- which configurations to repeat ---------------------------------------------------------------
def candidates(meta: StudyMeta, records: Sequence[TrialRecord], top: int = 0) -> list[int]:
    """The raw front's trials, then the ``top`` best-ranked others (non-dominated rank, then
    crowding distance, larger first)."""
    summary = front_summary(meta, list(records))
    chosen = list(summary.numbers)
    if top <= 0 or not summary.complete:
        return chosen
    from pymoo.operators.survival.rank_and_crowding.metrics import calc_crowding_distance

    numbers = np.array(summary.complete)
    violations = np.array([r.total_violation for r in records
                           if r.state == "COMPLETE" and r.values is not None and r.repeat is None])
    ranks = dominance.pareto_ranks(summary.values, meta.directions, violations)
    points = dominance.to_minimization(summary.values, meta.directions)
    crowding = np.zeros(len(numbers))
    for rank in np.unique(ranks):
        members = np.flatnonzero(ranks == rank)
        crowding[members] = calc_crowding_distance(points[members]) if len(members) > 2 else np.inf
    order = np.lexsort((numbers, -crowding, ranks))
    others = [int(numbers[i]) for i in order if int(numbers[i]) not in chosen]
    return chosen + others[:top]


# --- running the repeats --------------------------------------------------------------------------
@dataclass
class VerifyOutcome:
    """What ``paretolab verify`` did and found."""

    configurations: list[int]
    ran: int  # repeat trials run by this call
    already: int  # planned repeats found complete in storage
    verification: Verification
    meta: StudyMeta
    study_dir: Path
    finalized: Any = None  # paretolab.runner.Finalized


def _checked(source: Any) -> Any:
    from paretolab.spec import StudySpec
    from paretolab.spec.checks import check_study

    loc = source.location
    origin = loc.target if loc is not None and loc.form == "file" else None
    spec = StudySpec.model_validate({**source.meta.spec, "source": origin})
    return check_study(spec, check_storage_reachable=False)


def plan(meta: StudyMeta, records: Sequence[TrialRecord], configurations: Sequence[int],
         seeds: int) -> list[tuple[int, int]]:
    """(original trial, seed) of every repeat: seeds after those the trial already trained."""
    from paretolab.objective import repeat_seed

    by_number = {r.number: r for r in records}
    per_trial = int((meta.spec.get("budget") or {}).get("repeats", 1) or 1)
    out = []
    for n in configurations:
        base = by_number[n].config.get("seed")
        if base is None:
            continue
        out += [(n, repeat_seed(int(base), per_trial + j)) for j in range(seeds)]
    return out


def sweep_stale(study: optuna.Study) -> None:
    """Fail the study's stale trials, repeats included: a ``verify`` (or a worker) killed outright
    (SIGKILL, a lost machine) stopped beating; its repeat is failed as lost and enqueued again with
    its seed (the heartbeat's retry keeps the repeat's link), so this call runs it."""
    import warnings

    with warnings.catch_warnings():  # experimental in name only; part of Optuna since 2.9
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def verify(target: str | Path, study_name: str | None = None, seeds: int = 3, top: int = 0, *,
           device: str | None = None, after_repeat: Callable[[int, int], None] | None = None,
           write: bool = True) -> VerifyOutcome:
    """Repeat the chosen configurations with ``seeds`` fresh seeds (only the repeats not already
    complete in storage), then rewrite trials.csv, front.csv and report.html.

    ``after_repeat(done, total)`` is called once before the first repeat (``done = 0``) and after
    each one. Ctrl-C (KeyboardInterrupt) stops it: every finished repeat is stored, the one cut
    is recorded as interrupted, and the next call runs only what is missing. A repeat left
    RUNNING by a killed verify is failed once its heartbeat is stale (:func:`sweep_stale`) and
    run again here."""
    from paretolab.devices import resolve_device
    from paretolab.locate import open_source
    from paretolab.objective import Objective
    from paretolab.records import RepeatRecord
    from paretolab.storage import open_storage
    from paretolab.worker import WorkerOptions, run_trial

    source = open_source(target, study_name)
    meta = source.meta
    checked = _checked(source)
    if checked.spec.one_run is not None:
        from paretolab.errors import UserError

        raise UserError(f"study {meta.name!r} is a one_run study: verify repeats ordinary trials only",
                        hint="run the study with another seed to see how its front moves")
    options = WorkerOptions.from_spec(checked.spec)
    url = source.location.storage_url if source.location is not None else checked.spec.storage_url
    storage = open_storage(url, **options.storage_kwargs())
    study = optuna.load_study(study_name=meta.name, storage=storage, sampler=optuna.samplers.RandomSampler())
    sweep_stale(study)
    records = load_records(study)
    configurations = candidates(meta, records, top)
    wanted = plan(meta, records, configurations, seeds)
    complete = {(r.repeat.of, r.repeat.seed) for r in records if r.repeat and r.state == "COMPLETE"}
    frozen = {t.number: t for t in study.get_trials(deepcopy=False)}
    waiting = {(rep.of, rep.seed) for t in frozen.values() if t.state.name in ("WAITING", "RUNNING")
               for rep in [RepeatRecord.read(t)] if rep is not None}  # running: another verify's, alive
    missing = [w for w in wanted if w not in complete]
    for of, seed in missing:
        if (of, seed) not in waiting:
            study.enqueue_trial(frozen[of].params, user_attrs={"repeat": RepeatRecord(of, seed).to_attr()})
    pending = sum(1 for t in study.get_trials(deepcopy=False) if t.state.name == "WAITING")
    import os
    import socket

    objective = Objective(checked, device or resolve_device(checked.spec.device), worker="verify",
                          host=f"{socket.gethostname()}:{os.getpid()}")
    study_id = storage.get_study_id_from_name(meta.name)
    ran = 0
    if after_repeat is not None:
        after_repeat(0, pending)  # the plan is known: a progress bar can start
    for _ in range(pending):
        run_trial(study, storage, study_id, objective, heartbeat_interval=options.heartbeat_interval)
        ran += 1
        if after_repeat is not None:
            after_repeat(ran, pending)
    records = load_records(study)
    outcome = VerifyOutcome(configurations, ran, len(wanted) - len(missing), verification(meta, records),
                            meta, source.study_dir)
    if write:
        from paretolab.runner import finalize

        command = source.location.command if source.location is not None else None
        outcome.finalized = finalize(study, meta, source.study_dir, target=command)
    return outcome
