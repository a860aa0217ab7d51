"""Running a study to its budget (``run_study``) and writing what it found (``finalize``).

``run_study`` opens the study once, runs worker 0 in this process (:mod:`paretolab.worker`)
and, with ``workers: N``, N-1 more processes (:mod:`paretolab.pool`) or, with ``workers: {engine:
ray}``, every worker as a Ray task (:mod:`paretolab.engines.ray`), shows progress, and at the
end, also after Ctrl-C or an error, calls :func:`finalize`: the records, the front, trials.csv /
front.csv and report.html. ``paretolab report`` calls the same ``finalize`` on a stored study.
It installs no logging handler and no signal or thread hook: the process entry points (the CLI,
a spawned worker) do, so calling it from a notebook changes nothing around it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from paretolab.devices import resolve_device, resolve_workers
from paretolab.errors import StorageError
from paretolab.interrupts import interrupt_signal
from paretolab.progress import StudyProgress
from paretolab.records import FrontSummary, StudyMeta, TrialRecord, front_summary, load_records
from paretolab.records.tally import is_failure, tally
from paretolab.spec.checks import CheckedStudy
from paretolab.spec.engines import RayWorkers
from paretolab.storage import redact, storage_cause, storage_failure
from paretolab.tables import write_tables
from paretolab.worker import WorkerOptions, open_worker_study, run_worker

log = logging.getLogger(__name__)


@dataclass
class Finalized:
    """What :func:`finalize` read and wrote; ``problems`` says what could not be written."""

    records: list[TrialRecord]
    summary: FrontSummary
    tables: tuple[Path, Path] | None = None
    report: Any = None  # paretolab.report.ReportResult
    problems: list[str] = field(default_factory=list)


def finalize(study: optuna.Study, meta: StudyMeta, out_dir: Path, *, target: str | None = None,
             static: bool = False, tables: bool = True) -> Finalized:
    """Load the records and write trials.csv / front.csv (``tables``) and report.html.

    The tables come first: a report that fails (a plotting bug, a full disk) never loses them.
    A file that cannot be written is named in ``problems`` (one line each) rather than raised,
    so the caller still shows the front; a lost storage raises StorageError.
    """
    try:
        records = load_records(study)
    except Exception as exc:
        if not storage_failure(exc):
            raise
        raise StorageError(f"cannot read the study back from its storage ({storage_cause(exc)})",
                           where="storage", hint="finished trials are kept in the storage; when it "
                           "is back, run the same command again to resume") from None
    done = Finalized(records, front_summary(meta, records))
    if tables:
        try:
            done.tables = write_tables(meta, records, out_dir, done.summary)
        except OSError as exc:
            done.problems.append(f"trials.csv and front.csv not written: {exc}")
    try:
        from paretolab.report import write_report

        done.report = write_report(meta, records, out_dir, summary=done.summary, target=target,
                                   static=static)
    except Exception as exc:  # noqa: BLE001 - the report must never lose the run's results
        done.problems.append(f"report.html not written: {type(exc).__name__}: {redact(str(exc))[:300]}")
    for problem in done.problems:
        log.warning("%s", problem)
    return done


class Refresher:
    """Rewrites report.html mid-run at most every ``every`` seconds; a failure is logged only."""

    def __init__(self, study: optuna.Study, meta: StudyMeta, out_dir: Path, target: str | None,
                 every: float):
        self.args = (study, meta, out_dir)
        self.target, self.every = target, every
        self.last = time.monotonic()

    def __call__(self) -> None:
        if self.every and time.monotonic() - self.last >= self.every:
            try:
                finalize(*self.args, target=self.target, tables=False)
            except Exception as exc:  # noqa: BLE001 - a refresh never stops the run
                log.warning("report.html not refreshed: %s: %s", type(exc).__name__, exc)
            self.last = time.monotonic()


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
    stop_signal: int | None = None  # SIGINT (Ctrl-C) or SIGTERM when interrupted
    problems: list[str] = field(default_factory=list)  # output files that could not be written
    records: list[TrialRecord] = field(default_factory=list)  # every trial, as stored at the end


def run_study(checked: CheckedStudy, *, workers: int | str | RayWorkers | None = None,
              progress: bool = True, console: Any = None, heartbeat_interval: int | None = None,
              grace_period: int | None = None, max_retries: int | None = None,
              storage_patience: float | None = None, report_every: float | None = None,
              trials_per_gpu: int | None = None, progress_every: float | None = None,
              target: str | None = None) -> RunOutcome:
    """Run (or resume) the study to its trial budget and write trials.csv / front.csv / report.

    The keyword options override the study file's fault settings (see ``WorkerOptions``).
    ``progress_every``: seconds between progress lines when the console is no terminal (30).
    ``target``: how suggested commands name the study (default: :func:`~paretolab.locate.spec_target`).
    Raises StudyStopped when its trials keep failing, StorageError when the storage is lost.
    """
    spec = checked.spec
    options = WorkerOptions.from_spec(spec, heartbeat_interval=heartbeat_interval,
                                      grace_period=grace_period, max_retries=max_retries,
                                      storage_patience=storage_patience, report_every=report_every,
                                      trials_per_gpu=trials_per_gpu)
    chosen = workers if workers is not None else spec.workers
    engine = chosen if isinstance(chosen, RayWorkers) else None
    if engine is not None:  # a missing Ray says so before anything is created
        from paretolab.engines import require

        require("ray", "ray", "workers: {engine: ray}")
    study_dir = spec.study_dir
    study_dir.mkdir(parents=True, exist_ok=True)
    opened = open_worker_study(checked, options, 0, create=True)
    study = opened[1]
    meta = StudyMeta.from_study(study)
    n_workers = 0 if isinstance(chosen, RayWorkers) else resolve_workers(chosen, spec.device, options.trials_per_gpu)
    deadline = time.time() + spec.budget.timeout if spec.budget.timeout else None
    if target is None:
        from paretolab.locate import spec_target

        target = spec_target(spec)
    from paretolab.trackers import open_trackers

    trackers = open_trackers(spec, meta)  # a missing library stops here; creates a tracker's store once
    view = StudyProgress(study, meta, console=console, enabled=progress, line_every=progress_every)
    refresh = Refresher(study, meta, study_dir, target, options.report_every)
    stopped: int | None = None
    try:
        with view:
            if engine is not None:
                from paretolab.engines.ray import run_ray

                stopped = run_ray(checked, engine, opened, deadline, view, options, refresh)
            elif n_workers == 1:
                def after_trial() -> None:
                    view.update()
                    refresh()

                from paretolab.threads import set_threads

                before = set_threads(spec.threads)  # one worker: every core, unless threads: says
                try:
                    stopped = run_worker(checked, options, device=resolve_device(spec.device), worker=0,
                                         deadline=deadline, after_trial=after_trial, opened=opened,
                                         trackers=trackers)
                finally:
                    set_threads(before)
            else:
                from paretolab.pool import run_pool

                stopped = run_pool(checked, opened, n_workers, deadline, view, options, refresh)
    except KeyboardInterrupt as exc:  # between trials (the display): nothing in flight
        stopped = interrupt_signal(exc)
    finally:
        done = finalize(study, meta, study_dir, target=target)
    if stopped is None:  # the budget is reached: the front goes to the trackers (``log:``)
        if trackers:
            by_number = {r.number: r for r in done.records}
            trackers.on_study_end([by_number[n] for n in done.summary.numbers], done.summary.hypervolume)
    records = done.records
    counts = tally(records)
    failures = [(r.number, str(r.failure.reason if r.failure and r.failure.reason else _lost_reason(r.host)))
                for r in records if is_failure(r)]
    return RunOutcome(study_dir, spec.storage_url, counts, done.summary, meta, done.tables,
                      stopped is not None, failures, stopped, done.problems, records)


def _lost_reason(host: str | None) -> str:
    return f"lost (worker {host} died or stopped beating); redone" if host else "lost (worker died); redone"
