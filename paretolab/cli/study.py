"""The commands that check and run a study: ``validate``, ``schema`` and ``run``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from paretolab.cli.app import OVERRIDES_HELP, Command, _check, _check_keeping_url, _escape, app, err, out, user_errors
from paretolab.errors import UserError


@app.command(cls=Command)
@user_errors
def validate(
    study: Annotated[Path, typer.Argument(help="the study file")],
    overrides: Annotated[list[str] | None, typer.Argument(help=OVERRIDES_HELP, show_default=False)] = None,
    no_run: Annotated[bool, typer.Option("--no-run", help="skip the trial run of the task (one "
                                         "batch and one evaluation on CPU) or trainer (a few steps on "
                                         "CPU, trial.dry_run set)")] = False,
) -> None:
    """Check a study file (schema, task, losses, objectives, balancers, sampler, storage, and
    that a study it resumes is unchanged), then run the task once on CPU to check what it
    really returns."""
    checked = _check(study, overrides)
    spec = checked.spec
    from paretolab.spec.resume import check_stored_study

    check_stored_study(spec)
    trial = trainer_run = None
    if not no_run and spec.task is not None:
        from paretolab.spec.trial_run import trial_run

        trial = trial_run(checked)
    elif not no_run:
        from paretolab.spec.trainer_run import trainer_trial_run

        trainer_run = trainer_trial_run(checked)
    what = f"task {spec.task.ref}" if spec.task is not None else "trainer " + spec.trainer.kind
    out.print(f"[green]ok[/] {_escape(str(study))}: study {_escape(spec.name)!s}, "
              f"{_escape(what)}, losses {_escape(', '.join(checked.balanced_names))}, "
              f"objectives {_escape(', '.join(f'{o.name} ({o.direction})' for o in spec.objectives))}")
    if trial is not None:
        out.print(f"trial run on cpu ({trial.seconds:.1f} s): every loss and metric returned, all finite")
    if trainer_run is not None:
        out.print(f"trial run of the trainer on cpu ({trainer_run.steps} steps, {trainer_run.seconds:.1f} s): "
                  "every objective and constraint metric given, all finite")
    elif no_run:
        out.print(f"the {'task' if spec.task is not None else 'trainer'} was not run (--no-run): what it "
                  "returns is checked at the first trial")


@app.command(cls=Command)
def schema() -> None:
    """Print the JSON Schema of study files (for editors)."""
    from paretolab.spec import json_schema

    sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")


@app.command(cls=Command)
@user_errors
def run(
    study: Annotated[Path, typer.Argument(help="the study file")],
    overrides: Annotated[list[str] | None, typer.Argument(help=OVERRIDES_HELP, show_default=False)] = None,
    workers: Annotated[str | None, typer.Option(help="worker processes (N or auto)")] = None,
    storage: Annotated[str | None, typer.Option(
        help="storage URL, e.g. postgresql://user:pass@host/db to share the study with "
        "'paretolab worker' on other machines (default: the file's, else SQLite in the study "
        "directory)")] = None,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="no progress bar")] = False,
    progress_every: Annotated[float, typer.Option(
        "--progress-every", metavar="<seconds>", min=0.001,
        help="without a terminal (piped, CI, Slurm): seconds between progress lines")] = 30.0,
    threads: Annotated[int | None, typer.Option(
        min=1, help="torch threads per worker (default: the file's threads:, else the cores split "
        "between the workers)")] = None,
    ray: Annotated[str | None, typer.Option(
        "--ray", metavar="<address>", help="run the workers as Ray tasks on this cluster: auto, local, "
        "host:port or ray://host:10001 (--workers: how many)")] = None,
) -> None:
    """Run (or resume) a study to its trial budget, then print the front.

    Exit code: 0 done; 2 a user error (bad file, unreachable storage, a task failing every
    trial); 130 Ctrl-C, 143 SIGTERM (run again to resume); 1 no trial completed, or the tables
    or the report could not be written.
    """
    checked, file_storage_url = _check_keeping_url(study, overrides, storage=storage, threads=threads)
    from paretolab.interrupts import SignalsAsInterrupts, interrupt_signal
    from paretolab.locate import spec_target
    from paretolab.logs import setup_worker_logging
    from paretolab.runner import run_study
    from paretolab.spec.resume import check_stored_study

    check_stored_study(checked.spec)  # a resume that changes what a trial means stops before it starts
    setup_worker_logging(checked.spec.study_dir, 0)
    target = spec_target(checked.spec, file_storage_url)
    if not no_progress:
        shown = _escape(target)
        err.print(f"[dim]the report can be regenerated at any time from storage, also while this runs: "
                  f"paretolab report {shown}; progress from anywhere: paretolab status {shown}[/]")
    try:
        with SignalsAsInterrupts():
            outcome = run_study(checked, workers=_engine(checked.spec, _workers(workers), ray),
                                progress=not no_progress, console=err, progress_every=progress_every,
                                target=target)
    except KeyboardInterrupt as exc:  # before any trial started
        err.print("[yellow]interrupted[/]: run the same command again to resume.")
        raise typer.Exit(code=128 + interrupt_signal(exc)) from None
    print_outcome(outcome)
    for problem in outcome.problems:
        err.print(f"[red]error[/]: {_escape(problem)}")
    if outcome.interrupted:
        err.print("[yellow]interrupted[/]: run the same command again to resume.")
        raise typer.Exit(code=128 + (outcome.stop_signal or 2))
    if outcome.problems:
        raise typer.Exit(code=1)
    if not outcome.counts["COMPLETE"]:
        err.print("[red]error[/]: no trial completed; the reasons are above and in trials.csv "
                  "(column failure)")
        raise typer.Exit(code=1)


def _workers(value: str | None) -> int | str | None:
    if value is None or value == "auto":
        return value
    if not value.isdigit() or int(value) < 1:
        raise UserError(f"--workers must be a positive number or 'auto', got {value!r}")
    return int(value)


def _engine(spec: Any, workers: int | str | None, ray: str | None) -> Any:
    """``--ray ADDRESS``: the study's workers on that Ray cluster; a file's Ray workers with
    ``--workers N``: N of them there; else ``--workers`` as given."""
    from paretolab.spec.engines import RayWorkers, ray_workers

    if ray is None and isinstance(spec.workers, RayWorkers) and workers is not None:
        ray = spec.workers.address
    if ray is None:
        return workers
    try:
        return ray_workers(spec.workers, ray, workers)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def print_outcome(outcome: Any) -> None:
    """The front as a table, the counts, and where the files are."""
    from paretolab.front_view import balancer_searched, counts_line, front_table

    meta, front = outcome.meta, outcome.front
    c = outcome.counts
    by_number = {r.number: r for r in outcome.records}
    index = {n: i for i, n in enumerate(front.complete)}
    order = sorted(front.numbers, key=lambda n: front.values[index[n], 0],
                   reverse=meta.directions[0] == "maximize")
    complete = [by_number[n] for n in front.complete if n in by_number]
    out.print(front_table(meta, [by_number[n] for n in order if n in by_number],
                          title=f"Pareto front of {meta.name} {counts_line(meta, complete, front.numbers)}",
                          searched=balancer_searched(outcome.records)))
    ref = ", ".join(f"{r:.4g}" for r in front.ref_point)
    from paretolab.records.tally import interrupted_text

    out.print(f"trials: {c['COMPLETE']} complete, {c['FAIL']} failed, {c['PRUNED']} pruned"
              f"{interrupted_text(c)}; "
              f"hypervolume {front.hypervolume:.6g} (reference point {ref})")
    if c["FAIL"]:
        for number, reason in outcome.failures[-5:]:
            out.print(f"  trial {number} failed: {_escape(reason)}")
    if not front.feasible.any() and c["COMPLETE"]:
        out.print("[yellow]no trial meets every constraint[/]: the front shows the least-violating trials")
    from paretolab.storage import redact

    out.print(f"study storage: {_escape(redact(outcome.storage_url))}")
    if outcome.tables:
        out.print(f"tables: {_escape(str(outcome.tables[0]))}  {_escape(str(outcome.tables[1]))}")
    html = outcome.study_dir / "report.html"
    if html.is_file():
        out.print(f"report: {_escape(str(html))}")
    if front.numbers:
        from paretolab.locate import storage_target

        target = storage_target(outcome.storage_url, meta.name, outcome.study_dir)
        out.print(f"next: paretolab pick {_escape(target)}   "
                  "(knee point; --method asf --prefer ... for a preference)")
