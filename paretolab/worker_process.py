"""A spawned worker process: its entry point (:func:`worker_main`) and the thread that ends it when
the run that started it is gone."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from typing import Any

from paretolab.errors import StudyStopped, UserError
from paretolab.interrupts import SignalsAsInterrupts, interrupt_signal
from paretolab.storage import redact
from paretolab.worker import WorkerOptions, open_worker_study, run_worker

log = logging.getLogger(__name__)


ORPHAN_EXIT_S = 4.0  # an orphaned worker that has not stopped this long after SIGTERM exits at once


def _watch_parent() -> None:
    """A spawned worker ends (as on SIGTERM) as soon as the process that started it is gone,
    even killed with SIGKILL, instead of running on to the budget unsupervised."""
    import multiprocessing
    from multiprocessing.connection import wait

    parent = multiprocessing.parent_process()
    if parent is None or parent.sentinel is None:
        return

    ppid = os.getppid()

    def target() -> None:  # the sentinel closes when the parent dies; its pid, once orphaned, changes
        while not wait([parent.sentinel], timeout=1.0) and os.getppid() == ppid:
            pass
        log.warning("the run that started this worker is gone; stopping")
        os.kill(os.getpid(), signal.SIGTERM)
        # the main thread marks its trial interrupted and exits in well under a second; one
        # stuck in a C call (a storage call waiting on a lock) cannot handle the signal: end it
        # anyway, its trial is then failed as stale and redone like a killed worker's
        time.sleep(ORPHAN_EXIT_S)
        try:  # no logging: the stuck main thread may hold the log handler's lock
            os.write(2, f"worker {os.getpid()}: not stopped {ORPHAN_EXIT_S:g} s after its run ended; "
                        "exiting\n".encode())
        finally:
            os._exit(128 + signal.SIGTERM)

    threading.Thread(target=target, name="paretolab-parent-watch", daemon=True).start()


def worker_main(spec_data: dict[str, Any], source: str | None, index: int, device: str,
                threads: int, deadline: float | None, options: dict[str, Any]) -> None:
    """Entry point of a spawned worker process (a clean interpreter, no inherited CUDA state).

    From here on an interrupt (Ctrl-C, SIGTERM, the parent gone) ends it quietly. Exit code: 0 at the budget,
    the UserError's code, or 128 + the signal that stopped it.
    """
    from paretolab.logs import setup_worker_logging
    from paretolab.spec import StudySpec
    from paretolab.spec.checks import check_study

    code = 0
    with SignalsAsInterrupts():
        try:
            # started with SIGINT blocked (pool.sigint_blocked_in_children): a Ctrl-C while this
            # process imported is raised here, inside the handling, and ends it quietly
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
            _watch_parent()
            import torch

            torch.set_num_threads(max(1, threads))
            spec = StudySpec.model_validate({**spec_data, "source": source})
            checked = check_study(spec, check_storage_reachable=False)
            setup_worker_logging(spec.study_dir, index)
            from paretolab.patience import with_patience

            opts = WorkerOptions(**options)  # the run reached the storage: a failure now is an outage
            opened = with_patience(lambda: open_worker_study(checked, opts, index), opts.storage_patience)
            stopped = run_worker(checked, opts, device=device, worker=index, deadline=deadline,
                                 opened=opened)
            code = 128 + stopped if stopped else 0
        except KeyboardInterrupt as exc:  # before the loop started: nothing to mark
            code = 128 + interrupt_signal(exc)
        except StudyStopped as exc:  # every worker sees it; the run reports it once
            log.error("worker %s stopped: %s", index, exc.render())
            code = exc.exit_code
        except UserError as exc:
            log.error("worker %s stopped: %s", index, exc.render())
            sys.stderr.write(f"error: worker {index}: {redact(exc.render())}\n")
            code = exc.exit_code
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # ending anyway: a late Ctrl-C prints no traceback
    sys.exit(code)
