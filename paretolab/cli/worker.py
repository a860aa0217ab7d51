"""``paretolab worker``: one more worker on a study, on this or another machine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from paretolab.cli.app import OVERRIDES_HELP, Command, _check, _escape, app, err, user_errors


@app.command(cls=Command)
@user_errors
def worker(
    study: Annotated[Path, typer.Argument(help="the study file (the same one 'paretolab run' uses)")],
    overrides: Annotated[list[str] | None, typer.Argument(
        help=OVERRIDES_HELP + " (the same as the run's)", show_default=False)] = None,
    storage: Annotated[str | None, typer.Option(
        help="the shared storage URL, e.g. postgresql://user:pass@host/db (default: the file's)")] = None,
    device: Annotated[str | None, typer.Option(
        help="auto, cpu, cuda, cuda:1, ... (default: the file's)")] = None,
    heartbeat_interval: Annotated[int | None, typer.Option(help="seconds between heartbeats")] = None,
    grace_period: Annotated[int | None, typer.Option(
        help="seconds without heartbeat after which a trial counts as lost")] = None,
    max_retries: Annotated[int | None, typer.Option(help="re-runs of a lost trial's params")] = None,
    storage_patience: Annotated[float | None, typer.Option(
        help="seconds to keep retrying a lost storage before stopping")] = None,
    threads: Annotated[int | None, typer.Option(
        min=1, help="torch threads of this worker (default: the file's threads:, else torch's)")] = None,
) -> None:
    """Join a running study as one more worker (another machine, same storage) until its budget."""
    import os
    import socket

    from paretolab.devices import resolve_device
    from paretolab.interrupts import SignalsAsInterrupts, interrupt_signal
    from paretolab.logs import setup_worker_logging
    from paretolab.storage import redact
    from paretolab.worker import WorkerOptions, open_worker_study, run_worker

    checked = _check(study, overrides, storage=storage, device=device, threads=threads)
    spec = checked.spec
    from paretolab.threads import set_threads

    set_threads(spec.threads)
    if spec.storage_url.startswith("sqlite"):
        err.print("[yellow]note[/]: SQLite storage: only workers on this machine can share it; "
                  "use --storage postgresql://... for several machines")
    options = WorkerOptions.from_spec(spec, heartbeat_interval=heartbeat_interval,
                                      grace_period=grace_period, max_retries=max_retries,
                                      storage_patience=storage_patience)
    label = f"{socket.gethostname()}-{os.getpid()}"
    setup_worker_logging(spec.study_dir, label)
    try:
        with SignalsAsInterrupts():
            opened = open_worker_study(checked, options, label)  # the study must exist
            err.print(f"worker {_escape(label)} joined study {_escape(spec.name)} at "
                      f"{_escape(redact(spec.storage_url))}")
            stopped = run_worker(checked, options, device=resolve_device(spec.device), worker=label,
                                 opened=opened)
    except KeyboardInterrupt as exc:
        stopped = interrupt_signal(exc)
    if stopped:
        err.print("[yellow]interrupted[/]: this worker's trial is redone by the study.")
        raise typer.Exit(code=128 + stopped)
    err.print("budget reached: worker done.")
