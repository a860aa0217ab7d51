"""submitit internals paretolab needs (no public API for them): see :mod:`paretolab._compat`.

``paretolab submit --dry-run`` shows the sbatch script of the job array without a Slurm on the
machine: submitit writes that text only inside a submission, from a private function.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any


def sbatch_settings() -> list[str]:
    """The sbatch settings submitit's SlurmExecutor takes, by its names (``partition``, ...)."""
    import submitit

    return sorted(submitit.SlurmExecutor._valid_parameters())


def sbatch_script(folder: Path, n_jobs: int, settings: dict[str, Any]) -> str:
    """The sbatch script submitit submits for an array of ``n_jobs`` jobs kept in ``folder``."""
    from submitit.slurm import slurm

    command = " ".join([shlex.quote(sys.executable), "-u -m submitit.core._submit", shlex.quote(str(folder))])
    return str(slurm._make_sbatch_string(command=command, folder=folder, map_count=n_jobs, **settings))
