"""Running a study: worker processes, budget, progress, faults, clean Ctrl-C, tables at the end.

Worker 0 runs in this process; ``workers: N`` also starts N-1 processes on the same storage
(the study is created here first, workers load it); ``paretolab worker`` on other machines joins a
study in a PostgreSQL storage the same way. Every worker loops:

1. take the study lock (``StudyLock``: flock for SQLite, a PostgreSQL advisory lock otherwise);
2. fail stale trials (a worker that stopped beating for ``grace_period`` seconds is gone; its
   trial is re-enqueued with the same params up to ``max_retries`` times);
3. count the trials that use up the budget (finished ones that count, plus RUNNING ones);
   stop when the finished ones reach the budget; wait when finished + running do (a running
   trial may still be lost and need redoing);
4. otherwise create the trial and release the lock as soon as it exists (RUNNING), then train.

Because step 3 and the trial's creation happen under one lock, workers racing for the last
trial start exactly one: the study never runs more trials than its budget and nothing is
trimmed afterwards. A trial lost with its worker does not count (records.counts_toward_budget)
and is redone, so a run ends with exactly ``budget`` counted trials. Storage errors are retried
with back-off for ``storage_patience`` seconds, then the worker stops with a clear error;
finished trials are already committed and a new run resumes.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import socket
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from paretolab.errors import StorageError, UserError
from paretolab.objective import Objective
from paretolab.progress import StudyProgress
from paretolab.records import (FrontSummary, StudyMeta, count_done, counts_toward_budget, mark_interrupted,
                               front_summary, load_records)
from paretolab.spec import StudySpec
from paretolab.spec_check import CheckedStudy, check_study
from paretolab.storage import STORAGE_PATIENCE_S, StudyLock, is_storage_error, redact
from paretolab.study import open_study
from paretolab.tables import write_tables
from paretolab.workers import WorkerOptions, plan_workers, resolve_workers
from paretolab.workers import visible_gpus as _visible_gpus

log = logging.getLogger("optuna")


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


def worker_device(device: str, index: int) -> str:
    """Worker ``index`` gets GPU ``index mod n_gpus`` when the study uses CUDA (same process)."""
    gpus = _visible_gpus(device)
    if gpus:
        return f"cuda:{index % len(gpus)}" if not device.startswith("cuda:") else device
    return "cpu" if device in ("auto", "cuda") else device


def _setup_logging(study_dir: Path, worker: int | str) -> None:
    """Optuna's own log (with failure tracebacks) goes to the study directory, not the terminal."""
    optuna.logging.disable_default_handler()
    optuna.logging.set_verbosity(optuna.logging.INFO)
    study_dir.mkdir(parents=True, exist_ok=True)
    path = study_dir / f"worker-{worker}.log"
    if not any(getattr(h, "baseFilename", None) == str(path.resolve()) for h in log.handlers):
        handler = logging.FileHandler(path)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
    _quiet_background_errors()


def _quiet_background_errors() -> None:
    """Errors in background threads (Optuna's heartbeat when the storage is gone) and the noise
    of an interrupted interpreter go to the worker log, not over the terminal as tracebacks;
    the main loop reports the cause itself in one line."""

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        log.warning("background thread %s: %s: %s", getattr(args.thread, "name", "?"),
                    args.exc_type.__name__, args.exc_value,
                    exc_info=(args.exc_type, args.exc_value, args.exc_traceback))

    def unraisable_hook(info: Any) -> None:
        log.debug("ignored %s: %s", getattr(info, "object", None), getattr(info, "exc_value", None))

    threading.excepthook = thread_hook
    sys.unraisablehook = unraisable_hook


def _counts(study: optuna.Study) -> tuple[int, int]:
    """(finished trials that count toward the budget, RUNNING trials), from one storage read."""
    trials = study.get_trials(deepcopy=False)
    running = sum(t.state == TrialState.RUNNING for t in trials)
    return sum(counts_toward_budget(t.state.name, t.user_attrs) for t in trials), running


def _budget_reached(study: optuna.Study, budget: int) -> bool:
    done, running = _counts(study)
    return done + running >= budget


def _fail_stale(study: optuna.Study) -> None:
    with warnings.catch_warnings():  # experimental in name only; part of Optuna since 2.9
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def _storage_failure(exc: BaseException) -> bool:
    """A lost database (directly, or wrapped by Optuna's StorageInternalError)."""
    seen = 0
    while exc is not None and seen < 5:
        if is_storage_error(exc) or isinstance(exc, optuna.exceptions.StorageInternalError):
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
        seen += 1
    return False


class _NoLock:
    held = False

    def acquire(self) -> None:
        pass

    def release(self) -> None:
        pass

    def close(self) -> None:
        pass


def worker_loop(study: optuna.Study, objective: Any, budget: int, deadline: float | None,
                callback: Any = None, *, lock: Any = None, storage_patience: float = STORAGE_PATIENCE_S,
                poll: float = 1.0, stale_every: float = 0.0) -> None:
    """Run trials one at a time until the budget (or the wall-clock deadline) is reached.

    See the module docstring for the lock / stale / budget protocol. Stale trials are looked
    for at most every ``stale_every`` seconds (a lost worker cannot be noticed before its grace
    period anyway), so a fast trial does not pay that query each time.
    """
    lock = lock or _NoLock()
    callbacks = [callback] if callback else None

    def start_trial(trial: optuna.Trial) -> Any:
        lock.release()  # the trial exists (RUNNING): it now counts for every other worker
        return objective(trial)

    failing_since: float | None = None
    delay = 0.5
    last_stale = -float("inf")
    while True:
        if deadline is not None and time.time() >= deadline:
            return
        wait = False
        try:
            lock.acquire()
            try:
                if time.monotonic() - last_stale >= stale_every:
                    _fail_stale(study)
                    last_stale = time.monotonic()
                done, running = _counts(study)
                if done >= budget:
                    return
                if done + running >= budget:
                    wait = True
                else:
                    study.optimize(start_trial, n_trials=1, catch=(Exception,), callbacks=callbacks)
            finally:
                lock.release()
            failing_since, delay = None, 0.5
        except Exception as exc:
            if not _storage_failure(exc):
                raise
            now = time.time()
            failing_since = failing_since or now
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if now - failing_since >= storage_patience:
                raise StorageError(
                    f"lost the study storage for {now - failing_since:.0f} s ({redact(first)}); "
                    "this worker stopped", where="storage",
                    hint="finished trials are kept in the storage; when it is back, run the same "
                    "command again to resume") from None
            log.warning("storage error (retrying in %.1f s): %s", delay, redact(first))
            time.sleep(min(delay, max(0.1, failing_since + storage_patience - now)))
            delay = min(delay * 2, 15.0)
            continue
        if wait:
            time.sleep(poll)


def _mark_interrupted(study: optuna.Study, objective: Objective) -> None:
    """After Ctrl-C: no trial of ours may stay RUNNING (Optuna already failed the one in flight)."""
    trial = objective.current
    if trial is None:
        return
    frozen = study._storage.get_trial(trial._trial_id)
    if frozen.state == TrialState.RUNNING:
        mark_interrupted(study._storage, trial._trial_id)
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)


def run_worker(checked: CheckedStudy, options: WorkerOptions, *, device: str, worker: int | str,
               deadline: float | None = None, callback: Any = None) -> bool:
    """One worker on an existing study (a spawned process or ``paretolab worker``).

    Returns True when stopped by Ctrl-C. Raises StorageError when the storage is gone for good.
    """
    spec = checked.spec
    study = open_study(checked, create=False, storage_options=options.storage_kwargs(), worker=worker)
    host = f"{socket.gethostname()}:{os.getpid()}"
    objective = Objective(checked, device, worker=worker, host=host)  # type: ignore[arg-type]
    lock = StudyLock(spec.storage_url, spec.name)
    poll = max(0.2, min(2.0, options.heartbeat_interval / 2))
    try:
        worker_loop(study, objective, spec.budget.trials, deadline, callback, lock=lock,
                    storage_patience=options.storage_patience, poll=poll,
                    stale_every=options.heartbeat_interval)
        return False
    except KeyboardInterrupt:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a 2nd Ctrl-C must not cut cleanup
        try:
            _mark_interrupted(study, objective)
        finally:
            signal.signal(signal.SIGINT, previous)
        return True
    finally:
        lock.close()


def _worker_main(spec_data: dict[str, Any], source: str | None, index: int, device: str,
                 threads: int, deadline: float | None, options: dict[str, Any]) -> None:
    """Entry point of a worker process (spawned: a clean interpreter, no inherited CUDA state)."""
    import torch

    torch.set_num_threads(max(1, threads))
    spec = StudySpec.model_validate({**spec_data, "source": source})
    try:
        checked = check_study(spec, check_storage_reachable=False)
        _setup_logging(spec.study_dir, index)
        run_worker(checked, WorkerOptions(**options), device=device, worker=index, deadline=deadline)
    except UserError as exc:
        log.error("worker %s stopped: %s", index, exc.render())
        sys.stderr.write(f"error: worker {index}: {exc.render()}\n")
        sys.exit(exc.exit_code)


def _refresh_report(meta: StudyMeta, study: optuna.Study, spec: StudySpec) -> None:
    """Rewrite report.html mid-run; a failure here is logged and never stops the run."""
    try:
        from paretolab.locate import spec_target
        from paretolab.report import write_report

        records = load_records(study)
        write_report(meta, records, spec.study_dir, summary=front_summary(meta, records),
                     target=spec_target(spec))
    except Exception as exc:  # noqa: BLE001
        log.warning("report.html not refreshed: %s: %s", type(exc).__name__, redact(str(exc))[:300])


class _Refresher:
    """Calls ``_refresh_report`` at most every ``every`` seconds."""

    def __init__(self, meta: StudyMeta, study: optuna.Study, spec: StudySpec, every: float):
        self.args = (meta, study, spec)
        self.every = every
        self.last = time.monotonic()

    def __call__(self) -> None:
        if self.every and time.monotonic() - self.last >= self.every:
            _refresh_report(*self.args)
            self.last = time.monotonic()


def run_study(checked: CheckedStudy, *, workers: int | str | None = None, progress: bool = True,
              console: Any = None, heartbeat_interval: int | None = None,
              grace_period: int | None = None, max_retries: int | None = None,
              storage_patience: float | None = None, report_every: float | None = None,
              trials_per_gpu: int | None = None) -> RunOutcome:
    """Run (or resume) the study to its trial budget and write trials.csv / front.csv.

    The keyword options override the study file's fault settings (see ``WorkerOptions``).
    """
    spec = checked.spec
    options = WorkerOptions.from_spec(spec, heartbeat_interval=heartbeat_interval,
                                      grace_period=grace_period, max_retries=max_retries,
                                      storage_patience=storage_patience, report_every=report_every,
                                      trials_per_gpu=trials_per_gpu)
    study_dir = spec.study_dir
    study_dir.mkdir(parents=True, exist_ok=True)
    _setup_logging(study_dir, 0)
    study = open_study(checked, create=True, storage_options=options.storage_kwargs())
    _fail_stale(study)
    meta = StudyMeta.from_study(study)
    n_workers = resolve_workers(workers if workers is not None else spec.workers, spec.device,
                                options.trials_per_gpu)
    deadline = time.time() + spec.budget.timeout if spec.budget.timeout else None
    view = StudyProgress(study, meta, console=console, enabled=progress)
    refresh = _Refresher(meta, study, spec, options.report_every)
    interrupted = False
    try:
        with view:
            if n_workers == 1:
                def after_trial(_s: Any, _t: Any) -> None:
                    view.update()
                    refresh()

                interrupted = run_worker(checked, options, device=worker_device(spec.device, 0),
                                         worker=0, deadline=deadline, callback=after_trial)
            else:
                interrupted = _run_parallel(checked, n_workers, deadline, view, options, refresh)
    finally:
        try:
            records = load_records(study)
        except Exception as exc:
            if not _storage_failure(exc):
                raise
            raise StorageError(f"lost the study storage {redact(spec.storage_url)}", where="storage",
                               hint="finished trials are kept in the storage; when it is back, run "
                               "the same command again to resume") from None
        summary = front_summary(meta, records)
        tables = write_tables(meta, records, study_dir, summary)
        try:  # the report must never lose the run's results (the tables above are written)
            from paretolab.locate import spec_target
            from paretolab.report import write_report

            write_report(meta, records, study_dir, summary=summary,
                         target=spec_target(spec))
        except Exception as exc:  # noqa: BLE001
            log.warning("report.html not written: %s: %s", type(exc).__name__, exc)
    counts = {state: sum(1 for r in records if r.state == state)
              for state in ("COMPLETE", "FAIL", "PRUNED", "RUNNING")}
    failures = [(r.number, r.failure.reason if r.failure and r.failure.reason is not None
                  else _lost_reason(r.user_attrs)) for r in records if r.state == "FAIL"]
    return RunOutcome(study_dir, spec.storage_url, counts, summary, meta, tables, interrupted, failures)


def _lost_reason(attrs: dict[str, Any]) -> str:
    host = attrs.get("host")
    return f"lost (worker {host} died or stopped beating); redone" if host else "lost (worker died); redone"


class _Children:
    """The spawned worker processes of a local parallel run (workers 1..N-1; 0 is this process).

    ``watch`` replaces a worker killed by a signal (OOM killer, ``kill -9``) while the budget
    is not reached, at most ``n_workers * max(1, max_retries)`` times in one run, and refreshes
    the progress view and the report about once a second.
    """

    def __init__(self, checked: CheckedStudy, slots: list[Any], deadline: float | None,
                 options: WorkerOptions, view: StudyProgress, refresh: Any = None):
        self.spec = checked.spec
        self.ctx = mp.get_context("spawn")  # a clean interpreter: no inherited CUDA or thread state
        self.data = self.spec.model_dump(mode="json")
        self.slots, self.deadline, self.view, self.refresh = slots, deadline, view, refresh
        self.opts = dict(options.__dict__)
        self.respawns_left = (len(slots) + 1) * max(1, options.max_retries)
        self.procs: dict[int, Any] = {}
        self.stopping = threading.Event()

    def start(self, slot: Any) -> None:
        proc = self.ctx.Process(target=_worker_main, name=f"paretolab-worker-{slot.index}",
                                args=(self.data, self.spec.source, slot.index, slot.device, slot.threads,
                                      self.deadline, self.opts))
        saved = {k: os.environ.get(k) for k in slot.env}
        os.environ.update(slot.env)  # the spawned interpreter starts with this environment
        try:
            proc.start()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        self.procs[slot.index] = proc

    def alive(self) -> bool:
        return any(p.is_alive() for p in self.procs.values())

    def watch(self, until_done: bool) -> None:
        """Poll the children until ``stopping`` is set (or, with ``until_done``, all have ended)."""
        last_view = 0.0
        while not self.stopping.is_set() and (self.alive() or not until_done):
            if not self.alive():  # all ended (errors are in their logs): nothing to poll
                self.stopping.wait(0.2)
            for slot in self.slots:
                p = self.procs[slot.index]
                p.join(timeout=0.2 / len(self.slots))
                if (not p.is_alive() and p.exitcode is not None and p.exitcode < 0
                        and p.exitcode != -signal.SIGINT and self.respawns_left > 0
                        and not self.stopping.is_set()):
                    try:
                        done = count_done(self.view.study)
                    except Exception:  # noqa: BLE001 - storage trouble: the workers report it
                        done = self.spec.budget.trials
                    if done < self.spec.budget.trials:
                        log.warning("worker %s died (signal %s); starting a new one", slot.index, -p.exitcode)
                        self.respawns_left -= 1
                        self.start(slot)
            if time.monotonic() - last_view >= 1.0:
                last_view = time.monotonic()
                try:
                    self.view.update()
                    if self.refresh is not None:
                        self.refresh()
                except Exception as exc:  # noqa: BLE001 - the display must not stop the workers
                    if not _storage_failure(exc):
                        log.warning("progress view: %s: %s", type(exc).__name__, exc)

    def watch_in_background(self) -> threading.Thread:
        def target() -> None:
            try:
                self.watch(until_done=False)
            except Exception as exc:  # noqa: BLE001 - logged; the workers go on
                log.warning("worker watcher stopped: %s: %s", type(exc).__name__, exc)

        thread = threading.Thread(target=target, name="paretolab-watch", daemon=True)
        thread.start()
        return thread


def _run_parallel(checked: CheckedStudy, n_workers: int, deadline: float | None,
                  view: StudyProgress, options: WorkerOptions, refresh: Any = None) -> bool:
    """Worker 0 in this process, workers 1..N-1 spawned; Ctrl-C stops them all. True if stopped.

    Running worker 0 here saves one interpreter start (torch and the task imported again) and
    lets trials begin while the other workers are still starting.
    """
    import torch

    spec = checked.spec
    slots = plan_workers(n_workers, spec.device)
    children = _Children(checked, slots[1:], deadline, options, view, refresh)
    for slot in slots[1:]:
        children.start(slot)
    threads = torch.get_num_threads()
    watcher = children.watch_in_background()
    interrupted = False
    try:
        if not slots[0].device.startswith("cuda"):
            torch.set_num_threads(slots[0].threads)
        try:
            interrupted = run_worker(checked, options, device=worker_device(spec.device, 0),
                                     worker=0, deadline=deadline)
        finally:
            torch.set_num_threads(threads)
            children.stopping.set()
            watcher.join()
        if not interrupted:
            children.stopping.clear()
            children.watch(until_done=True)  # the others finish their last trials
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if interrupted or children.alive():
            # a terminal sends SIGINT to every worker too; a lone `kill -INT` does not: pass it on
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                _stop_all(children.procs)
            finally:
                signal.signal(signal.SIGINT, previous)
    return interrupted


def _stop_all(procs: dict[int, Any]) -> None:
    """Give interrupted workers time to record their trials; nudge and then end stragglers."""
    end = time.time() + 2
    for p in procs.values():
        p.join(timeout=max(0.0, end - time.time()))
    for p in procs.values():
        if p.is_alive() and p.pid:
            try:
                os.kill(p.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
    for p in procs.values():
        p.join(timeout=30)
    for p in procs.values():
        if p.is_alive():
            p.terminate()
            p.join(timeout=5)
