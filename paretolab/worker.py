"""One worker on a study: the trial loop and its heartbeat (the process entry point is
:mod:`paretolab.worker_process`, the interrupts :mod:`paretolab.interrupts`).

A run's workers (``paretolab run`` in its own process plus the processes of :mod:`paretolab.pool`,
and ``paretolab worker`` on other machines) each loop:

1. take the study lock (``StudyLock``: flock for SQLite, a PostgreSQL advisory lock otherwise);
2. fail stale trials (a worker that stopped beating for ``grace_period`` seconds is gone; its
   trial is re-enqueued with the same params up to ``max_retries`` times);
3. count the trials that use up the budget (finished ones that count, plus RUNNING ones);
   stop when the finished ones reach the budget; wait when finished + running do (a running
   trial may still be lost and need redoing); stop with :class:`StudyStopped` when the last
   ``max_consecutive_failures`` trials of this session all failed;
4. otherwise create the trial and release the lock as soon as it exists (RUNNING), then train
   it with a heartbeat beside it, and tell Optuna how it ended.

Because step 3 and the trial's creation happen under one lock, workers racing for the last
trial start exactly one: the study never runs more trials than its budget. A trial lost with
its worker does not count (``records.counts_toward_budget``) and is redone, so a run ends with
exactly ``budget`` counted trials.

Faults: a storage error is retried with back-off for ``storage_patience`` seconds (a full or
read-only database at once ends the worker: retrying cannot help); no trial is created while
the storage fails, and a trial cut by a storage error records no failure, so it never uses up
budget. The heartbeat keeps beating through an outage (Optuna's own thread stops at its first
failed write). A trial that another worker failed as stale meanwhile (this worker was paused,
or beat slower than that worker's grace period) is dropped with one log line.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import socket
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from paretolab.errors import SpecError, StorageError, StudyStopped, UserError
from paretolab.interrupts import HeldInterrupts, interrupt_signal
from paretolab.records import FailureRecord, counts_toward_budget, interrupted
from paretolab.spec import defaults as _defaults
from paretolab.spec.checks import CheckedStudy
from paretolab.storage import StudyLock, storage_cause, storage_failure, storage_full

log = logging.getLogger(__name__)

DEFAULT_MAX_CONSECUTIVE_FAILURES = _defaults.MAX_CONSECUTIVE_FAILURES


@dataclass(frozen=True)
class WorkerOptions:
    """Fault-handling settings shared by ``run`` and ``worker``: the study file's ``faults``
    section and ``trials_per_gpu``, overridden by keyword options / CLI flags."""

    heartbeat_interval: int = _defaults.HEARTBEAT_INTERVAL_S  # seconds between heartbeats
    grace_period: int = _defaults.GRACE_PERIOD_S  # no heartbeat this long: the trial is failed
    max_retries: int = _defaults.MAX_RETRIES  # re-runs of a lost trial's params
    storage_patience: float = _defaults.STORAGE_PATIENCE_S  # seconds of retrying a lost storage
    max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES  # failed in a row: stop
    trials_per_gpu: int = 1  # workers per GPU with workers: auto
    report_every: float = 180.0  # seconds between report.html refreshes during a run

    @classmethod
    def from_spec(cls, spec: Any, **overrides: Any) -> WorkerOptions:
        fields = cls.__dataclass_fields__  # type: ignore[attr-defined]
        values: dict[str, Any] = {k: fields[k].default for k in fields}
        faults = getattr(spec, "faults", None)
        if faults is not None:
            values.update({k: v for k, v in faults.model_dump().items() if k in fields})
        values["trials_per_gpu"] = getattr(spec, "trials_per_gpu", values["trials_per_gpu"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        opts = cls(**values)
        problem = _defaults.grace_problem(opts.heartbeat_interval, opts.grace_period)
        if problem:
            raise SpecError(problem, where="faults.grace_period")
        return opts

    def storage_kwargs(self) -> dict[str, Any]:
        return {"heartbeat_interval": int(self.heartbeat_interval),
                "grace_period": int(self.grace_period), "max_retries": int(self.max_retries)}


class Heartbeat:
    """A running trial's heartbeat, written every ``interval`` seconds from a thread.

    Optuna's heartbeat thread stops for good at its first failed write, so after a storage
    outage longer than the grace period the live trial looks stale and another worker fails
    it. This one logs the first failed beat, keeps trying, and logs when beats resume.
    """

    def __init__(self, storage: Any, trial_id: int, number: int, interval: float):
        self.storage, self.trial_id, self.number, self.interval = storage, trial_id, number, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"paretolab-heartbeat-{number}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        failing_since: float | None = None
        while True:
            try:
                self.storage.record_heartbeat(self.trial_id)
                if failing_since is not None:
                    log.info("trial %d: heartbeat written again after %.0f s", self.number,
                             time.monotonic() - failing_since)
                    failing_since = None
            except Exception as exc:  # noqa: BLE001 - a storage outage: keep beating
                if failing_since is None:
                    failing_since = time.monotonic()
                    log.warning("trial %d: heartbeat not written (%s); retrying", self.number,
                                storage_cause(exc))
            if self._stop.wait(self.interval if failing_since is None else min(1.0, self.interval)):
                return


def _fail_stale(study: optuna.Study) -> None:
    with warnings.catch_warnings():  # experimental in name only; part of Optuna since 2.9
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def _counts(trials: Sequence[FrozenTrial]) -> tuple[int, int]:
    """(finished trials that count toward the budget, RUNNING trials)."""
    running = sum(t.state == TrialState.RUNNING for t in trials)
    return sum(counts_toward_budget(t.state.name, t.user_attrs) for t in trials), running


def failure_streak(trials: Sequence[FrozenTrial], first: int) -> list[FrozenTrial]:
    """The failed trials (each recorded why) that end the study with no completed or pruned
    trial after them, among those numbered ``first`` or above (this worker's session: a study
    that failed before a fix is not held against the fixed task). Lost and interrupted trials
    and running ones are skipped, neither failures nor successes."""
    streak: list[FrozenTrial] = []
    for t in reversed(trials):
        if t.number < first or t.state in (TrialState.COMPLETE, TrialState.PRUNED):
            break
        if t.state == TrialState.FAIL and counts_toward_budget("FAIL", t.user_attrs):
            streak.append(t)
    return streak


def mark_interrupted(study: optuna.Study, trial: optuna.Trial, signum: int = signal.SIGINT) -> None:
    """A trial cut by Ctrl-C or SIGTERM: recorded as interrupted (redone on resume), never left
    RUNNING. Public API only (``Trial.set_user_attr``, ``Study.tell``); a trial another worker
    already failed, or a storage that is gone, leaves nothing more to do here."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a 2nd Ctrl-C must not cut this
    try:
        existing = FailureRecord.read(trial)
        if existing is None or existing.reason is None:
            interrupted(signum).write(trial)
        else:
            FailureRecord(None, interrupted=True).write(trial)
        study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
    except optuna.exceptions.UpdateFinishedTrialError:
        pass
    except Exception as exc:  # noqa: BLE001 - the heartbeat's grace period recovers the trial
        log.warning("trial %d not marked interrupted (%s); it is redone once it goes stale",
                    trial.number, storage_cause(exc) if storage_failure(exc) else exc)
    finally:
        signal.signal(signal.SIGINT, previous)


def _taken_over(storage: Any, trial_id: int) -> bool:
    try:
        return storage.get_trial(trial_id).state.is_finished()
    except Exception:  # noqa: BLE001 - storage trouble: the caller reports its own error
        return False


def run_trial(study: optuna.Study, storage: Any, study_id: int, objective: Callable[[optuna.Trial], Any],
              *, heartbeat_interval: float, on_created: Callable[[], None] | None = None) -> str:
    """Create one trial, train it with a heartbeat, tell Optuna its end. Returns how it ended:
    ``complete``, ``pruned``, ``failed`` or ``taken over`` (failed as stale by another worker).

    Uses the public ask-and-tell API rather than ``Study.optimize``, whose heartbeat thread
    dies at the first storage error and which crashes (``Cannot tell a FAIL trial``) when the
    trial was taken over. An exception from the objective is the trial's failure (its reason
    recorded, so it counts toward the budget), unless it is a storage error: that one is
    raised to the loop and the trial, no longer beating, goes stale and is redone.
    """
    # an interrupt that comes while the trial is created is raised where the trial gets marked
    with HeldInterrupts() as held:
        with warnings.catch_warnings():  # Optuna warns that heartbeats are meant for optimize():
            warnings.simplefilter("ignore", UserWarning)  # this function beats itself (Heartbeat)
            trial = study.ask()
        if on_created is not None:
            on_created()  # the trial exists (RUNNING): it now counts for every other worker
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        values: Any = None
        error: Exception | None = None
        with Heartbeat(storage, trial_id, trial.number, heartbeat_interval):
            try:
                held.deliver()
                values = objective(trial)
                state = TrialState.COMPLETE
            except optuna.TrialPruned:
                state = TrialState.PRUNED
            except KeyboardInterrupt as exc:
                mark_interrupted(study, trial, interrupt_signal(exc))
                raise
            except Exception as exc:  # noqa: BLE001 - sorted below
                state, error = TrialState.FAIL, exc
    if error is not None and _taken_over(storage, trial_id):
        log.warning("trial %d was failed as stale by another worker while this one ran it (paused, "
                    "or beating slower than that worker's grace period); its result is dropped",
                    trial.number)
        return "taken over"
    if error is not None and storage_failure(error):
        raise error
    if state == TrialState.COMPLETE and not all(math.isfinite(float(v)) for v in values):
        error = ValueError(f"objective values are not finite: {list(values)}")
        state, values = TrialState.FAIL, None
    try:  # another worker may fail the trial at any moment, also between tell's check and write
        if error is not None:
            recorded = FailureRecord.read(trial)
            if recorded is None or recorded.reason is None:
                recorded = FailureRecord(f"{type(error).__name__}: {error}")
                recorded.write(trial)
            log.warning("trial %d failed: %s", trial.number, recorded.reason,
                        exc_info=(type(error), error, error.__traceback__))
            values = None
        told = study.tell(trial, values, state=state, skip_if_finished=True)
    except optuna.exceptions.UpdateFinishedTrialError:
        told = None
    if told is None or told.state != state:
        log.warning("trial %d was failed as stale by another worker while this one ran it; its "
                    "result is dropped", trial.number)
        return "taken over"
    if state == TrialState.COMPLETE:
        log.info("trial %d finished with values %s", trial.number, list(values))
    else:
        log.info("trial %d %s", trial.number, "pruned" if state == TrialState.PRUNED else "failed")
    return {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned"}.get(state, "failed")


class _NoLock:
    def acquire(self) -> None:
        pass

    def release(self) -> None:
        pass

    def close(self) -> None:
        pass


def worker_loop(study: optuna.Study, storage: Any, objective: Callable[[optuna.Trial], Any], budget: int,
                deadline: float | None, *, options: WorkerOptions, lock: Any = None,
                after_trial: Callable[[], None] | None = None, poll: float = 1.0) -> None:
    """Run trials one at a time until the budget (or the wall-clock deadline) is reached.

    See the module docstring for the lock / stale / budget protocol. Stale trials are looked
    for at most every heartbeat interval (a lost worker cannot be noticed before its grace
    period anyway), so a fast trial does not pay that query each time. Raises StorageError
    when the storage is gone for good, StudyStopped after too many failures in a row.
    """
    lock = lock or _NoLock()
    study_id: int | None = None
    first: int | None = None  # trials numbered below this were there before this session
    failing_since: float | None = None
    delay = 0.5
    last_stale = -float("inf")
    while True:
        if deadline is not None and time.time() >= deadline:
            return
        wait = ran = False
        try:
            lock.acquire()
            try:
                if study_id is None:
                    study_id = storage.get_study_id_from_name(study.study_name)
                if time.monotonic() - last_stale >= options.heartbeat_interval:
                    with HeldInterrupts():  # failing a trial and enqueuing its retry: both or neither
                        _fail_stale(study)
                    last_stale = time.monotonic()
                trials = study.get_trials(deepcopy=False)
                first = len(trials) if first is None else first
                streak = failure_streak(trials, first)
                if len(streak) >= options.max_consecutive_failures:
                    raise _stopped(streak)
                done, running = _counts(trials)
                if done >= budget:
                    return
                if done + running >= budget:
                    wait = True
                else:
                    run_trial(study, storage, study_id, objective,
                              heartbeat_interval=options.heartbeat_interval, on_created=lock.release)
                    ran = True
            finally:
                lock.release()
            failing_since, delay = None, 0.5
        except Exception as exc:
            if isinstance(exc, UserError) or not storage_failure(exc):
                raise
            cause = storage_cause(exc)
            hint = ("finished trials are kept in the storage; when it is back, run the same "
                    "command again to resume")
            if storage_full(exc):
                raise StorageError(f"cannot write the study storage ({cause}); this worker stopped "
                                   "before starting another trial", where="storage",
                                   hint="free space on its disk; " + hint) from None
            now = time.time()
            failing_since = failing_since or now
            if now - failing_since >= options.storage_patience:
                raise StorageError(f"lost the study storage for {now - failing_since:.0f} s ({cause}); "
                                   "this worker stopped", where="storage", hint=hint) from None
            log.warning("storage error (retrying in %.1f s): %s", delay, cause)
            time.sleep(min(delay, max(0.1, failing_since + options.storage_patience - now)))
            delay = min(delay * 2, 15.0)
            continue
        if wait:
            time.sleep(poll)
        elif ran and after_trial is not None:
            after_trial()


def _stopped(streak: list[FrozenTrial]) -> StudyStopped:
    last = streak[0]
    return StudyStopped(
        f"the last {len(streak)} trials failed in a row and none completed (trial {last.number}: "
        f"{(FailureRecord.read(last) or FailureRecord('?')).reason}); stopped instead of spending the budget on them",
        hint="fix what makes them fail (each trial's reason is in the failure column of trials.csv; "
        "paretolab validate runs the task or trainer once), then run the same command again; "
        "faults.max_consecutive_failures sets how many failures in a row stop a study")


def open_worker_study(checked: CheckedStudy, options: WorkerOptions, worker: int | str, *,
                      create: bool = False) -> tuple[Any, optuna.Study]:
    """(storage, study) for one worker session: the storage opened once with this worker's
    heartbeat settings, the study created (``create``) or loaded, with the worker's sampler."""
    from paretolab.storage import open_storage
    from paretolab.study import open_study

    storage = open_storage(checked.spec.storage_url, **options.storage_kwargs())
    return storage, open_study(checked, create=create, storage=storage, worker=worker)


def run_worker(checked: CheckedStudy, options: WorkerOptions, *, device: str, worker: int | str,
               deadline: float | None = None, after_trial: Callable[[], None] | None = None,
               opened: tuple[Any, optuna.Study] | None = None, trackers: Any = None) -> int | None:
    """One worker on an existing study until its budget: in ``run``'s own process, a spawned
    process, or ``paretolab worker``. ``opened``: the (storage, study) this process already has;
    ``trackers``: the study file's trackers this process already opened.

    Returns the signal that stopped it (SIGINT for Ctrl-C, SIGTERM), None when the budget is
    reached. Raises StorageError when the storage is gone for good.
    """
    spec = checked.spec
    storage, study = opened or open_worker_study(checked, options, worker)
    from paretolab.objective import Objective

    host = f"{socket.gethostname()}:{os.getpid()}"
    objective: Callable[[optuna.Trial], Any] = Objective(checked, device, worker=worker, host=host)
    objective, after_trial = _tracked(spec, storage, study, objective, after_trial, trackers)
    lock = StudyLock(spec.storage_url, spec.name)
    poll = max(0.2, min(2.0, options.heartbeat_interval / 2))
    try:
        worker_loop(study, storage, objective, spec.budget.trials, deadline, options=options, lock=lock,
                    after_trial=after_trial, poll=poll)
        return None
    except KeyboardInterrupt as exc:  # the trial in flight was marked in run_trial
        return interrupt_signal(exc)
    finally:
        lock.close()


Callback = Callable[[], None]


def _tracked(spec: Any, storage: Any, study: optuna.Study, objective: Callable[[optuna.Trial], Any],
             after_trial: Callback | None, trackers: Any = None,
             ) -> tuple[Callable[[optuna.Trial], Any], Callback | None]:
    """The objective and after-trial callback, extended to send each trial this worker finished,
    read back from storage, to the study file's trackers (``log:``; opened here unless given);
    unchanged without any."""
    from paretolab.records import StudyMeta, trial_record

    if trackers is None:
        from paretolab.trackers import open_trackers

        trackers = open_trackers(spec, StudyMeta.from_study(study))
    if not trackers:
        return objective, after_trial
    numbers: list[int] = []

    def tracked(trial: optuna.Trial) -> Any:
        numbers.append(trial.number)
        return objective(trial)

    def after() -> None:
        while numbers:
            number = numbers.pop(0)
            try:
                study_id = storage.get_study_id_from_name(study.study_name)
                frozen = storage.get_trial(storage.get_trial_id_from_study_id_trial_number(study_id, number))
            except Exception as exc:  # noqa: BLE001 - a tracker never stops the study
                log.warning("trial %d not sent to the trackers: %s", number, storage_cause(exc))
                continue
            if frozen.state.is_finished():
                trackers.on_trial(trial_record(frozen))
        if after_trial is not None:
            after_trial()

    return tracked, after
