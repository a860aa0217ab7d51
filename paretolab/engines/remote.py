"""One worker started by a cluster engine (a Ray task, a Slurm job): the study rebuilt from its
file's data, then the same loop as ``paretolab worker`` until the budget.

It runs in the folder the study was started from (``cwd``, on a file system every node shares,
as the study file's relative paths need), logs to ``<study dir>/worker-<label>.log`` and returns
how it ended as a :class:`~paretolab.engines.errors.WorkerEnd` instead of raising, so the
command that started it can report a user error once, as its own.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from paretolab.engines.errors import WorkerEnd
from paretolab.errors import UserError

log = logging.getLogger(__name__)


def run_remote_worker(spec_data: dict[str, Any], source: str | None, label: str, cwd: str | None,
                      deadline: float | None, options: dict[str, Any], threads: int | None = None,
                      *, signals: bool = False) -> WorkerEnd:
    """Join the study and work on it until its budget. ``signals``: SIGTERM stops it as Ctrl-C
    does (a process of its own, as a Slurm job is); ``threads``: torch's CPU threads."""
    from paretolab.interrupts import SignalsAsInterrupts, interrupt_signal

    if cwd and os.path.isdir(cwd):
        os.chdir(cwd)
    try:
        if not signals:
            return _work(spec_data, source, label, deadline, options, threads)
        with SignalsAsInterrupts():
            return _work(spec_data, source, label, deadline, options, threads)
    except KeyboardInterrupt as exc:  # before the loop started: nothing to mark
        return WorkerEnd(label, 128 + interrupt_signal(exc))
    except UserError as exc:
        log.error("worker %s stopped: %s", label, exc.render())
        return WorkerEnd.from_error(label, exc)


def _work(spec_data: dict[str, Any], source: str | None, label: str, deadline: float | None,
          options: dict[str, Any], threads: int | None) -> WorkerEnd:
    import torch

    from paretolab.devices import resolve_device
    from paretolab.logs import setup_worker_logging
    from paretolab.spec import StudySpec
    from paretolab.spec.checks import check_study
    from paretolab.worker import WorkerOptions, run_worker

    if threads:
        torch.set_num_threads(max(1, threads))
    spec = StudySpec.model_validate({**spec_data, "source": source})
    checked = check_study(spec, check_storage_reachable=False)
    setup_worker_logging(spec.study_dir, label)
    log.info("worker %s on %s (CUDA_VISIBLE_DEVICES=%s)", label, resolve_device(spec.device),
             os.environ.get("CUDA_VISIBLE_DEVICES", ""))
    stopped = run_worker(checked, WorkerOptions(**options), device=resolve_device(spec.device),
                         worker=label, deadline=deadline)
    log.info("worker %s %s", label, f"stopped by signal {stopped}" if stopped else "done: budget reached")
    return WorkerEnd(label, 128 + stopped if stopped else 0)
