"""``paretolab submit``: the study's workers as a Slurm job array (:mod:`paretolab.engines.slurm`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from paretolab.cli.app import Command, _check, _escape, app, err, out, user_errors
from paretolab.errors import UserError


@app.command(cls=Command)
@user_errors
def submit(
    study: Annotated[Path, typer.Argument(help="the study file")],
    slurm: Annotated[str, typer.Option(
        "--slurm", metavar="<key=value,...>", help="sbatch settings by submitit's names, e.g. "
        "partition=gpu,gpus_per_task=1,time=120 (minutes; default: budget.timeout, else 1440)")] = "",
    workers: Annotated[int, typer.Option(min=1, help="jobs in the array: one worker each")] = 1,
    storage: Annotated[str | None, typer.Option(
        help="a storage every node reaches, e.g. postgresql+psycopg://user:pass@host/db "
        "(default: the file's)")] = None,
    cluster: Annotated[str, typer.Option(
        help="slurm, or local: the same jobs as processes here, waited for (to try a study file)")] = "slurm",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the sbatch script; submit nothing")] = False,
) -> None:
    """Submit the study's workers as a Slurm job array (through submitit); each job works on the
    study until its budget. Progress: paretolab status; results: paretolab report."""
    from paretolab.engines.slurm import check_storage, parse_slurm, sbatch_script, submit_workers
    from paretolab.locate import spec_target

    if cluster not in ("slurm", "local"):
        raise UserError(f"--cluster is slurm or local, got {cluster!r}")
    checked = _check(study, storage=storage)
    params = parse_slurm(slurm)
    if dry_run:
        if cluster == "slurm":
            check_storage(checked)
        typer.echo(sbatch_script(checked, params, workers))
        return
    from paretolab.logs import setup_worker_logging

    setup_worker_logging(checked.spec.study_dir, "submit")  # Optuna's lines to the folder's log
    done = submit_workers(checked, params, workers, cluster=cluster)
    target = _escape(spec_target(checked.spec))
    if cluster == "local":
        err.print(f"started {workers} local jobs (submitit's local executor); waiting for them")
        codes = [job.result().code for job in done.jobs]
        done.jobs.clear()  # submitit's local jobs, dropped now: at exit their cleanup prints errors
        out.print(f"jobs ended with codes {codes}; results: paretolab report {target}")
        if any(codes):
            raise typer.Exit(code=max(codes))
        return
    out.print(f"submitted {workers} workers as Slurm job array {_escape(done.array_id)} (job logs: "
              f"{_escape(str(done.folder))})\nprogress: paretolab status {target}   results: "
              f"paretolab report {target}")
