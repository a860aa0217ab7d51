"""The local worker processes of a parallel run: spawn, watch, respawn, stop.

Worker 0 runs in the ``run`` process itself (one interpreter start saved: torch and the task
are imported once more per process, and trials begin while the others still start); workers
1..N-1 are spawned here on the same storage. A worker killed by a signal (OOM killer,
``kill -9``) is replaced while the budget is not reached; Ctrl-C or SIGTERM stops them all,
each marking its trial interrupted. A spawned worker also stops by itself when the ``run``
process is gone (``worker_process.worker_main`` watches it).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from paretolab.devices import WorkerSlot, plan_workers, resolve_device
from paretolab.interrupts import HeldInterrupts, interrupt_signal
from paretolab.progress import StudyProgress
from paretolab.records import count_done
from paretolab.spec.checks import CheckedStudy
from paretolab.storage import storage_failure
from paretolab.worker import WorkerOptions, run_worker
from paretolab.worker_process import worker_main

log = logging.getLogger(__name__)


@contextmanager
def sigint_blocked_in_children() -> Iterator[None]:
    """Processes started inside the block begin with SIGINT blocked (a signal mask survives
    fork and exec; a Python handler does not). A spawned worker spends its first seconds
    importing the command line, torch and the task before :func:`worker_process.worker_main` can
    handle Ctrl-C; a Ctrl-C then printed a KeyboardInterrupt traceback from the child. Now
    it stays pending until ``worker_main`` unblocks it inside its handling; ``run`` stops a
    worker still importing with SIGTERM (which ends it at once, silently).

    The mask is per thread: this one's, while it starts the process. Python's resource tracker
    is started first, as its start unblocks both signals in the calling thread afterwards."""
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class WorkerPool:
    """The spawned worker processes of a local parallel run (workers 1..N-1; 0 is this process).

    ``watch`` replaces a worker killed by a signal while the budget is not reached, at most
    ``n_workers * max(1, max_retries)`` times in one run, and refreshes the progress view and
    the report about once a second.
    """

    def __init__(self, checked: CheckedStudy, slots: list[WorkerSlot], deadline: float | None,
                 options: WorkerOptions, view: StudyProgress, refresh: Callable[[], None] | None = None):
        self.spec = checked.spec
        self.ctx = mp.get_context("spawn")  # a clean interpreter: no inherited CUDA or thread state
        self.data = self.spec.model_dump(mode="json")
        self.slots, self.deadline, self.view, self.refresh = slots, deadline, view, refresh
        self.opts = dict(options.__dict__)
        self.respawns_left = (len(slots) + 1) * max(1, options.max_retries)
        self.procs: dict[int, Any] = {}
        self.stopping = threading.Event()

    def start(self, slot: WorkerSlot) -> None:
        """Spawn the worker of ``slot`` with its environment."""
        proc = self.ctx.Process(target=worker_main, name=f"paretolab-worker-{slot.index}",
                                args=(self.data, self.spec.source, slot.index, slot.device, slot.threads,
                                      self.deadline, self.opts))
        saved = {k: os.environ.get(k) for k in slot.env}
        os.environ.update(slot.env)  # the spawned interpreter starts with this environment
        try:
            with HeldInterrupts(), sigint_blocked_in_children():
                proc.start()
                self.procs[slot.index] = proc
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

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
                        and p.exitcode not in (-signal.SIGINT, -signal.SIGTERM) and self.respawns_left > 0
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
                    if not storage_failure(exc):
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

    def stop(self) -> None:
        """Give interrupted workers time to record their trials; then SIGTERM the rest (a worker
        still importing just ends; a working one marks its trial interrupted); then kill."""
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a 2nd Ctrl-C must not cut this
        try:
            end = time.time() + 2
            for p in self.procs.values():
                p.join(timeout=max(0.0, end - time.time()))
            for p in self.procs.values():
                if p.is_alive() and p.pid:
                    try:
                        os.kill(p.pid, signal.SIGTERM)
                    except ProcessLookupError:
                        pass
            for p in self.procs.values():
                p.join(timeout=30)
            for p in self.procs.values():
                if p.is_alive():
                    p.kill()
                    p.join(timeout=5)
        finally:
            signal.signal(signal.SIGINT, previous)


def run_pool(checked: CheckedStudy, opened: tuple[Any, Any], n_workers: int, deadline: float | None,
             view: StudyProgress, options: WorkerOptions, refresh: Callable[[], None] | None = None,
             ) -> int | None:
    """Worker 0 in this process on ``opened`` (storage, study), workers 1..N-1 spawned; Ctrl-C
    or SIGTERM stops them all. Returns the signal that stopped the run, None at the budget."""
    import torch

    spec = checked.spec
    slots = plan_workers(n_workers, spec.device, getattr(spec, "threads", None))
    pool = WorkerPool(checked, slots[1:], deadline, options, view, refresh)
    stopped: int | None = None
    threads = torch.get_num_threads()
    try:
        for slot in slots[1:]:
            pool.start(slot)
        watcher = pool.watch_in_background()
        if not slots[0].device.startswith("cuda") or getattr(spec, "threads", None):
            torch.set_num_threads(slots[0].threads)
        try:
            stopped = run_worker(checked, options, device=resolve_device(spec.device), worker=0,
                                 deadline=deadline, opened=opened)
        finally:
            torch.set_num_threads(threads)
            pool.stopping.set()
            watcher.join()
        if stopped is None:
            pool.stopping.clear()
            pool.watch(until_done=True)  # the others finish their last trials
    except KeyboardInterrupt as exc:
        stopped = interrupt_signal(exc)
    finally:
        if stopped is not None or pool.alive():
            # a terminal sends SIGINT to every worker too; a lone `kill` of the run does not
            pool.stop()
    return stopped
