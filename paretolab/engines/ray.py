"""The study's workers as Ray tasks on a cluster (``workers: {engine: ray, ...}``, ``run --ray``).

The ``run`` process is the driver: it creates the study, starts ``count`` Ray tasks, each
running the worker loop of :mod:`paretolab.worker` against the study's storage with the
resources of ``per_worker`` (a task with ``num_gpus: 1`` sees its GPU as ``cuda:0`` through
the ``CUDA_VISIBLE_DEVICES`` Ray sets), shows progress and writes the report, as with local
workers. Ray schedules them; the study's lock and budget keep them exact.

- A worker lost with its node or process stops beating: another worker fails its trial after
  the grace period and re-runs it (the heartbeat protocol of local runs), and Ray starts the
  task again (``max_retries``), which joins the study anew while the budget is not reached.
- Ctrl-C (or SIGTERM) on the driver cancels the tasks: each gets a KeyboardInterrupt and marks
  its trial interrupted, as a local worker does. A task that has not ended 10 s later is
  killed, and the driver marks the trials its workers left RUNNING as interrupted itself (seen
  with a worker still in torch's lazy imports of its first trial, where the interrupt is lost).
- SQLite works only when every worker is on the driver's machine: on a cluster of several
  nodes the run stops at once with one line saying so (use PostgreSQL).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import optuna

from paretolab.engines import require
from paretolab.engines.errors import WorkerEnd
from paretolab.engines.remote import run_remote_worker
from paretolab.errors import StorageError, UserError
from paretolab.interrupts import interrupt_signal
from paretolab.progress import StudyProgress
from paretolab.records import count_done, trial_attrs
from paretolab.spec.checks import CheckedStudy
from paretolab.spec.engines import ACROSS_NODES_HINT, RayWorkers, storage_across_nodes
from paretolab.storage import storage_failure
from paretolab.worker import WorkerOptions, mark_interrupted

log = logging.getLogger(__name__)

STOP_WAIT_S = 10.0  # after a cancel, how long the tasks get to mark their trials themselves


def ray_task(spec_data: dict[str, Any], source: str | None, label: str, cwd: str | None,
             deadline: float | None, options: dict[str, Any], threads: int) -> WorkerEnd:
    """The body of one Ray worker task (a module-level function: Ray ships it by reference)."""
    return run_remote_worker(spec_data, source, label, cwd, deadline, options, threads)


def connect(address: str) -> tuple[Any, bool]:
    """(the ray module, whether this call started the connection) for ``address``."""
    ray = require("ray", "ray", "workers: {engine: ray}")
    if ray.is_initialized():
        return ray, False
    # Ray's driver installs its own SIGTERM handler (it logs and exits, leaving the trials
    # RUNNING): the run's handlers (SIGTERM stops it like Ctrl-C) are put back after it
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        ray.init(address=None if address == "local" else address, namespace="paretolab",
                 log_to_driver=False, configure_logging=False, include_dashboard=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise UserError(f"cannot connect to the Ray cluster at {address!r} ({str(exc).splitlines()[0]})",
                        where="workers.address", hint="start it (ray start --head) or give its address: "
                        "--ray HOST:PORT, or address: local to start one in this process") from None
    finally:
        for signum, handler in handlers.items():
            if callable(handler) and threading.current_thread() is threading.main_thread():
                signal.signal(signum, handler)
    return ray, True


def check_storage_spans(storage_url: str, engine: RayWorkers, ray: Any = None) -> None:
    """A storage that not every node reaches (SQLite) is refused, one line, exit 2: before
    connecting for an address on another machine, once connected for a cluster of several nodes."""
    what = f"Ray cluster at {engine.address}"
    if ray is not None:
        nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
        if nodes < 2:
            return
        what = f"the Ray cluster at {engine.address} has {nodes} nodes"
    elif not engine.multi_node:
        return
    problem = storage_across_nodes(storage_url, what)
    if problem:
        raise StorageError(problem, where="storage", hint=ACROSS_NODES_HINT)


def gpus_per_worker(ray: Any, engine: RayWorkers, device: str) -> float:
    """``per_worker.num_gpus``, else one GPU each when the cluster has any and device is not cpu."""
    if engine.per_worker.num_gpus is not None:
        return engine.per_worker.num_gpus
    return 1.0 if device != "cpu" and ray.cluster_resources().get("GPU", 0) >= 1 else 0.0


class RayRun:
    """The tasks of one run: start, supervise, stop (see the module docstring)."""

    def __init__(self, ray: Any, checked: CheckedStudy, engine: RayWorkers, opened: tuple[Any, optuna.Study],
                 deadline: float | None, options: WorkerOptions):
        self.ray, self.spec, self.engine = ray, checked.spec, engine
        self.storage, self.study = opened
        self.deadline, self.options = deadline, options
        self.labels = [f"ray-{i}" for i in range(engine.count)]
        self.refs: dict[Any, str] = {}
        self.ends: list[WorkerEnd] = []

    def start(self) -> None:
        gpus = gpus_per_worker(self.ray, self.engine, self.spec.device)
        cpus = self.engine.per_worker.num_cpus
        remote = self.ray.remote(ray_task).options(
            num_cpus=cpus, num_gpus=gpus, max_retries=self.engine.count * max(1, self.options.max_retries),
            retry_exceptions=False)
        data = self.spec.model_dump(mode="json")
        source = os.path.abspath(self.spec.source) if self.spec.source else None
        for label in self.labels:
            threads = self.spec.threads or max(1, int(cpus))  # the file's threads:, else its CPUs
            ref = remote.remote(data, source, label, os.getcwd(), self.deadline, dict(self.options.__dict__),
                                threads)
            self.refs[ref] = label
        log.info("started %d Ray workers (%g CPU, %g GPU each)", len(self.labels), cpus, gpus)

    def supervise(self, tick: Callable[[], None]) -> None:
        """Wait for every task, calling ``tick`` about once a second."""
        pending = list(self.refs)
        while pending:
            # no blocking Ray call: Ray turns a signal that arrives inside one into its own
            # KeyboardInterrupt, and SIGTERM would then read as Ctrl-C
            done, pending = self.ray.wait(pending, num_returns=len(pending), timeout=0)
            for ref in done:
                self.ends.append(self._end(ref))
            tick()
            if pending:
                time.sleep(1.0)

    def _end(self, ref: Any) -> WorkerEnd:
        label = self.refs[ref]
        try:
            end = self.ray.get(ref)
        except self.ray.exceptions.TaskCancelledError:
            log.info("Ray worker %s cancelled", label)
            return WorkerEnd(label, 128 + signal.SIGINT)
        except self.ray.exceptions.RayError as exc:  # lost more often than it may be restarted
            log.warning("Ray worker %s ended without finishing: %s", label, str(exc).splitlines()[0])
            return WorkerEnd(label, 1)
        log.info("Ray worker %s ended with code %d", label, end.code)
        return end

    def stop(self) -> None:
        """Cancel the tasks (each marks its trial interrupted); kill those that have not ended
        after ``STOP_WAIT_S``; mark what their workers left RUNNING as interrupted."""
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a 2nd Ctrl-C must not cut this
        try:
            pending = [ref for ref in self.refs if not self._finished(ref)]
            for ref in pending:
                self.ray.cancel(ref)
            _, left = self.ray.wait(pending, num_returns=len(pending), timeout=STOP_WAIT_S)
            for ref in left:
                log.warning("Ray worker %s did not stop in %g s; killing it", self.refs[ref], STOP_WAIT_S)
                self.ray.cancel(ref, force=True)
            if left:
                self.ray.wait(left, num_returns=len(left), timeout=STOP_WAIT_S)
            self.mark_left_running()
        finally:
            signal.signal(signal.SIGINT, previous)

    def _finished(self, ref: Any) -> bool:
        return bool(self.ray.wait([ref], timeout=0)[0])

    def mark_left_running(self) -> None:
        """Trials of this run's workers still RUNNING once every task has ended: interrupted."""
        ours = set(self.labels)
        storage = self.storage
        study_id = storage.get_study_id_from_name(self.study.study_name)
        for t in self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            if trial_attrs(t).get("worker") in ours:
                trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
                mark_interrupted(self.study, optuna.Trial(self.study, trial_id))

    def result(self) -> None:
        """Raise the user error a worker stopped on (a study whose trials keep failing: every
        worker stops on it), or say that the workers were lost before the budget."""
        for end in self.ends:
            end.raise_error()
        budget = self.spec.budget.trials
        if any(e.code == 1 for e in self.ends) and count_done(self.study) < budget and (
                self.deadline is None or time.time() < self.deadline):
            raise UserError("the Ray workers were lost before the budget was reached", where="workers",
                            hint="finished trials are kept in the storage: run the same command again "
                            "to resume; the worker logs are in the study folder")


def run_ray(checked: CheckedStudy, engine: RayWorkers, opened: tuple[Any, optuna.Study], deadline: float | None,
            view: StudyProgress, options: WorkerOptions, refresh: Callable[[], None] | None = None,
            ) -> int | None:
    """Run the study's workers on the Ray cluster of ``engine`` until the budget (``opened``: this
    process's storage and study, for progress and for marking what killed workers left). Returns the
    signal that stopped the run (Ctrl-C, SIGTERM), None at the budget; raises the user error
    the workers stopped on."""
    check_storage_spans(checked.spec.storage_url, engine)
    ray, owned = connect(engine.address)
    stopped: int | None = None
    try:
        check_storage_spans(checked.spec.storage_url, engine, ray)
        run = RayRun(ray, checked, engine, opened, deadline, options)

        def tick() -> None:
            try:
                view.update()
                if refresh is not None:
                    refresh()
            except Exception as exc:  # noqa: BLE001 - the display must not stop the workers
                if not storage_failure(exc):
                    log.warning("progress view: %s: %s", type(exc).__name__, exc)

        try:
            run.start()
            run.supervise(tick)
        except KeyboardInterrupt as exc:
            stopped = interrupt_signal(exc)
            run.stop()
        if stopped is None:
            run.result()
    finally:
        if owned:
            ray.shutdown()
    return stopped
