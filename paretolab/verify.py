"""Is the trade-off real? Retrain front configurations with fresh seeds and read the front of the means.

Short training runs are noisy: a single-seed front is partly luck. ``paretolab verify`` retrains
the raw front's configurations (and, with ``--top N``, the N best-ranked others by non-dominated
rank, then crowding distance, NSGA-II's order, Deb et al. 2002) with K fresh seeds. Each repeat
is a trial of the same study linked to its configuration (:class:`~paretolab.records.RepeatRecord`),
so a crash keeps what finished and the next ``verify`` runs only the missing repeats; repeats
never count toward the budget nor enter the raw front.

The statistics the repeats feed (means over the fresh seeds, t-intervals, the verified front,
each raw front point's verdict) are :mod:`paretolab.verification`, which the tables, the report
and ``pick`` read without this command.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from paretolab import dominance
from paretolab.records import StudyMeta, TrialRecord, front_summary, load_records
from paretolab.verification import ConfigStats, Verification, draws, verification

__all__ = ["ConfigStats", "Verification", "VerifyOutcome", "candidates", "draws", "plan", "verification",
           "verify"]


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
