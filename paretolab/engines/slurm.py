"""The study's workers as a Slurm job array, submitted through submitit (``paretolab submit``).

``submit_workers`` creates the study (so that every job joins the same one), then submits N
jobs as one array; each job runs the worker loop of :mod:`paretolab.worker` (the one
``paretolab worker`` runs) on the study's storage until the budget, labelled
``slurm-<jobid>_<index>`` in the trial records (``paretolab status`` shows it beside the node).
A job that Slurm stops (``scancel``, its time limit: SIGTERM) marks its trial interrupted; a
job lost with its node stops beating and its trial is redone by the others. The jobs outlive
the command: progress is ``paretolab status``, results ``paretolab report``.

``--slurm key=value,...`` are sbatch settings by submitit's names (``partition``,
``gpus_per_task``, ``cpus_per_task``, ``mem``, ``time`` in minutes, ``account``, ``qos``,
``constraint``, ...). ``cluster="local"`` runs the same jobs as local processes (submitit's
local executor): a study file can be tried on one machine before it goes to the cluster.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paretolab.engines import require
from paretolab.engines.errors import WorkerEnd
from paretolab.engines.remote import run_remote_worker
from paretolab.errors import StorageError, UserError
from paretolab.spec.checks import CheckedStudy
from paretolab.spec.engines import ACROSS_NODES_HINT, storage_across_nodes
from paretolab.worker import WorkerOptions

DEFAULT_TIME_MIN = 24 * 60  # sbatch --time when neither --slurm time=... nor budget.timeout says


def parse_slurm(text: str) -> dict[str, Any]:
    """``partition=gpu,gpus_per_task=1`` as submitit's SlurmExecutor parameters (numbers as int)."""
    params: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise UserError(f"--slurm takes key=value pairs separated by commas, got {item!r}",
                            hint="e.g. --slurm partition=gpu,gpus_per_task=1,time=120")
        value = value.strip()
        params[key.strip()] = int(value) if value.isdigit() else value
    return params


def slurm_job(spec_data: dict[str, Any], source: str | None, cwd: str, deadline: float | None,
              options: dict[str, Any]) -> WorkerEnd:
    """The body of one job of the array: one worker until the budget (SIGTERM stops it)."""
    import submitit

    from paretolab.interrupts import Terminated

    try:
        label = f"slurm-{submitit.JobEnvironment().job_id}"
    except RuntimeError:  # not started by submitit (a test calling it directly)
        label = f"slurm-{os.getpid()}"

    def on_usr2(signum: int, frame: Any) -> None:
        raise Terminated()

    # submitit's warning before the time limit (sbatch --signal=USR2@90) would fail the running
    # trial (it raises an error for a job it cannot requeue): it stops the worker as SIGTERM does
    previous = signal.signal(signal.SIGUSR2, on_usr2)
    try:
        threads = spec_data.get("threads") or _allocated_cores()  # the file's threads:, else the job's cores
        return run_remote_worker(spec_data, source, label, cwd, deadline, options, threads, signals=True)
    finally:
        signal.signal(signal.SIGUSR2, previous)


@dataclass
class Submitted:
    """What ``submit_workers`` submitted: the jobs (submitit Job objects) and their folder."""

    jobs: list[Any]
    folder: Path

    @property
    def array_id(self) -> str:
        return str(self.jobs[0].job_id).split("_", 1)[0] if self.jobs else "?"


def _sbatch_params(checked: CheckedStudy, params: dict[str, Any], n_workers: int) -> dict[str, Any]:
    spec = checked.spec
    timeout = spec.budget.timeout
    time_min = math.ceil(timeout / 60) + 10 if timeout else DEFAULT_TIME_MIN
    return {"job_name": f"paretolab-{spec.slug}", "time": time_min, "array_parallelism": n_workers, **params}


def sbatch_script(checked: CheckedStudy, params: dict[str, Any], n_workers: int) -> str:
    """The sbatch script of the job array that :func:`submit_workers` would submit (submitit's
    own text for it, with the command it runs; needs no Slurm on this machine)."""
    from paretolab._compat.submitit_internals import sbatch_script as script

    sbatch = _sbatch_params(checked, check_params(params), n_workers)
    try:
        return script(_folder(checked), n_workers, sbatch)
    except (TypeError, ValueError, AssertionError) as exc:
        raise UserError(f"--slurm: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None


def check_storage(checked: CheckedStudy) -> None:
    """Slurm jobs land on any node: a storage only this machine reaches (SQLite) is refused."""
    problem = storage_across_nodes(checked.spec.storage_url, "Slurm jobs run on any node of the cluster")
    if problem:
        raise StorageError(problem, where="storage", hint=ACROSS_NODES_HINT)


def check_params(params: dict[str, Any]) -> dict[str, Any]:
    """``params``, once every key is an sbatch setting submitit knows (else one line naming it)."""
    require("submitit", "slurm", "paretolab submit --slurm")
    from paretolab._compat.submitit_internals import sbatch_settings
    from paretolab.spec.checks import did_you_mean

    valid = sbatch_settings()
    for key in params:
        if key not in valid:
            raise UserError(f"--slurm: unknown setting {key!r}", hint=did_you_mean(key, valid)
                            or "e.g. partition, gpus_per_task, cpus_per_task, mem, time, account, qos")
    return params


def submit_workers(checked: CheckedStudy, params: dict[str, Any], n_workers: int, *,
                   cluster: str = "slurm", options: WorkerOptions | None = None) -> Submitted:
    """Create the study, then submit ``n_workers`` jobs that work on it until its budget."""
    from paretolab.worker import open_worker_study

    submitit = require("submitit", "slurm", "paretolab submit --slurm")
    spec = checked.spec
    if cluster == "slurm":
        check_storage(checked)
        if shutil.which("sbatch") is None:
            raise UserError("sbatch is not on the PATH: paretolab submit --slurm runs where jobs are "
                            "submitted (a Slurm login node)", hint="--cluster local runs the same jobs "
                            "as processes on this machine")
    options = options or WorkerOptions.from_spec(spec)
    spec.study_dir.mkdir(parents=True, exist_ok=True)
    storage, _ = open_worker_study(checked, options, "submit", create=True)
    del storage  # created; each job opens its own
    folder = _folder(checked)
    executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
    sbatch = _sbatch_params(checked, check_params(params), n_workers)
    _update(executor.update_parameters, {f"slurm_{k}": v for k, v in sbatch.items()})
    if cluster == "local":
        executor.update_parameters(timeout_min=sbatch["time"])
    deadline = time.time() + spec.budget.timeout if spec.budget.timeout else None
    data = spec.model_dump(mode="json")
    source = os.path.abspath(spec.source) if spec.source else None
    args = (data, source, os.getcwd(), deadline, dict(options.__dict__))
    jobs = executor.map_array(slurm_job, *([a] * n_workers for a in args))
    return Submitted(list(jobs), folder)


def _allocated_cores() -> int:
    """The cores Slurm gave this job (its CPU affinity)."""
    from paretolab.devices import usable_cores

    return usable_cores()


def _folder(checked: CheckedStudy) -> Path:
    return (checked.spec.study_dir / "slurm").resolve()


def _update(update: Any, params: dict[str, Any]) -> None:
    """submitit's ``update_parameters``; an unknown or mistyped setting is one line naming it."""
    try:
        update(**params)
    except (NameError, TypeError, ValueError, AssertionError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"--slurm: {first}", hint="the keys are sbatch settings by submitit's names: "
                        "partition, gpus_per_task, cpus_per_task, mem, time (minutes), account, qos, "
                        "constraint, ...") from None
