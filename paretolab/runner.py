"""Running a study: worker processes, budget, progress, clean Ctrl-C, tables at the end.

One worker runs in this process; ``workers: N`` starts N processes on the same storage (the
study is created here first, workers load it). Each worker takes one trial at a time while the
finished + running trials are below the budget, so resuming simply continues.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from paretolab.objective import Objective
from paretolab.progress import StudyProgress
from paretolab.records import FrontSummary, StudyMeta, count_done, front_summary, load_records
from paretolab.spec import StudySpec
from paretolab.spec_check import CheckedStudy, check_study
from paretolab.study import open_study
from paretolab.tables import write_tables


@dataclass
class RunOutcome:
    """What ``paretolab run`` reports at the end."""

    study_dir: Path
    storage_url: str
    counts: dict[str, int]
    front: FrontSummary
    meta: StudyMeta
    tables: tuple[Path, Path] | None
    interrupted: bool = False
    failures: list[tuple[int, str]] = field(default_factory=list)


def resolve_workers(workers: int | str, device: str) -> int:
    """``auto``: one per visible GPU, else one per two cores (each worker gets its own threads)."""
    if workers != "auto":
        return int(workers)
    import torch

    if device in ("auto", "cuda") and torch.cuda.is_available():
        return torch.cuda.device_count()
    return max(1, (os.cpu_count() or 1) // 2)


def worker_device(device: str, index: int) -> str:
    """Worker ``index`` gets GPU ``index mod n_gpus`` when the study uses CUDA."""
    import torch

    if device in ("auto", "cuda") and torch.cuda.is_available():
        return f"cuda:{index % torch.cuda.device_count()}"
    return "cpu" if device == "auto" else device


def _setup_logging(study_dir: Path, worker: int) -> None:
    """Optuna's own log (with failure tracebacks) goes to the study directory, not the terminal."""
    optuna.logging.disable_default_handler()
    optuna.logging.set_verbosity(optuna.logging.INFO)
    logger = logging.getLogger("optuna")
    path = study_dir / f"worker-{worker}.log"
    if not any(getattr(h, "baseFilename", None) == str(path.resolve()) for h in logger.handlers):
        handler = logging.FileHandler(path)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)


def _budget_reached(study: optuna.Study, budget: int) -> bool:
    running = len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
    return count_done(study) + running >= budget


def worker_loop(study: optuna.Study, objective: Objective, budget: int, deadline: float | None,
                callback: Any = None) -> None:
    """Run trials one at a time until the budget or the deadline (wall clock) is reached."""
    callbacks = [callback] if callback else None
    while not _budget_reached(study, budget):
        if deadline is not None and time.time() >= deadline:
            break
        study.optimize(objective, n_trials=1, catch=(Exception,), callbacks=callbacks)


def _mark_interrupted(study: optuna.Study, objective: Objective) -> None:
    """After Ctrl-C: no trial of ours may stay RUNNING (Optuna already failed the one in flight)."""
    trial = objective.current
    if trial is None:
        return
    frozen = study._storage.get_trial(trial._trial_id)
    if frozen.state == TrialState.RUNNING:
        study._storage.set_trial_user_attr(trial._trial_id, "interrupted", True)
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)


def _worker_main(spec_data: dict[str, Any], source: str | None, index: int, device: str,
                 threads: int, deadline: float | None) -> None:
    """Entry point of a worker process (spawned: a clean interpreter, no inherited CUDA state)."""
    import torch

    torch.set_num_threads(max(1, threads))
    spec = StudySpec.model_validate({**spec_data, "source": source})
    checked = check_study(spec, check_storage_reachable=False)
    _setup_logging(spec.study_dir, index)
    study = open_study(checked, create=False)
    objective = Objective(checked, device, worker=index)
    try:
        worker_loop(study, objective, spec.budget.trials, deadline)
    except KeyboardInterrupt:
        _mark_interrupted(study, objective)


def run_study(checked: CheckedStudy, *, workers: int | str | None = None, progress: bool = True,
              console: Any = None) -> RunOutcome:
    """Run (or resume) the study to its trial budget and write trials.csv / front.csv."""
    spec = checked.spec
    study_dir = spec.study_dir
    study_dir.mkdir(parents=True, exist_ok=True)
    _setup_logging(study_dir, 0)
    study = open_study(checked, create=True)
    with warnings.catch_warnings():  # experimental in name only; part of Optuna since 2.9
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    meta = StudyMeta.from_study(study)
    n_workers = resolve_workers(workers if workers is not None else spec.workers, spec.device)
    deadline = time.time() + spec.budget.timeout if spec.budget.timeout else None
    view = StudyProgress(study, meta, console=console, enabled=progress)
    interrupted = False
    try:
        with view:
            if n_workers == 1:
                objective = Objective(checked, worker_device(spec.device, 0), worker=0)
                try:
                    worker_loop(study, objective, spec.budget.trials, deadline,
                                callback=lambda s, t: view.update())
                except KeyboardInterrupt:
                    interrupted = True
                    _mark_interrupted(study, objective)
            else:
                interrupted = _run_processes(checked, n_workers, deadline, view)
    finally:
        records = load_records(study)
        summary = front_summary(meta, records)
        tables = write_tables(meta, records, study_dir, summary)
        try:  # the report must never lose the run's results (the tables above are written)
            from paretolab.report import pick_target, write_report

            write_report(meta, records, study_dir, summary=summary,
                         target=pick_target(spec.source) if spec.source else None)
        except Exception as exc:  # noqa: BLE001
            logging.getLogger("optuna").warning("report.html not written: %s: %s", type(exc).__name__, exc)
    counts = {state: sum(1 for r in records if r.state == state)
              for state in ("COMPLETE", "FAIL", "PRUNED", "RUNNING")}
    failures = [(r.number, str(r.user_attrs.get("failure", "lost (worker died)")))
                for r in records if r.state == "FAIL"]
    return RunOutcome(study_dir, spec.storage_url, counts, summary, meta, tables, interrupted, failures)


def _run_processes(checked: CheckedStudy, n_workers: int, deadline: float | None,
                   view: StudyProgress) -> bool:
    """Start the worker processes, refresh progress from storage, stop them all on Ctrl-C."""
    spec = checked.spec
    ctx = mp.get_context("spawn")
    threads = max(1, (os.cpu_count() or 1) // n_workers)
    data = spec.model_dump(mode="json")
    procs = [ctx.Process(target=_worker_main, name=f"paretolab-worker-{i}",
                         args=(data, spec.source, i, worker_device(spec.device, i), threads, deadline))
             for i in range(n_workers)]
    for p in procs:
        p.start()
    try:
        while any(p.is_alive() for p in procs):
            view.update()
            for p in procs:
                p.join(timeout=1.0 / n_workers)
        return False
    except KeyboardInterrupt:
        # the terminal sent SIGINT to every worker too; give them time to record their trials
        for p in procs:
            p.join(timeout=30)
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
        return True
